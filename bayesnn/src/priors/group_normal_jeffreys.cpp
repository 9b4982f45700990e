#include "bayesnn/priors/group_normal_jeffreys.h"

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

Prior Prior::group_normal_jeffreys(double init_log_sd) {
  TORCH_CHECK(std::isfinite(init_log_sd), "Prior: init_log_sd must be finite, got ", init_log_sd);
  return Prior(std::make_shared<GroupNormalJeffreysPrior>(init_log_sd));
}

std::string GroupNormalJeffreysPrior::name() const { return "group_normal_jeffreys"; }

std::vector<std::pair<std::string, at::Tensor>> GroupNormalJeffreysPrior::initial_parameters(
    at::IntArrayRef shape, int64_t unit_dim) const {
  if (!detail::has_units(shape)) return {};
  const int64_t units = shape[static_cast<size_t>(unit_dim)];
  return {{"scale_mean", at::ones({units}, at::kFloat)},
          {"scale_log_sd", at::full({units}, init_log_sd, at::kFloat)}};
}

at::Tensor GroupNormalJeffreysPrior::kl_scales(const PriorModuleImpl& module) const {
  // Molchanov et al. 2017, eq. 14.
  constexpr double k1 = 0.63576, k2 = 1.87320, k3 = 1.48695;
  const auto log_alpha = group_scales(module)->log_alpha();
  const auto neg_kl =
      k1 * (k2 + k3 * log_alpha).sigmoid() - 0.5 * at::log1p((-log_alpha).exp()) - k1;
  return -neg_kl.sum();
}

std::optional<GroupScales> GroupNormalJeffreysPrior::group_scales(
    const PriorModuleImpl& module) const {
  if (!detail::has_units(module.shape())) return std::nullopt;
  GroupScales scales;
  scales.loc = module.hyper("scale_mean");
  scales.log_sd = module.hyper("scale_log_sd");
  scales.log_normal = false;
  scales.dim = module.unit_dim();
  return scales;
}

}  // namespace bayesnn
