#include "bayesnn/priors/group_horseshoe.h"

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "bayesnn/gaussian.h"
#include "bayesnn/prior_module.h"
#include "bayesnn/variational_tensor.h"
#include "priors/checks.h"
#include "priors/group_units.h"

namespace bayesnn {

namespace {
// KL(LogNormal(m, exp(log_sd)²) || Gamma(1/2, rate)), summed: -H[q] - E_q[log p], with
// E_q[x] = exp(m + sd²/2).
at::Tensor kl_log_normal_half_gamma(const at::Tensor& m, const at::Tensor& log_sd, double rate) {
  const double k = 0.5;
  auto entropy = m + 0.5 * (1.0 + std::log(2 * M_PI)) + log_sd;
  auto log_p = k * std::log(rate) - std::lgamma(k) + (k - 1) * m -
               rate * (m + (2.0 * log_sd).exp() / 2).exp();
  return -(entropy + log_p).sum();
}

// KL(LogNormal(m, exp(log_sd)²) || InvGamma(1/2, scale 1)), summed, with
// E_q[1/x] = exp(-m + sd²/2).
at::Tensor kl_log_normal_half_inverse_gamma(const at::Tensor& m, const at::Tensor& log_sd) {
  const double k = 0.5;
  auto entropy = m + 0.5 * (1.0 + std::log(2 * M_PI)) + log_sd;
  auto log_p = -std::lgamma(k) - (k + 1) * m - (-m + (2.0 * log_sd).exp() / 2).exp();
  return -(entropy + log_p).sum();
}

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
  return kl_log_normal_half_gamma(h("global_a_mean"), h("global_a_log_sd"), 1 / (tau0 * tau0)) +
         kl_log_normal_half_inverse_gamma(h("global_b_mean"), h("global_b_log_sd")) +
         kl_log_normal_half_gamma(h("local_a_mean"), h("local_a_log_sd"), 1.0) +
         kl_log_normal_half_inverse_gamma(h("local_b_mean"), h("local_b_log_sd"));
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
