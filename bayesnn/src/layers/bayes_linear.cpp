#include "bayesnn/bayes_linear.h"

#include <ostream>

#include <c10/util/Exception.h>

#include "export/layer_export.h"
#include "layers/layer_checks.h"

namespace bayesnn {

BayesLinearOptions::BayesLinearOptions(int64_t in_features, int64_t out_features)
    : in_features_(in_features), out_features_(out_features) {}

BayesLinearImpl::BayesLinearImpl(const BayesLinearOptions& options_) : options(options_) {
  BayesLinearImpl::reset();
}

void BayesLinearImpl::reset() {
  detail::check_positive("BayesLinear", "in_features", options.in_features());
  detail::check_positive("BayesLinear", "out_features", options.out_features());
  detail::check_log_sigma_init("BayesLinear", options.log_sigma_init());
  register_weight_and_bias({options.out_features(), options.in_features()}, options.bias(),
                           options.prior());
  reset_parameters();
}

void BayesLinearImpl::reset_parameters() { reset_weight_and_bias(options.log_sigma_init()); }

void BayesLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "bayesnn::BayesLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", bias=" << std::boolalpha
         << options.bias() << ", prior=" << to_string(options.prior())
         << ", estimator=" << to_string(options.estimator()) << ")";
}

void BayesLinearImpl::export_torchscript(ExportContext& ctx) const {
  const auto weights = detail::export_weights(*this, ctx);
  ctx.emit("x = torch.linear(x, " + weights.weight + ", " + weights.bias + ")");
}

torch::nn::AnyModule BayesLinearImpl::with_units(int64_t in, int64_t out) const {
  auto smaller = options;
  smaller.in_features(in).out_features(out);
  return torch::nn::AnyModule(BayesLinear(smaller));
}

torch::Tensor BayesLinearImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() >= 1 && input.size(-1) == options.in_features(),
              "BayesLinear: expected an input with ", options.in_features(),
              " features in its last dimension, got shape ", input.sizes());
  TORCH_CHECK(input.device() == weight_mean.device(), "BayesLinear: input is on ", input.device(),
              " but the parameters are on ", weight_mean.device());
  static const LinearOperator kLinear = [](const at::Tensor& x, const at::Tensor& w,
                                           const at::Tensor& b) { return at::linear(x, w, b); };
  return forward_operator(input, kLinear, SignLayout::kPerElement, options.estimator());
}

}  // namespace bayesnn
