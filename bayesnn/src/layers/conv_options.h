#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/enum.h>
#include <torch/expanding_array.h>

#include "export/script_literals.h"
#include "layers/layer_checks.h"

namespace bayesnn::detail {

// What bayesnn's convolutions and torch's share: the checks of a BayesConvNd's options, the
// TorchScript call of a convolution, and torch's padding options read as numbers.

template <size_t D>
void check_at_least(const char* layer, const char* option, const torch::ExpandingArray<D>& values,
                    int64_t minimum) {
  for (auto value : *values) {
    TORCH_CHECK(value >= minimum, layer, ": ", option, " must be ",
                minimum > 0 ? "positive" : "non-negative", ", got ", values);
  }
}

// The checks of a BayesConvNd's options (BayesConv1dOptions, BayesConv2dOptions).
template <size_t D, typename Options>
void check_conv_options(const char* layer, const Options& options) {
  check_positive(layer, "in_channels", options.in_channels());
  check_positive(layer, "out_channels", options.out_channels());
  check_positive(layer, "groups", options.groups());
  TORCH_CHECK(options.in_channels() % options.groups() == 0 &&
                  options.out_channels() % options.groups() == 0,
              layer, ": in_channels (", options.in_channels(), ") and out_channels (",
              options.out_channels(), ") must be divisible by groups (", options.groups(), ")");
  check_at_least<D>(layer, "kernel_size", options.kernel_size(), 1);
  check_at_least<D>(layer, "stride", options.stride(), 1);
  check_at_least<D>(layer, "dilation", options.dilation(), 1);
  check_at_least<D>(layer, "padding", options.padding(), 0);
  check_log_sigma_init(layer, options.log_sigma_init());
}

// "x = torch.conv2d(x, <weight>, <bias>, [1, 1], <padding>, [1, 1], 1)": a D-dimensional
// convolution's TorchScript statement.
template <size_t D>
std::string conv_statement(const std::string& weight, const std::string& bias,
                           const torch::ExpandingArray<D>& stride, const std::string& padding,
                           const torch::ExpandingArray<D>& dilation, int64_t groups) {
  return fmt::format("x = torch.conv{}d(x, {}, {}, {}, {}, {}, {})", D, weight, bias,
                     list_literal(*stride), padding, list_literal(*dilation), groups);
}

// A torch::nn::ConvNd's padding options, read once for the exporter and the converter.
template <size_t D>
struct TorchConvPadding {
  std::optional<std::string> non_zero_mode;  // padding_mode's name unless it pads with zeros
  // The padding of each dimension where both sides get the same: numbers, 'valid' (none), or
  // 'same' with an odd kernel extent; unset for 'same' with an even one.
  std::optional<torch::ExpandingArray<D>> per_side;
  std::string script;  // the padding argument of torch.convNd: a list, "same" or "valid"
};

// `options`: a torch::nn::ConvNd's (detail::ConvNdOptions<D>).
template <size_t D, typename Options>
TorchConvPadding<D> torch_conv_padding(const Options& options) {
  using std::get_if;  // with ADL: c10::get_if for LibTorch 1.x's c10::variant options
  TorchConvPadding<D> result;
  if (!get_if<torch::enumtype::kZeros>(&options.padding_mode())) {
    result.non_zero_mode = torch::enumtype::get_enum_name(options.padding_mode());
  }
  if (const auto* values = get_if<torch::ExpandingArray<D>>(&options.padding())) {
    result.per_side = *values;
    result.script = list_literal(**values);
    return result;
  }
  if (get_if<torch::enumtype::kValid>(&options.padding())) {
    result.per_side = torch::ExpandingArray<D>(0);
    result.script = "\"valid\"";
    return result;
  }
  result.script = "\"same\"";
  torch::ExpandingArray<D> half(0);
  for (size_t dim = 0; dim < D; ++dim) {
    const int64_t total = (*options.dilation())[dim] * ((*options.kernel_size())[dim] - 1);
    if (total % 2 != 0) return result;
    (*half)[dim] = total / 2;
  }
  result.per_side = half;
  return result;
}

}  // namespace bayesnn::detail
