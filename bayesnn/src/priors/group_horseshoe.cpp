#include "bayesnn/priors/group_horseshoe.h"

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/autograd.h>

#include "bayesnn/gaussian.h"
#include "bayesnn/prior_module.h"
#include "bayesnn/variational_tensor.h"
#include "priors/checks.h"
#include "priors/group_units.h"

namespace bayesnn {

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr double kShape = 0.5;  // both factors' shape k: a ~ Gamma(1/2, rate), b ~ InvGamma(1/2, 1)

// KL(LogNormal(m, e^{2ℓ}) || Gamma(k, rate)) = -k m - ℓ + rate E[x] + lgamma(k) - c - k log rate
// with E[x] = exp(m + e^{2ℓ}/2), and KL(LogNormal(m, e^{2ℓ}) || InvGamma(k, 1)) = k m - ℓ +
// E[1/x] + lgamma(k) - c with E[1/x] = exp(-m + e^{2ℓ}/2), c = (1 + log 2π) / 2 the normal's
// entropy constant; summed over a factor's elements. rate 0 marks the inverse gamma. With their
// gradients:
//   gamma:    d/dm = rate E[x] - k,    d/dℓ = rate E[x] e^{2ℓ} - 1;
//   inverse:  d/dm = k - E[1/x],       d/dℓ = E[1/x] e^{2ℓ} - 1.
struct LogNormalFactor {
  at::Tensor value, d_mean, d_log_sd;
};

LogNormalFactor log_normal_factor_kl(const at::Tensor& m, const at::Tensor& log_sd, double rate) {
  const double c = 0.5 * (1.0 + std::log(2 * M_PI));
  const bool gamma = rate > 0;
  const auto variance = (2.0 * log_sd).exp();
  const auto expectation = (gamma ? m + 0.5 * variance : 0.5 * variance - m).exp();
  const auto weighted = gamma ? rate * expectation : expectation;  // rate E[x], or E[1/x]
  const double constant = std::lgamma(kShape) - c - (gamma ? kShape * std::log(rate) : 0.0);
  auto value = (weighted - (gamma ? kShape : -kShape) * m - log_sd).sum() +
               constant * static_cast<double>(m.numel());
  return {value, gamma ? weighted - kShape : kShape - weighted, weighted * variance - 1.0};
}

// The four factors' KLs (global a and b, local a and b) and their gradients as one autograd node:
// some forty scalar and per-unit operations each way would cost more than the layer's passes over
// its weights.
class HorseshoeScalesKl : public torch::autograd::Function<HorseshoeScalesKl> {
 public:
  // The global scale's factors a (a gamma of rate `global_rate`) and b, then the local ones'
  // (rate 1); the node's gradients follow the parameters in this order.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& global_a_mean,
                            const at::Tensor& global_a_log_sd, const at::Tensor& global_b_mean,
                            const at::Tensor& global_b_log_sd, const at::Tensor& local_a_mean,
                            const at::Tensor& local_a_log_sd, const at::Tensor& local_b_mean,
                            const at::Tensor& local_b_log_sd, double global_rate) {
    const auto global_a = log_normal_factor_kl(global_a_mean, global_a_log_sd, global_rate);
    const auto global_b = log_normal_factor_kl(global_b_mean, global_b_log_sd, 0.0);
    const auto local_a = log_normal_factor_kl(local_a_mean, local_a_log_sd, 1.0);
    const auto local_b = log_normal_factor_kl(local_b_mean, local_b_log_sd, 0.0);
    ctx->save_for_backward({global_a.d_mean, global_a.d_log_sd, global_b.d_mean, global_b.d_log_sd,
                            local_a.d_mean, local_a.d_log_sd, local_b.d_mean, local_b.d_log_sd});
    return global_a.value + global_b.value + local_a.value + local_b.value;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list result;
    for (const auto& derivative : ctx->get_saved_variables()) {
      result.push_back(grads[0] * derivative);
    }
    result.emplace_back();  // no gradient for the rate
    return result;
  }
};

// The log sd of half the sum of two log-normal components: log(sqrt(v1 + v2) / 2).
at::Tensor half_sum_log_sd(const at::Tensor& log_sd1, const at::Tensor& log_sd2) {
  return 0.5 * ((2.0 * log_sd1).exp() + (2.0 * log_sd2).exp()).log() - std::log(2.0);
}

}  // namespace

Prior Prior::group_horseshoe(double tau0, double init_log_sd) {
  detail::check_positive_finite("tau0", tau0);
  TORCH_CHECK(std::isfinite(init_log_sd), "Prior: init_log_sd must be finite, got ", init_log_sd);
  return Prior(std::make_shared<GroupHorseshoePrior>(tau0, init_log_sd));
}

std::string GroupHorseshoePrior::name() const {
  return fmt::format("group_horseshoe(tau0={:g})", tau0);
}

std::vector<std::pair<std::string, at::Tensor>> GroupHorseshoePrior::initial_parameters(
    at::IntArrayRef shape, int64_t unit_dim) const {
  if (!detail::has_units(shape)) return {};
  // The global scale starts at its prior's scale, s = sqrt(a b) = tau0 (a = tau0², b = 1), and
  // each local one at 1/tau0 through its heavy-tailed factor (a = 1, b = 1/tau0²: the gamma's
  // light tail would cost e^{1/tau0²}), so that every z = s z̃ starts at 1 (Louizos et al.'s
  // start) and the units the data does not hold up shrink towards the global scale.
  const int64_t units = shape[static_cast<size_t>(unit_dim)];
  const double log_tau0_squared = 2.0 * std::log(tau0);
  return {{"global_a_mean", detail::scalar(log_tau0_squared)},
          {"global_a_log_sd", detail::scalar(init_log_sd)},
          {"global_b_mean", detail::scalar(0.0)},
          {"global_b_log_sd", detail::scalar(init_log_sd)},
          {"local_a_mean", at::zeros({units}, at::kFloat)},
          {"local_a_log_sd", at::full({units}, init_log_sd, at::kFloat)},
          {"local_b_mean", at::full({units}, -log_tau0_squared, at::kFloat)},
          {"local_b_log_sd", at::full({units}, init_log_sd, at::kFloat)}};
}

at::Tensor GroupHorseshoePrior::kl_scales(const PriorModuleImpl& module) const {
  const auto& h = [&module](const char* name) -> const at::Tensor& { return module.hyper(name); };
  return HorseshoeScalesKl::apply(h("global_a_mean"), h("global_a_log_sd"), h("global_b_mean"),
                                  h("global_b_log_sd"), h("local_a_mean"), h("local_a_log_sd"),
                                  h("local_b_mean"), h("local_b_log_sd"), 1 / (tau0 * tau0));
}

std::optional<GroupScales> GroupHorseshoePrior::group_scales(const PriorModuleImpl& module) const {
  if (!detail::has_units(module.shape())) return std::nullopt;
  const auto& h = [&module](const char* name) -> const at::Tensor& { return module.hyper(name); };
  GroupScales scales;
  scales.loc =
      0.5 * (h("global_a_mean") + h("global_b_mean") + h("local_a_mean") + h("local_b_mean"));
  scales.log_sd = half_sum_log_sd(h("local_a_log_sd"), h("local_b_log_sd"));
  scales.shared_log_sd = half_sum_log_sd(h("global_a_log_sd"), h("global_b_log_sd"));
  scales.log_normal = true;
  scales.dim = module.unit_dim();
  return scales;
}

}  // namespace bayesnn
