#include "bayesnn/priors/unit_hierarchical.h"

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
#include "priors/hierarchical_kl.h"

namespace bayesnn {

Prior Prior::unit_hierarchical(double tau, double init_sd, double init_log_scale_sd) {
  detail::check_positive_finite("tau", tau);
  detail::check_positive_finite("init_sd", init_sd);
  detail::check_positive_finite("init_log_scale_sd", init_log_scale_sd);
  return Prior(std::make_shared<UnitHierarchicalPrior>(tau, init_sd, init_log_scale_sd));
}

std::string UnitHierarchicalPrior::name() const {
  return fmt::format("unit_hierarchical(tau={:g})", tau);
}

std::vector<std::pair<std::string, at::Tensor>> UnitHierarchicalPrior::initial_parameters(
    at::IntArrayRef shape) const {
  const int64_t units = shape.empty() ? 1 : shape[0];
  return {{"log_scale_mean", at::full({units}, std::log(init_sd), at::kFloat)},
          {"log_scale_log_sigma", at::full({units}, std::log(init_log_scale_sd), at::kFloat)}};
}

at::Tensor UnitHierarchicalPrior::kl(const VariationalTensor& q,
                                     const PriorModuleImpl& module) const {
  const auto& mean = q.mean();
  const auto& log_sigma = q.log_sigma();
  return kl_unit_hierarchical(mean.dim() == 0 ? mean.reshape({1}) : mean,
                              log_sigma.dim() == 0 ? log_sigma.reshape({1}) : log_sigma,
                              module.hyper("log_scale_mean"), module.hyper("log_scale_log_sigma"),
                              tau);
}

at::Tensor UnitHierarchicalPrior::unit_scales(const PriorModuleImpl& module) const {
  at::NoGradGuard no_grad;
  return (module.hyper("log_scale_mean") + (2.0 * module.hyper("log_scale_log_sigma")).exp() / 2)
      .exp();
}

double UnitHierarchicalPrior::scale(const PriorModuleImpl& module) const {
  return unit_scales(module).square().mean().sqrt().item<double>();
}

std::map<std::string, at::Tensor> UnitHierarchicalPrior::report(
    const PriorModuleImpl& module) const {
  return {{"unit_scales", unit_scales(module).to(at::kCPU, at::kDouble)}};
}

at::Tensor kl_unit_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                                const at::Tensor& log_scale_mean,
                                const at::Tensor& log_scale_log_sigma, double tau) {
  TORCH_CHECK(mean.dim() >= 1 && mean.sizes() == log_sigma.sizes(),
              "kl_unit_hierarchical: expected a mean and log_sigma of one shape with a unit "
              "dimension, got ",
              mean.sizes(), " and ", log_sigma.sizes());
  const int64_t units = mean.size(0);
  TORCH_CHECK(log_scale_mean.sizes() == at::IntArrayRef{units} &&
                  log_scale_log_sigma.sizes() == at::IntArrayRef{units},
              "kl_unit_hierarchical: expected one log scale per unit, shape [", units, "], got ",
              log_scale_mean.sizes(), " and ", log_scale_log_sigma.sizes());
  const double n = units > 0 ? static_cast<double>(mean.numel() / units) : 0.0;
  const auto s0 = log_sigma.reshape({units, -1}).sum(1);
  const auto s1 = ((2.0 * log_sigma).exp() + mean.square()).reshape({units, -1}).sum(1);
  return detail::hierarchical_kl(s0, s1, log_scale_mean, log_scale_log_sigma, n, tau).sum();
}

}  // namespace bayesnn
