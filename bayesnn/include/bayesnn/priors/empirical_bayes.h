// The empirical-Bayes prior: w ~ N(0, s²) with log s a point estimate.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/prior_family.h"

namespace bayesnn {

/// w ~ N(0, s²) with `log_scale` = log s a point estimate (type-II maximum likelihood), with an
/// optional HalfNormal(hyper_tau) hyperprior as a MAP term: KL in closed form.
struct EmpiricalBayesPrior : PriorFamily {
  /// s starting at `init_sd_`; `hyper_tau_`: the hyperprior's scale (none: no hyperprior).
  EmpiricalBayesPrior(double init_sd_, std::optional<double> hyper_tau_)
      : init_sd(init_sd_), hyper_tau(hyper_tau_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape) const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  double init_sd;                   ///< the initial s
  std::optional<double> hyper_tau;  ///< the hyperprior's scale, if any
};

/// -log HalfNormal(s; tau) = -1/2 log(2/pi) + log tau + s² / (2 tau²), with s = exp(log_s):
/// the MAP penalty of an empirical-Bayes prior scale under a HalfNormal hyperprior.
at::Tensor neg_log_half_normal(const at::Tensor& log_s, double tau);

}  // namespace bayesnn
