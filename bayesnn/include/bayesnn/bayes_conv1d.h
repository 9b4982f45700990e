#pragma once

#include <torch/arg.h>
#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "bayesnn/bayes_layer.h"
#include "bayesnn/estimator.h"
#include "bayesnn/prior.h"

namespace bayesnn {

/// Options of `BayesConv1d`, named as `torch::nn::Conv1dOptions` (zero padding only).
///
/// Example:
/// ```
/// auto options = bayesnn::BayesConv1dOptions(2, 16, 5).stride(2).padding(2)
///                    .estimator(bayesnn::Estimator::kFlipout);
/// ```
struct BayesConv1dOptions {
  /// The required options; the others keep their defaults.
  BayesConv1dOptions(int64_t in_channels, int64_t out_channels,
                     torch::ExpandingArray<1> kernel_size);
  /// Number of channels of the input.
  TORCH_ARG(int64_t, in_channels);
  /// Number of channels the convolution produces.
  TORCH_ARG(int64_t, out_channels);
  /// Size of the convolving kernel.
  TORCH_ARG(torch::ExpandingArray<1>, kernel_size);
  /// Stride of the convolution.
  TORCH_ARG(torch::ExpandingArray<1>, stride) = 1;
  /// Implicit zero padding on both sides.
  TORCH_ARG(torch::ExpandingArray<1>, padding) = 0;
  /// Spacing between kernel elements.
  TORCH_ARG(torch::ExpandingArray<1>, dilation) = 1;
  /// Number of blocked connections from input to output channels.
  TORCH_ARG(int64_t, groups) = 1;
  /// Whether the layer has a (Bayesian) bias.
  TORCH_ARG(bool, bias) = true;
  /// The prior of the weight and, separately, of the bias.
  TORCH_ARG(Prior, prior) = Prior::fixed(0.1);
  /// The Monte Carlo estimator of the output in `Mode::kSample`.
  TORCH_ARG(Estimator, estimator) = Estimator::kReparameterization;
  /// Initial value of every `*_log_sigma` element (log space, as the tensor).
  TORCH_ARG(double, log_sigma_init) = -5.0;
};

/// A 1-D convolution with a mean-field Gaussian posterior over its kernel and bias: registers
/// `weight_mean`, `weight_log_sigma` [out_channels, in_channels / groups, kL], `bias_mean`,
/// `bias_log_sigma` [out_channels] and the priors `weight_prior`, `bias_prior` (see
/// `BayesLayer`).
///
/// Example:
/// ```
/// bayesnn::BayesConv1d conv(bayesnn::BayesConv1dOptions(2, 16, 5));
/// auto y = conv(torch::rand({8, 2, 100}));  // [8, 16, 96]
/// ```
class BayesConv1dImpl : public BayesLayer<BayesConv1dImpl> {
 public:
  /// A convolution from `in_channels` to `out_channels` with `kernel_size` and the default options.
  BayesConv1dImpl(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<1> kernel_size)
      : BayesConv1dImpl(BayesConv1dOptions(in_channels, out_channels, kernel_size)) {}
  /// A convolution with `options_`; calls `reset()`.
  explicit BayesConv1dImpl(const BayesConv1dOptions& options_);

  /// Validates the options and registers the kernel and bias variational tensors.
  void reset() override;
  /// Writes the initial values: means as torch::nn::Conv1d, log-sigmas `log_sigma_init`.
  void reset_parameters();
  /// Prints "bayesnn::BayesConv1d(in, out, kernel_size=..., stride=..., padding=..., bias=...,
  /// prior=..., estimator=...)", with `dilation` and `groups` where not 1.
  void pretty_print(std::ostream& stream) const override;
  /// Exports the layer as one `torch.conv1d` with its variational weight and bias.
  void export_torchscript(ExportContext& ctx) const override;
  /// The compression hook: this layer with `in` input and `out` output channels; throws where
  /// `groups` is not 1 and a channel would go (`compress` cannot split a grouped convolution).
  torch::nn::AnyModule with_units(int64_t in, int64_t out) const override;

  /// A posterior sample of the layer output (`Mode::kSample`), the output with the held draw
  /// (`Mode::kFrozen`) or the posterior-mean output (`Mode::kMean`); input [N, in_channels, L]
  /// (or unbatched [in_channels, L]).
  torch::Tensor forward(const torch::Tensor& input);

  /// The options with which this module was constructed.
  BayesConv1dOptions options;
};
TORCH_MODULE(BayesConv1d);

}  // namespace bayesnn
