// The networks the benchmark times: the article's 2x800 MLP and max-pool CNN, deterministic
// (plain torch::nn) or Bayesian (bayesnn layers), as bayesnn-experiment builds them
// (experiments/networks.h), with the FLOPs of their matmuls and convolutions counted per example.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/modules/container/sequential.h>

#include "bayesnn/estimator.h"

namespace bench {

/// Which architecture.
enum class Arch { kMlp, kCnn };

/// "mlp" or "cnn".
std::string to_string(Arch arch);

/// A network variant: deterministic (no estimator) or Bayesian with an estimator and a prior.
struct Variant {
  Arch arch = Arch::kMlp;
  std::optional<bayesnn::Estimator> estimator;  ///< unset: the deterministic network
  std::string prior = "fixed";  ///< a --prior of bayesnn-experiment at its defaults (priors.cpp)

  bool bayesian() const { return estimator.has_value(); }
  /// "mlp/det", "mlp/local/fixed", "cnn/flipout/hierarchical", ...
  std::string name() const;
};

/// The deterministic network of `arch` first, then the Bayesian one for each estimator x prior.
std::vector<Variant> variants_of(Arch arch);

/// The variant that `Variant::name()` names; throws on a malformed name.
Variant parse_variant(const std::string& name);

/// Builds the network of `variant` with bayesnn-experiment's `build_network` (28x28 single-channel
/// inputs, 10 classes, tanh, the CNN's pooling before its activation, the library's initial
/// log-sigma, the prior's settings at bayesnn-experiment's defaults).
torch::nn::Sequential make_network(const Variant& variant);

/// FLOPs (multiply-adds count 2) of the matmuls and convolutions of one forward pass of one
/// example, as the variant's estimator runs them: local reparameterization and Flipout run two
/// per layer (mean and variance, or mean and perturbation), the others one.
double forward_flops_per_example(const Variant& variant);

/// FLOPs of one training step per example: forward, plus the gradient of each weight
/// (one more product of the same size), plus the gradient of each layer's input except the
/// first layer's (the data need no gradient).
double train_flops_per_example(const Variant& variant);

/// Bytes one training step must move over the parameters, whatever the batch, the memory side of
/// the step's floor: per parameter of the deterministic network, Adam's read of the parameter,
/// its gradient and two moments and its write of three (28 B) and the gradient's write (4 B);
/// per weight of a Bayesian one, the draw's pass (reading mean and log σ, writing the term: 12 B),
/// its backward (reading the incoming gradient, the term, the mean and σ, writing two gradients:
/// 24 B), the incoming gradient's write (4 B) and Adam over two parameters (56 B). A group
/// prior's scales are per unit: they add nothing to within a percent.
double parameter_bytes_per_step(const Variant& variant);

}  // namespace bench
