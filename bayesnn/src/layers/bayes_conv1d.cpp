#include "bayesnn/bayes_conv1d.h"

#include <ostream>

#include "layers/bayes_conv_nd.h"
#include "layers/conv_options.h"

namespace bayesnn {

BayesConv1dOptions::BayesConv1dOptions(int64_t in_channels, int64_t out_channels,
                                       torch::ExpandingArray<1> kernel_size)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

BayesConv1dImpl::BayesConv1dImpl(const BayesConv1dOptions& options_) : options(options_) {
  BayesConv1dImpl::reset();
}

void BayesConv1dImpl::reset() {
  detail::check_conv_options<1>("BayesConv1d", options);
  register_weight_and_bias({options.out_channels(), options.in_channels() / options.groups(),
                            (*options.kernel_size())[0]},
                           options.bias(), options.prior(), /*unit_dim=*/0);
  reset_parameters();
}

void BayesConv1dImpl::reset_parameters() { reset_weight_and_bias(options.log_sigma_init()); }

void BayesConv1dImpl::pretty_print(std::ostream& stream) const {
  detail::print_conv<1>(stream, "BayesConv1d", *this);
}

void BayesConv1dImpl::export_torchscript(ExportContext& ctx) const {
  detail::export_conv<1>(*this, ctx);
}

torch::nn::AnyModule BayesConv1dImpl::with_units(int64_t in, int64_t out) const {
  return torch::nn::AnyModule(
      BayesConv1d(detail::conv_with_units("BayesConv1d", options, in, out)));
}

torch::Tensor BayesConv1dImpl::forward(const torch::Tensor& input) {
  detail::check_conv_input<1>("BayesConv1d", *this, input);
  if (input.dim() == 2) return forward(input.unsqueeze(0)).squeeze(0);
  return forward_operator(input, detail::conv_operator<1>(options), SignLayout::kPerChannel,
                          options.estimator());
}

}  // namespace bayesnn
