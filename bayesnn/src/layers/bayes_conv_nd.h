#pragma once

#include <algorithm>
#include <cstddef>
#include <ostream>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "bayesnn/estimator.h"
#include "bayesnn/export_context.h"
#include "export/layer_export.h"
#include "layers/conv_options.h"

namespace bayesnn::detail {

// What BayesConv1d and BayesConv2d share beyond their options (as torch's ConvNdImpl<D>):
// `layer` is the Impl, `name` its name in messages ("BayesConv2d").

// "H, W": the spatial dimensions of a D-dimensional input, in messages.
constexpr const char* spatial_dims(size_t dims) { return dims == 1 ? "L" : "H, W"; }

template <size_t D, typename Layer>
void print_conv(std::ostream& stream, const char* name, const Layer& layer) {
  const auto& options = layer.options;
  stream << "bayesnn::" << name << "(" << options.in_channels() << ", " << options.out_channels()
         << ", kernel_size=" << options.kernel_size() << ", stride=" << options.stride()
         << ", padding=" << options.padding();
  const auto& dilation = *options.dilation();
  if (std::any_of(dilation.begin(), dilation.end(), [](int64_t d) { return d != 1; })) {
    stream << ", dilation=" << options.dilation();
  }
  if (options.groups() != 1) stream << ", groups=" << options.groups();
  stream << ", bias=" << std::boolalpha << options.bias()
         << ", prior=" << to_string(options.prior())
         << ", estimator=" << to_string(options.estimator()) << ")";
}

// An input [N, in_channels, *spatial] or unbatched [in_channels, *spatial] on the parameters'
// device.
template <size_t D, typename Layer>
void check_conv_input(const char* name, const Layer& layer, const at::Tensor& input) {
  const int64_t channels = layer.options.in_channels();
  constexpr int64_t dims = D;
  TORCH_CHECK((input.dim() == dims + 2 || input.dim() == dims + 1) &&
                  input.size(input.dim() - dims - 1) == channels,
              name, ": expected an input [N, ", channels, ", ", spatial_dims(D), "] or [", channels,
              ", ", spatial_dims(D), "], got shape ", input.sizes());
  TORCH_CHECK(input.device() == layer.weight_mean.device(), name, ": input is on ", input.device(),
              " but the parameters are on ", layer.weight_mean.device());
}

// y = convNd(x, W, b) with the layer's stride, padding, dilation and groups.
template <size_t D, typename Options>
LinearOperator conv_operator(const Options& options) {
  const auto stride = options.stride();
  const auto padding = options.padding();
  const auto dilation = options.dilation();
  const auto groups = options.groups();
  return [=](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) -> at::Tensor {
    if constexpr (D == 1) {
      return at::conv1d(x, w, b, *stride, *padding, *dilation, groups);
    } else {
      return at::conv2d(x, w, b, *stride, *padding, *dilation, groups);
    }
  };
}

// The compression hook's options: `options` with `in` input and `out` output channels.
template <typename Options>
Options conv_with_units(const char* name, Options options, int64_t in, int64_t out) {
  const int64_t groups = options.groups();
  TORCH_CHECK(
      groups == 1 || (in == options.in_channels() / groups && out == options.out_channels()), name,
      " with groups=", groups, " would keep ", out, " of ", options.out_channels(),
      " output channels and ", in, " of ", options.in_channels() / groups,
      " input channels per group: the channels of a grouped convolution cannot be removed");
  if (groups == 1) options.in_channels(in);
  options.out_channels(out);
  return options;
}

// The export hook: one torch.convNd with the variational weight and bias.
template <size_t D, typename Layer>
void export_conv(const Layer& layer, ExportContext& ctx) {
  const auto weights = export_weights(layer, ctx);
  const auto& options = layer.options;
  ctx.emit(conv_statement<D>(weights.weight, weights.bias, options.stride(),
                             list_literal(*options.padding()), options.dilation(),
                             options.groups()));
}

}  // namespace bayesnn::detail
