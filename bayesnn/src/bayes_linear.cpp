#include "bayesnn/bayes_linear.h"

#include "bayesnn/export.h"
#include "variational_layer.h"

#include <cmath>

namespace bayesnn {

BayesLinearOptions::BayesLinearOptions(int64_t in_features, int64_t out_features)
    : in_features_(in_features), out_features_(out_features) {}

BayesLinearImpl::BayesLinearImpl(const BayesLinearOptions& options_) : options(options_) {
  BayesLinearImpl::reset();
}

void BayesLinearImpl::reset() {
  TORCH_CHECK(options.in_features() > 0, "BayesLinear: in_features must be positive, got ",
              options.in_features());
  TORCH_CHECK(options.out_features() > 0, "BayesLinear: out_features must be positive, got ",
              options.out_features());
  TORCH_CHECK(std::isfinite(options.log_sigma_init()),
              "BayesLinear: log_sigma_init must be finite, got ", options.log_sigma_init());
  const std::vector<int64_t> shape{options.out_features(), options.in_features()};
  weight_mean = register_parameter("weight_mean", torch::empty(shape));
  weight_log_sigma = register_parameter("weight_log_sigma", torch::empty(shape));
  weight_prior = register_module("weight_prior", PriorModule(options.prior()));
  if (options.bias()) {
    bias_mean = register_parameter("bias_mean", torch::empty({options.out_features()}));
    bias_log_sigma = register_parameter("bias_log_sigma", torch::empty({options.out_features()}));
    bias_prior = register_module("bias_prior", PriorModule(options.prior()));
  } else {
    bias_mean = register_parameter("bias_mean", {}, /*requires_grad=*/false);
    bias_log_sigma = register_parameter("bias_log_sigma", {}, /*requires_grad=*/false);
  }
  reset_parameters();
}

void BayesLinearImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  // torch::nn::Linear's initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const double bound = 1.0 / std::sqrt(static_cast<double>(options.in_features()));
  weight_mean.uniform_(-bound, bound);
  weight_log_sigma.fill_(options.log_sigma_init());
  if (options.bias()) {
    bias_mean.uniform_(-bound, bound);
    bias_log_sigma.fill_(options.log_sigma_init());
  }
}

void BayesLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "bayesnn::BayesLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", bias=" << std::boolalpha
         << options.bias() << ", prior=" << to_string(options.prior())
         << ", estimator=" << to_string(options.estimator()) << ")";
}

torch::Tensor BayesLinearImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() >= 1 && input.size(-1) == options.in_features(),
              "BayesLinear: expected an input with ", options.in_features(),
              " features in its last dimension, got shape ", input.sizes());
  TORCH_CHECK(input.device() == weight_mean.device(), "BayesLinear: input is on ", input.device(),
              " but the parameters are on ", weight_mean.device());
  static const LinearOperator kLinear = [](const at::Tensor& x, const at::Tensor& w,
                                           const at::Tensor& b) { return at::linear(x, w, b); };
  if (mode() == Mode::kMean) return kLinear(input, weight_mean, bias_mean);
  if (mode() == Mode::kFrozen) return kLinear(input, frozen_weight, frozen_bias);
  return sample_output(options.estimator(), kLinear, SignLayout::kPerElement, input, weight_mean,
                       weight_log_sigma, bias_mean, bias_log_sigma);
}

void BayesLinearImpl::set_mode(Mode mode) {
  BayesModule::set_mode(mode);
  detail::hold_draw(*this, mode);
}

torch::Tensor BayesLinearImpl::kl() { return detail::weight_and_bias_kl(*this); }

void BayesLinearImpl::export_torchscript(ExportContext& ctx) const {
  const auto [weight, bias] = detail::export_weight_and_bias(*this, ctx);
  ctx.emit("x = torch.linear(x, " + weight + ", " + bias + ")");
}

}  // namespace bayesnn
