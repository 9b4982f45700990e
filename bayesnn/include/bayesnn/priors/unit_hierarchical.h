// The per-unit hierarchical prior: one HalfNormal scale per unit, its KL in closed form.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/prior_family.h"

namespace bayesnn {

/// One scale per unit, s_j ~ HalfNormal(tau), w_j. | s_j ~ N(0, s_j²), with q(log s_j) =
/// N(log_scale_mean_j, exp(log_scale_log_sigma_j)²) learned jointly (centred): KL in closed
/// form (`kl_unit_hierarchical`). Its hyper-parameters have shape [units] (a tensor of shape
/// [] has one unit); its scale for reports is the root mean square of E_q[s_j] over units.
struct UnitHierarchicalPrior : PriorFamily {
  /// HalfNormal(`tau_`) hyperprior; every q(log s_j) starts at N(log `init_sd_`,
  /// `init_log_scale_sd_`²).
  UnitHierarchicalPrior(double tau_, double init_sd_, double init_log_scale_sd_)
      : tau(tau_), init_sd(init_sd_), init_log_scale_sd(init_log_scale_sd_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape) const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  std::map<std::string, at::Tensor> report(const PriorModuleImpl& module) const override;
  /// E_q[s_j] = exp(m_j + v_j / 2) of every unit, shape [units].
  at::Tensor unit_scales(const PriorModuleImpl& module) const;
  double tau;                ///< the HalfNormal scale of the hyperprior
  double init_sd;            ///< exp of the initial log_scale_mean
  double init_log_scale_sd;  ///< exp of the initial log_scale_log_sigma
};

/// KL(q(w) q(log s) || p(w | s) p(s)) for the per-unit hierarchical prior: one scale s_j per
/// unit j (the first dimension of `mean`: a Linear weight's row, a Conv2d kernel's output
/// channel, a bias's element), s_j ~ HalfNormal(tau), w_ji | s_j ~ N(0, s_j²), with
/// q(log s_j) = N(m_j, v_j), v_j = exp(2 log_scale_log_sigma_j). `kl_hierarchical`'s closed
/// form per unit, summed: with n_j elements per unit, S0_j = sum_i log sigma_ji and
/// S1_j = sum_i (sigma_ji² + mean_ji²),
///   KL = sum_j [ n_j (m_j - 1/2) - S0_j + 1/2 exp(-2 m_j + 2 v_j) S1_j - 1/2 log(2 pi e v_j)
///                - 1/2 log(2/pi) + log tau + exp(2 m_j + 2 v_j) / (2 tau²) - m_j ].
/// `log_scale_mean` and `log_scale_log_sigma` have shape [mean.size(0)].
at::Tensor kl_unit_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                                const at::Tensor& log_scale_mean,
                                const at::Tensor& log_scale_log_sigma, double tau);

}  // namespace bayesnn
