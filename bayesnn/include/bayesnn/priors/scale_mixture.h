// Blundell et al.'s scale mixture prior, its KL by Monte Carlo.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/prior_family.h"

namespace bayesnn {

/// w ~ pi N(0, sigma1²) + (1 - pi) N(0, sigma2²): KL(q || p) = -H[q] - log p(w) at the tensor's
/// current draw w (`VariationalTensor::current_draw`), the entropy in closed form; unbiased,
/// differentiable by the reparameterization. Its scale is the mixture's sd.
struct ScaleMixturePrior : PriorFamily {
  /// Weight `pi_` on N(0, `sigma1_`²), the rest on N(0, `sigma2_`²).
  ScaleMixturePrior(double pi_, double sigma1_, double sigma2_)
      : pi(pi_), sigma1(sigma1_), sigma2(sigma2_) {}
  std::string name() const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  double pi;      ///< the weight of the wide component
  double sigma1;  ///< the wide component's sd
  double sigma2;  ///< the narrow component's sd
};

/// sum_i log p(w_i) under the scale mixture p(w) = pi N(w; 0, sigma1²) + (1 - pi) N(w; 0,
/// sigma2²) (Blundell et al. 2015), differentiable in `w`; evaluated stably (log-sum-exp).
at::Tensor scale_mixture_log_density(const at::Tensor& w, double pi, double sigma1, double sigma2);

}  // namespace bayesnn
