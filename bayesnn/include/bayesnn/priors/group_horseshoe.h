// Louizos et al.'s group horseshoe, non-centred, its KL in closed form.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/priors/group_prior.h"

namespace bayesnn {

/// `Prior::group_horseshoe`. Every half-Cauchy scale is sqrt(a b) with a ~ Gamma(1/2, rate
/// 1/scale²) and b ~ InvGamma(1/2, 1), and each a and b has a log-normal posterior
/// N(log · ; `*_mean`, exp(`*_log_sd`)²): "global_a", "global_b" (shape []) for s, "local_a",
/// "local_b" (shape [units]) for z̃; s starts at tau0 (a = tau0², b = 1) and z̃ at 1/tau0 (a = 1,
/// b = 1/tau0²: through the heavy-tailed factor), so z = s z̃ starts at 1. `kl_scales` is the sum of
/// the four families of log-normal-to-(inverse-)gamma KLs, all in closed form. log z_j is Gaussian:
/// its `group_scales` are log-normal with the global noise shared.
struct GroupHorseshoePrior : GroupPrior {
  /// Half-Cauchy global scale `tau0_`; every log-normal posterior's log sd starts at
  /// `init_log_sd_`.
  GroupHorseshoePrior(double tau0_, double init_log_sd_) : tau0(tau0_), init_log_sd(init_log_sd_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape, int64_t unit_dim) const override;
  at::Tensor kl_scales(const PriorModuleImpl& module) const override;
  std::optional<GroupScales> group_scales(const PriorModuleImpl& module) const override;
  double tau0;         ///< the global half-Cauchy scale
  double init_log_sd;  ///< the initial log sd of every log-normal posterior
};

}  // namespace bayesnn
