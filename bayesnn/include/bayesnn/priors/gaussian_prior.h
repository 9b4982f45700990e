// The centred Gaussian prior, w_i ~ N(m_i, s_i²) per element (MOPED's).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/prior_family.h"

namespace bayesnn {

/// w_i ~ N(m_i, s_i²) elementwise, m and s the prior module's buffers "mean" and "sd" (of the
/// tensor's shape, filled with `mean` and `sd` until overwritten): KL in closed form
/// (`kl_normal`). Its scale for reports is the root mean square of s. `label`, where set, is its
/// name ("moped(delta=0.1)" for the prior `to_bayesian` centres on pretrained weights).
struct GaussianPrior : PriorFamily {
  /// Every m_i at `mean_`, every s_i at `sd_`; `label_`, where not empty, its name.
  GaussianPrior(double mean_, double sd_, std::string label_ = {})
      : mean(mean_), sd(sd_), label(std::move(label_)) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_buffers(
      at::IntArrayRef shape) const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  double mean;        ///< the initial value of every m_i
  double sd;          ///< the initial value of every s_i
  std::string label;  ///< the name, where set (else "gaussian(mean=..., sd=...)")
};

/// KL(N(mean, sigma²) || N(prior_mean, prior_sd²)) summed over elements, sigma = exp(log_sigma),
/// elementwise prior means and sds (broadcast against `mean`):
/// sum_i [ log s_i - log_sigma_i + (sigma_i² + (mean_i - m_i)²) / (2 s_i²) - 1/2 ].
/// Differentiable in `mean` and `log_sigma` (and in the prior's tensors, where they need it).
at::Tensor kl_normal(const at::Tensor& mean, const at::Tensor& log_sigma,
                     const at::Tensor& prior_mean, const at::Tensor& prior_sd);

}  // namespace bayesnn
