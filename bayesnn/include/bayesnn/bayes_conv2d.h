#pragma once

#include <torch/arg.h>
#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "bayesnn/bayes_layer.h"
#include "bayesnn/estimator.h"
#include "bayesnn/prior.h"

namespace bayesnn {

/// Options of `BayesConv2d`, named as `torch::nn::Conv2dOptions` (zero padding only).
///
/// Example:
/// ```
/// auto options = bayesnn::BayesConv2dOptions(1, 32, 5).stride(1).padding(2)
///                    .estimator(bayesnn::Estimator::kFlipout);
/// ```
struct BayesConv2dOptions {
  /// The required options; the others keep their defaults.
  BayesConv2dOptions(int64_t in_channels, int64_t out_channels,
                     torch::ExpandingArray<2> kernel_size);
  /// Number of channels of the input.
  TORCH_ARG(int64_t, in_channels);
  /// Number of channels the convolution produces.
  TORCH_ARG(int64_t, out_channels);
  /// Size of the convolving kernel.
  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  /// Stride of the convolution.
  TORCH_ARG(torch::ExpandingArray<2>, stride) = 1;
  /// Implicit zero padding on both sides.
  TORCH_ARG(torch::ExpandingArray<2>, padding) = 0;
  /// Spacing between kernel elements.
  TORCH_ARG(torch::ExpandingArray<2>, dilation) = 1;
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

/// A 2-D convolution with a mean-field Gaussian posterior over its kernel and bias: registers
/// `weight_mean`, `weight_log_sigma` [out_channels, in_channels / groups, kH, kW], `bias_mean`,
/// `bias_log_sigma` [out_channels] and the priors `weight_prior`, `bias_prior` (see
/// `BayesLayer`).
///
/// Example:
/// ```
/// bayesnn::BayesConv2d conv(bayesnn::BayesConv2dOptions(1, 32, 5));
/// auto y = conv(torch::rand({8, 1, 28, 28}));  // [8, 32, 24, 24]
/// ```
class BayesConv2dImpl : public BayesLayer<BayesConv2dImpl> {
 public:
  /// A convolution from `in_channels` to `out_channels` with `kernel_size` and the default options.
  BayesConv2dImpl(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size)
      : BayesConv2dImpl(BayesConv2dOptions(in_channels, out_channels, kernel_size)) {}
  /// A convolution with `options_`; calls `reset()`.
  explicit BayesConv2dImpl(const BayesConv2dOptions& options_);

  /// Validates the options and registers the kernel and bias variational tensors.
  void reset() override;
  /// Writes the initial values: means as torch::nn::Conv2d, log-sigmas `log_sigma_init`.
  void reset_parameters();
  /// Prints "bayesnn::BayesConv2d(in, out, kernel_size=..., stride=..., padding=..., bias=...,
  /// prior=..., estimator=...)", with `dilation` and `groups` where not 1.
  void pretty_print(std::ostream& stream) const override;
  /// Exports the layer as one `torch.conv2d` with its variational weight and bias.
  void export_torchscript(ExportContext& ctx) const override;
  /// The compression hook: this layer with `in` input and `out` output channels; throws where
  /// `groups` is not 1 and a channel would go (`compress` cannot split a grouped convolution).
  torch::nn::AnyModule with_units(int64_t in, int64_t out) const override;

  /// A posterior sample of the layer output (`Mode::kSample`), the output with the held draw
  /// (`Mode::kFrozen`) or the posterior-mean output (`Mode::kMean`); input [N, in_channels, H,
  /// W] (or unbatched [in_channels, H, W]).
  torch::Tensor forward(const torch::Tensor& input);

  /// The options with which this module was constructed.
  BayesConv2dOptions options;
};
TORCH_MODULE(BayesConv2d);

}  // namespace bayesnn
