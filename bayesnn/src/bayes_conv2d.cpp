#include "bayesnn/bayes_conv2d.h"

#include "bayesnn/export.h"
#include "variational_layer.h"

#include <cmath>

namespace bayesnn {
namespace {
void check_all_positive(const char* name, torch::ExpandingArray<2> values, int64_t minimum) {
  for (auto value : *values) {
    TORCH_CHECK(value >= minimum, "BayesConv2d: ", name, " must be ",
                minimum > 0 ? "positive" : "non-negative", ", got ", values);
  }
}
}  // namespace

BayesConv2dOptions::BayesConv2dOptions(int64_t in_channels, int64_t out_channels,
                                       torch::ExpandingArray<2> kernel_size)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

BayesConv2dImpl::BayesConv2dImpl(const BayesConv2dOptions& options_) : options(options_) {
  BayesConv2dImpl::reset();
}

void BayesConv2dImpl::reset() {
  TORCH_CHECK(options.in_channels() > 0, "BayesConv2d: in_channels must be positive, got ",
              options.in_channels());
  TORCH_CHECK(options.out_channels() > 0, "BayesConv2d: out_channels must be positive, got ",
              options.out_channels());
  TORCH_CHECK(options.groups() > 0, "BayesConv2d: groups must be positive, got ", options.groups());
  TORCH_CHECK(options.in_channels() % options.groups() == 0 &&
                  options.out_channels() % options.groups() == 0,
              "BayesConv2d: in_channels (", options.in_channels(), ") and out_channels (",
              options.out_channels(), ") must be divisible by groups (", options.groups(), ")");
  check_all_positive("kernel_size", options.kernel_size(), 1);
  check_all_positive("stride", options.stride(), 1);
  check_all_positive("dilation", options.dilation(), 1);
  check_all_positive("padding", options.padding(), 0);
  TORCH_CHECK(std::isfinite(options.log_sigma_init()),
              "BayesConv2d: log_sigma_init must be finite, got ", options.log_sigma_init());
  const auto& k = *options.kernel_size();
  const std::vector<int64_t> shape{options.out_channels(), options.in_channels() / options.groups(),
                                   k[0], k[1]};
  weight_mean = register_parameter("weight_mean", torch::empty(shape));
  weight_log_sigma = register_parameter("weight_log_sigma", torch::empty(shape));
  weight_prior = register_module("weight_prior", PriorModule(options.prior()));
  if (options.bias()) {
    bias_mean = register_parameter("bias_mean", torch::empty({options.out_channels()}));
    bias_log_sigma = register_parameter("bias_log_sigma", torch::empty({options.out_channels()}));
    bias_prior = register_module("bias_prior", PriorModule(options.prior()));
  } else {
    bias_mean = register_parameter("bias_mean", {}, /*requires_grad=*/false);
    bias_log_sigma = register_parameter("bias_log_sigma", {}, /*requires_grad=*/false);
  }
  reset_parameters();
}

void BayesConv2dImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  // torch::nn::Conv2d's initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const double fan_in = static_cast<double>(weight_mean[0].numel());
  const double bound = 1.0 / std::sqrt(fan_in);
  weight_mean.uniform_(-bound, bound);
  weight_log_sigma.fill_(options.log_sigma_init());
  if (options.bias()) {
    bias_mean.uniform_(-bound, bound);
    bias_log_sigma.fill_(options.log_sigma_init());
  }
}

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
  if (mode() == Mode::kMean) return conv(input, weight_mean, bias_mean);
  if (mode() == Mode::kFrozen) return conv(input, frozen_weight, frozen_bias);
  return sample_output(options.estimator(), conv, SignLayout::kPerChannel, input, weight_mean,
                       weight_log_sigma, bias_mean, bias_log_sigma);
}

void BayesConv2dImpl::set_mode(Mode mode) {
  BayesModule::set_mode(mode);
  detail::hold_draw(*this, mode);
}

torch::Tensor BayesConv2dImpl::kl() { return detail::weight_and_bias_kl(*this); }

void BayesConv2dImpl::export_torchscript(ExportContext& ctx) const {
  const auto [weight, bias] = detail::export_weight_and_bias(*this, ctx);
  const auto list = [](torch::ExpandingArray<2> values) {
    return fmt::format("[{}, {}]", (*values)[0], (*values)[1]);
  };
  ctx.emit(fmt::format("x = torch.conv2d(x, {}, {}, {}, {}, {}, {})", weight, bias,
                       list(options.stride()), list(options.padding()), list(options.dilation()),
                       options.groups()));
}

}  // namespace bayesnn
