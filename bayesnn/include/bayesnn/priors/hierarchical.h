// The article's hierarchical prior: s ~ HalfNormal(tau), w | s ~ N(0, s²), its KL in closed form.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/prior_family.h"

namespace bayesnn {

/// s ~ HalfNormal(tau), w | s ~ N(0, s²) with q(log s) = N(log_scale_mean,
/// exp(log_scale_log_sigma)²) learned jointly (the article's hierarchical prior): KL in closed
/// form (`kl_hierarchical`); its scale is E_q[s] = exp(m + v/2).
struct HierarchicalPrior : PriorFamily {
  /// HalfNormal(`tau_`) hyperprior; q(log s) starts at N(log `init_sd_`, `init_log_scale_sd_`²).
  HierarchicalPrior(double tau_, double init_sd_, double init_log_scale_sd_)
      : tau(tau_), init_sd(init_sd_), init_log_scale_sd(init_log_scale_sd_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape) const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  std::map<std::string, at::Tensor> report(const PriorModuleImpl& module) const override;
  double tau;                ///< the HalfNormal scale of the hyperprior
  double init_sd;            ///< exp of the initial log_scale_mean
  double init_log_scale_sd;  ///< exp of the initial log_scale_log_sigma
};

/// KL(q(w) q(log s) || p(w | s) p(s)) for the hierarchical prior s ~ HalfNormal(tau),
/// w | s ~ N(0, s²), with q(w) = N(mean, sigma²) per element and q(log s) = N(m, v),
/// v = exp(2 log_scale_log_sigma). Closed form, n = numel(mean):
///   E[log p(w|s)]   = sum_i [ -1/2 log 2pi - m - 1/2 exp(-2m + 2v) (mean_i² + sigma_i²) ]
///   E[log p(log s)] = 1/2 log(2/pi) - log tau - exp(2m + 2v) / (2 tau²) + m
///   E[log q(w)]     = sum_i [ -1/2 log(2 pi e) - log sigma_i ]
///   E[log q(log s)] = -1/2 log(2 pi e v)
///   KL = E[log q(w)] + E[log q(log s)] - E[log p(w|s)] - E[log p(log s)].
at::Tensor kl_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                           const at::Tensor& log_scale_mean, const at::Tensor& log_scale_log_sigma,
                           double tau);

/// The same KL from the sums s = `gaussian_sums(mean, log_sigma)` of n elements.
at::Tensor kl_hierarchical_from_sums(const at::Tensor& sums, const at::Tensor& log_scale_mean,
                                     const at::Tensor& log_scale_log_sigma, int64_t n, double tau);

}  // namespace bayesnn
