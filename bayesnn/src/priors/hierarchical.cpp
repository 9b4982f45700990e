#include "bayesnn/priors/hierarchical.h"

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
#include "priors/hierarchical_kl.h"

namespace bayesnn {
namespace {

using detail::all_cpu;
using detail::hierarchical_kl;
using detail::hierarchical_kl_grad;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The hierarchical KL from the sums as an autograd node of its own: it replaces some ten scalar
// operations per tensor, forward and backward, which cost more than the passes over the weights
// of a small network.
class HierarchicalKl : public torch::autograd::Function<HierarchicalKl> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& sums, const at::Tensor& m,
                            const at::Tensor& lsl, double n, double tau) {
    ctx->save_for_backward({sums, m, lsl});
    ctx->saved_data["n"] = n;
    ctx->saved_data["tau"] = tau;
    if (!all_cpu({sums, m, lsl})) return hierarchical_kl(sums[0], sums[1], m, lsl, n, tau);
    const auto s = sums.to(at::kDouble);
    const double value = hierarchical_kl(s[0].item<double>(), s[1].item<double>(), m.item<double>(),
                                         lsl.item<double>(), n, tau);
    return at::scalar_tensor(value, sums.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &sums = saved[0], &m = saved[1], &lsl = saved[2], &g = grads[0];
    const double n = ctx->saved_data["n"].toDouble(), tau = ctx->saved_data["tau"].toDouble();
    if (!all_cpu({sums, m, lsl, g}) || at::GradMode::is_enabled()) {
      const auto d = hierarchical_kl_grad(g, sums[1], m, lsl, n, tau);
      return {at::stack({d[0], d[1]}), d[2], d[3], at::Tensor(), at::Tensor()};
    }
    const auto d = hierarchical_kl_grad(g.item<double>(), sums[1].item<double>(), m.item<double>(),
                                        lsl.item<double>(), n, tau);
    return {at::tensor({d[0], d[1]}, sums.options()), at::scalar_tensor(d[2], m.options()),
            at::scalar_tensor(d[3], lsl.options()), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

Prior Prior::hierarchical(double tau, double init_sd, double init_log_scale_sd) {
  detail::check_positive_finite("tau", tau);
  detail::check_positive_finite("init_sd", init_sd);
  detail::check_positive_finite("init_log_scale_sd", init_log_scale_sd);
  return Prior(std::make_shared<HierarchicalPrior>(tau, init_sd, init_log_scale_sd));
}

std::string HierarchicalPrior::name() const { return fmt::format("hierarchical(tau={:g})", tau); }

std::vector<std::pair<std::string, at::Tensor>> HierarchicalPrior::initial_parameters(
    at::IntArrayRef) const {
  return {{"log_scale_mean", detail::scalar(std::log(init_sd))},
          {"log_scale_log_sigma", detail::scalar(std::log(init_log_scale_sd))}};
}

at::Tensor HierarchicalPrior::kl(const VariationalTensor& q, const PriorModuleImpl& module) const {
  return kl_hierarchical_from_sums(q.sums(), module.hyper("log_scale_mean"),
                                   module.hyper("log_scale_log_sigma"), q.mean().numel(), tau);
}

double HierarchicalPrior::scale(const PriorModuleImpl& module) const {
  const double m = module.hyper("log_scale_mean").item<double>();
  const double v = std::exp(2.0 * module.hyper("log_scale_log_sigma").item<double>());
  return std::exp(m + 0.5 * v);
}

std::map<std::string, at::Tensor> HierarchicalPrior::report(const PriorModuleImpl& module) const {
  at::NoGradGuard no_grad;
  return {{"log_scale_mean", module.hyper("log_scale_mean").to(at::kCPU, at::kDouble)},
          {"log_scale_sd", module.hyper("log_scale_log_sigma").exp().to(at::kCPU, at::kDouble)}};
}

at::Tensor kl_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                           const at::Tensor& log_scale_mean, const at::Tensor& log_scale_log_sigma,
                           double tau) {
  return kl_hierarchical_from_sums(gaussian_sums(mean, log_sigma), log_scale_mean,
                                   log_scale_log_sigma, mean.numel(), tau);
}

at::Tensor kl_hierarchical_from_sums(const at::Tensor& sums, const at::Tensor& log_scale_mean,
                                     const at::Tensor& log_scale_log_sigma, int64_t n, double tau) {
  return HierarchicalKl::apply(sums, log_scale_mean, log_scale_log_sigma, static_cast<double>(n),
                               tau);
}

}  // namespace bayesnn
