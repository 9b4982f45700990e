#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace bayesnn {

/// The posterior q(z) of the per-unit scales of a non-centred prior (`Prior::group_horseshoe`,
/// `Prior::group_normal_jeffreys`): the second factor of a product variational tensor
/// w = z ∘ v, one z_j per unit j along the tensor's dimension `dim`: 1, the input units (a
/// dense weight's column: `BayesLinear`), or 0, the output units (a convolution's filter, with
/// its bias: `BayesConv1d`, `BayesConv2d`, as Louizos et al. 2017). Each z_j = f(u_j) with
///
///   u_j = loc_j + exp(log_sd_j) ε_j + exp(shared_log_sd) ε₀,   ε ~ N(0, 1),
///
/// f = exp (log-normal scales: the horseshoe) or the identity (normal scales: normal-Jeffreys),
/// and ε₀ one draw shared by every unit (a global scale's noise; none where `shared_log_sd` is
/// undefined). Differentiable in `loc`, `log_sd` and `shared_log_sd`, which are expressions of
/// the prior's hyper-parameters.
struct GroupScales {
  at::Tensor loc;            ///< [units]
  at::Tensor log_sd;         ///< [units]
  at::Tensor shared_log_sd;  ///< [] or undefined
  bool log_normal = true;    ///< z = exp(u), else z = u
  int64_t dim = 1;           ///< the tensor's dimension the units lie along: 1 (inputs) or 0

  /// The number of units, `loc.size(0)`.
  int64_t units() const { return loc.size(0); }
  /// `rows` reparameterised draws, [rows, units], each row with its own ε₀.
  at::Tensor draw(int64_t rows) const;
  /// `t` times a draw of z: a tensor of the scales' shape (a weight) along `dim` with one draw
  /// for the whole tensor, or with `per_row` an activation [batch, units, ...] along its
  /// dimension 1 with one draw per example.
  at::Tensor scaled(const at::Tensor& t, bool per_row = false) const;
  /// E_q[z], [units].
  at::Tensor mean() const;
  /// log α = log(Var_q[z] / E_q[z]²), [units]: the noise-to-signal ratio that says a unit is off.
  at::Tensor log_alpha() const;
  /// The total variance of u, [units].
  at::Tensor variance() const;
};

/// `z` of shape [rows, units] (or [units]) viewed to broadcast along dimension 1 of a tensor of
/// `dim` dimensions: [rows, units, 1, ...] (or [1, units, 1, ...]); with `unit_dim` 0, [units]
/// viewed as [units, 1, ...].
at::Tensor along_units(const at::Tensor& z, int64_t dim, int64_t unit_dim = 1);

}  // namespace bayesnn
