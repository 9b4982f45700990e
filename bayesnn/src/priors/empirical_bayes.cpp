#include "bayesnn/priors/empirical_bayes.h"

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

namespace bayesnn {

Prior Prior::empirical_bayes(double init_sd, std::optional<double> hyper_tau) {
  detail::check_positive_finite("init_sd", init_sd);
  if (hyper_tau) detail::check_positive_finite("hyper_tau", *hyper_tau);
  return Prior(std::make_shared<EmpiricalBayesPrior>(init_sd, hyper_tau));
}

std::string EmpiricalBayesPrior::name() const {
  return hyper_tau ? fmt::format("empirical_bayes({:g}, tau={:g})", init_sd, *hyper_tau)
                   : fmt::format("empirical_bayes({:g})", init_sd);
}

std::vector<std::pair<std::string, at::Tensor>> EmpiricalBayesPrior::initial_parameters(
    at::IntArrayRef) const {
  return {{"log_scale", detail::scalar(std::log(init_sd))}};
}

at::Tensor EmpiricalBayesPrior::kl(const VariationalTensor& q,
                                   const PriorModuleImpl& module) const {
  const auto& log_scale = module.hyper("log_scale");
  auto kl = kl_normal_zero_mean_from_sums(q.sums(), log_scale, q.mean().numel());
  if (hyper_tau) kl = kl + neg_log_half_normal(log_scale, *hyper_tau);
  return kl;
}

double EmpiricalBayesPrior::scale(const PriorModuleImpl& module) const {
  return std::exp(module.hyper("log_scale").item<double>());
}

at::Tensor neg_log_half_normal(const at::Tensor& log_s, double tau) {
  return -0.5 * std::log(2.0 / M_PI) + std::log(tau) + (2.0 * log_s).exp() / (2.0 * tau * tau);
}

}  // namespace bayesnn
