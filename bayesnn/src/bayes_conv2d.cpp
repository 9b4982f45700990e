#include "bayesnn/bayes_conv2d.h"

#include <array>
#include <ostream>

#include <c10/util/Exception.h>

#include "conv_options.h"
#include "layer_export.h"

namespace bayesnn {

BayesConv2dOptions::BayesConv2dOptions(int64_t in_channels, int64_t out_channels,
                                       torch::ExpandingArray<2> kernel_size)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

BayesConv2dImpl::BayesConv2dImpl(const BayesConv2dOptions& options_) : options(options_) {
  BayesConv2dImpl::reset();
}

void BayesConv2dImpl::reset() {
  detail::check_conv_options<2>("BayesConv2d", options);
  const auto& k = *options.kernel_size();
  register_weight_and_bias(
      {options.out_channels(), options.in_channels() / options.groups(), k[0], k[1]},
      options.bias(), options.prior());
  reset_parameters();
}

void BayesConv2dImpl::reset_parameters() { reset_weight_and_bias(options.log_sigma_init()); }

void BayesConv2dImpl::pretty_print(std::ostream& stream) const {
  stream << "bayesnn::BayesConv2d(" << options.in_channels() << ", " << options.out_channels()
         << ", kernel_size=" << options.kernel_size() << ", stride=" << options.stride()
         << ", padding=" << options.padding();
  if (*options.dilation() != std::array<int64_t, 2>{1, 1})
    stream << ", dilation=" << options.dilation();
  if (options.groups() != 1) stream << ", groups=" << options.groups();
  stream << ", bias=" << std::boolalpha << options.bias()
         << ", prior=" << to_string(options.prior())
         << ", estimator=" << to_string(options.estimator()) << ")";
}

void BayesConv2dImpl::export_torchscript(ExportContext& ctx) const {
  const auto weights = detail::export_weights(*this, ctx);
  ctx.emit(detail::conv_statement<2>(weights.weight, weights.bias, options.stride(),
                                     detail::list_literal(*options.padding()), options.dilation(),
                                     options.groups()));
}

torch::Tensor BayesConv2dImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK((input.dim() == 4 || input.dim() == 3) &&
                  input.size(input.dim() - 3) == options.in_channels(),
              "BayesConv2d: expected an input [N, ", options.in_channels(), ", H, W] or [",
              options.in_channels(), ", H, W], got shape ", input.sizes());
  TORCH_CHECK(input.device() == weight_mean.device(), "BayesConv2d: input is on ", input.device(),
              " but the parameters are on ", weight_mean.device());
  if (input.dim() == 3) return forward(input.unsqueeze(0)).squeeze(0);
  const auto stride = options.stride();
  const auto padding = options.padding();
  const auto dilation = options.dilation();
  const auto groups = options.groups();
  const LinearOperator conv = [=](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    return at::conv2d(x, w, b, *stride, *padding, *dilation, groups);
  };
  return forward_operator(input, conv, SignLayout::kPerChannel, options.estimator());
}

}  // namespace bayesnn
