#include "bayesnn/bayes_conv2d.h"

#include <ostream>

#include "layers/bayes_conv_nd.h"
#include "layers/conv_options.h"

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
      options.bias(), options.prior(), /*unit_dim=*/0);
  reset_parameters();
}

void BayesConv2dImpl::reset_parameters() { reset_weight_and_bias(options.log_sigma_init()); }

void BayesConv2dImpl::pretty_print(std::ostream& stream) const {
  detail::print_conv<2>(stream, "BayesConv2d", *this);
}

void BayesConv2dImpl::export_torchscript(ExportContext& ctx) const {
  detail::export_conv<2>(*this, ctx);
}

torch::nn::AnyModule BayesConv2dImpl::with_units(int64_t in, int64_t out) const {
  return torch::nn::AnyModule(
      BayesConv2d(detail::conv_with_units("BayesConv2d", options, in, out)));
}

torch::Tensor BayesConv2dImpl::forward(const torch::Tensor& input) {
  detail::check_conv_input<2>("BayesConv2d", *this, input);
  if (input.dim() == 3) return forward(input.unsqueeze(0)).squeeze(0);
  return forward_operator(input, detail::conv_operator<2>(options), SignLayout::kPerChannel,
                          options.estimator());
}

}  // namespace bayesnn
