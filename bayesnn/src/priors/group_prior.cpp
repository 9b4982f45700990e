#include "bayesnn/priors/group_prior.h"

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

at::Tensor GroupPrior::kl(const VariationalTensor& q, const PriorModuleImpl& module) const {
  auto kl = kl_normal_zero_mean_from_sums(q.sums(), at::zeros({}, q.mean().options()),
                                          q.mean().numel());  // v ~ N(0, 1)
  return detail::has_units(module.shape()) ? kl + kl_scales(module) : kl;
}

double GroupPrior::scale(const PriorModuleImpl& module) const {
  const auto scales = group_scales(module);
  if (!scales) return 1.0;
  at::NoGradGuard no_grad;
  return scales->mean().square().mean().sqrt().item<double>();
}

std::map<std::string, at::Tensor> GroupPrior::report(const PriorModuleImpl& module) const {
  const auto scales = group_scales(module);
  if (!scales) return {};
  at::NoGradGuard no_grad;
  return {{"mean", scales->mean().to(at::kCPU, at::kDouble)},
          {"log_alpha", scales->log_alpha().to(at::kCPU, at::kDouble)}};
}

}  // namespace bayesnn
