#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "bayesnn/bayes_layer.h"
#include "bayesnn/estimator.h"
#include "bayesnn/prior.h"

namespace bayesnn {

/// Options of `BayesLinear`, named as `torch::nn::LinearOptions`.
///
/// Example:
/// ```
/// auto options = bayesnn::BayesLinearOptions(784, 800)
///                    .prior(bayesnn::Prior::hierarchical(1.0))
///                    .estimator(bayesnn::Estimator::kLocalReparameterization);
/// ```
struct BayesLinearOptions {
  /// The required options; the others keep their defaults.
  BayesLinearOptions(int64_t in_features, int64_t out_features);
  /// Size of each input sample.
  TORCH_ARG(int64_t, in_features);
  /// Size of each output sample.
  TORCH_ARG(int64_t, out_features);
  /// Whether the layer has a (Bayesian) bias.
  TORCH_ARG(bool, bias) = true;
  /// The prior of the weight and, separately, of the bias (each tensor has its own scale).
  TORCH_ARG(Prior, prior) = Prior::fixed(0.1);
  /// The Monte Carlo estimator of the output in `Mode::kSample`.
  TORCH_ARG(Estimator, estimator) = Estimator::kReparameterization;
  /// Initial value of every `*_log_sigma` element (log space, as the tensor).
  TORCH_ARG(double, log_sigma_init) = -5.0;
};

/// A fully connected layer with a mean-field Gaussian posterior over its weight and bias:
/// q(w) = N(weight_mean, exp(weight_log_sigma)²), y = x Wᵀ + b. Registers `weight_mean`,
/// `weight_log_sigma` [out_features, in_features], `bias_mean`, `bias_log_sigma`
/// [out_features] and the priors `weight_prior`, `bias_prior` (see `BayesLayer`).
///
/// Example:
/// ```
/// bayesnn::BayesLinear fc(bayesnn::BayesLinearOptions(784, 800));
/// auto y = fc(torch::rand({32, 784}));  // [32, 800], a posterior sample
/// auto kl = fc->kl();                   // KL(q || p), closed form
/// ```
class BayesLinearImpl : public BayesLayer<BayesLinearImpl> {
 public:
  /// A layer from `in_features` to `out_features` with the default options.
  BayesLinearImpl(int64_t in_features, int64_t out_features)
      : BayesLinearImpl(BayesLinearOptions(in_features, out_features)) {}
  /// A layer with `options_`; calls `reset()`.
  explicit BayesLinearImpl(const BayesLinearOptions& options_);

  /// Validates the options and registers the weight and bias variational tensors.
  void reset() override;
  /// Writes the initial values: means as torch::nn::Linear, log-sigmas `log_sigma_init`.
  void reset_parameters();
  /// Prints "bayesnn::BayesLinear(in_features=..., out_features=..., bias=..., prior=...,
  /// estimator=...)".
  void pretty_print(std::ostream& stream) const override;
  /// Exports the layer as one `torch.linear` with its variational weight and bias.
  void export_torchscript(ExportContext& ctx) const override;
  /// The compression hook: this layer with `in` input and `out` output features.
  torch::nn::AnyModule with_units(int64_t in, int64_t out) const override;

  /// A posterior sample of the layer output (`Mode::kSample`), the output with the held draw
  /// (`Mode::kFrozen`) or the posterior-mean output (`Mode::kMean`).
  torch::Tensor forward(const torch::Tensor& input);

  /// The options with which this module was constructed.
  BayesLinearOptions options;
};
TORCH_MODULE(BayesLinear);

}  // namespace bayesnn
