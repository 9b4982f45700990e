#include "convert/builtin_conversions.h"

#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "bayesnn/bayes_conv1d.h"
#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "layers/conv_options.h"

namespace bayesnn::detail {
namespace {

// The options every converted layer takes from the conversion: prior, estimator, sigmas.
template <typename Options>
Options converted(Options options, const ConvertContext& ctx) {
  return options.prior(ctx.prior())
      .estimator(ctx.options().estimator())
      .log_sigma_init(ctx.options().log_sigma_init());
}

std::optional<torch::nn::AnyModule> to_bayes_linear(const torch::nn::LinearImpl& linear,
                                                    ConvertContext& ctx) {
  const auto& o = linear.options;
  BayesLinear layer(
      converted(BayesLinearOptions(o.in_features(), o.out_features()).bias(o.bias()), ctx));
  ctx.start_at(*layer, linear.weight, linear.bias);
  return torch::nn::AnyModule(layer);
}

// A torch ConvNd as the BayesConvNd `Layer` (an Impl): every option carried over, its padding
// as the numbers per side that BayesConvNd takes.
template <size_t D, typename Layer, typename Conv>
std::optional<torch::nn::AnyModule> to_bayes_conv(const Conv& conv, ConvertContext& ctx) {
  using Options = std::decay_t<decltype(std::declval<Layer>().options)>;
  const std::string name = fmt::format("BayesConv{}d", D);
  const auto& o = conv.options;
  const auto padding = torch_conv_padding<D>(o);
  if (padding.non_zero_mode) {
    return ctx.keep(fmt::format("pads with padding_mode {}: {} pads with zeros only",
                                *padding.non_zero_mode, name));
  }
  if (!padding.per_side) {
    return ctx.keep(
        "pads 'same' with an even kernel extent, one more on one side than on the "
        "other: " +
        name + " pads both sides alike");
  }
  auto layer =
      std::make_shared<Layer>(converted(Options(o.in_channels(), o.out_channels(), o.kernel_size())
                                            .stride(o.stride())
                                            .padding(*padding.per_side)
                                            .dilation(o.dilation())
                                            .groups(o.groups())
                                            .bias(o.bias()),
                                        ctx));
  ctx.start_at(*layer, conv.weight, conv.bias);
  return torch::nn::AnyModule(layer);
}

}  // namespace

const std::vector<Conversion>& builtin_conversions() {
  static const std::vector<Conversion> conversions = {
      conversion<torch::nn::LinearImpl>(to_bayes_linear),
      conversion<torch::nn::Conv1dImpl>(to_bayes_conv<1, BayesConv1dImpl, torch::nn::Conv1dImpl>),
      conversion<torch::nn::Conv2dImpl>(to_bayes_conv<2, BayesConv2dImpl, torch::nn::Conv2dImpl>),
  };
  return conversions;
}

}  // namespace bayesnn::detail
