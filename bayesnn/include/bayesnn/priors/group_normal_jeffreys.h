// Louizos et al.'s group normal-Jeffreys prior, its KL by Molchanov et al.'s approximation.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/priors/group_prior.h"

namespace bayesnn {

/// `Prior::group_normal_jeffreys`: q(z_j) = N(`scale_mean`_j, exp(`scale_log_sd`_j)²) per input
/// unit. `kl_scales` is Σ_j KL(q(z_j) || p(z_j)) by Molchanov et al.'s approximation
/// -k1 σ(k2 + k3 log α_j) + ½ log(1 + 1/α_j) + k1 with α_j = σ_j²/μ_j² (within 0.01 nats of the
/// exact value up to a constant).
struct GroupNormalJeffreysPrior : GroupPrior {
  /// Every q(z_j)'s log sd starts at `init_log_sd_`.
  explicit GroupNormalJeffreysPrior(double init_log_sd_) : init_log_sd(init_log_sd_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape, int64_t unit_dim) const override;
  at::Tensor kl_scales(const PriorModuleImpl& module) const override;
  std::optional<GroupScales> group_scales(const PriorModuleImpl& module) const override;
  double init_log_sd;  ///< the initial log sd of every q(z_j)
};

}  // namespace bayesnn
