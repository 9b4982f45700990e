#pragma once

#include <string>

namespace bayesnn {

/// How a Bayesian module evaluates: a fresh posterior sample per forward, or the posterior mean.
///
/// The mode is independent of `train()`/`eval()`: Monte Carlo prediction samples in eval mode.
enum class Mode {
  kSample,  ///< Each forward draws new noise (training, MC prediction).
  kMean,    ///< Deterministic forward with the posterior-mean parameters.
};

/// "sample" or "mean".
std::string to_string(Mode mode);

}  // namespace bayesnn
