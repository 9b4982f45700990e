#pragma once

#include <string>

namespace bayesnn {

/// How a Bayesian module evaluates: a fresh posterior sample per forward, one posterior sample
/// held across forwards, or the posterior mean.
///
/// The mode is independent of `train()`/`eval()`: Monte Carlo prediction samples in eval mode.
enum class Mode {
  kSample,  ///< Each forward draws new noise (training, MC prediction).
  kMean,    ///< Deterministic forward with the posterior-mean parameters.
  /// Each forward uses one draw of the parameters, taken when the mode is set (setting it again
  /// takes a new draw): one posterior sample of the whole network evaluated on many input
  /// batches, whatever the layer's training estimator. No gradient reaches the variational
  /// parameters. `predict` uses it; a custom `BayesModule` that does not override `set_mode`
  /// samples per forward instead, which gives the same per-example predictive.
  kFrozen,
};

/// "sample", "mean" or "frozen".
std::string to_string(Mode mode);

}  // namespace bayesnn
