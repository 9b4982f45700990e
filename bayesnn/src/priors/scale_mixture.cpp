#include "bayesnn/priors/scale_mixture.h"

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

namespace bayesnn {

Prior Prior::scale_mixture(double pi, double sigma1, double sigma2) {
  TORCH_CHECK(std::isfinite(pi) && pi > 0 && pi < 1,
              "Prior: the scale mixture's pi must lie strictly between 0 and 1, got ", pi);
  detail::check_positive_finite("sigma1", sigma1);
  detail::check_positive_finite("sigma2", sigma2);
  return Prior(std::make_shared<ScaleMixturePrior>(pi, sigma1, sigma2));
}

std::string ScaleMixturePrior::name() const {
  return fmt::format("scale_mixture(pi={:g}, sigma1={:g}, sigma2={:g})", pi, sigma1, sigma2);
}

at::Tensor ScaleMixturePrior::kl(const VariationalTensor& q, const PriorModuleImpl&) const {
  return -gaussian_entropy(q.log_sigma()) -
         scale_mixture_log_density(q.current_draw(), pi, sigma1, sigma2);
}

double ScaleMixturePrior::scale(const PriorModuleImpl&) const {
  return std::sqrt(pi * sigma1 * sigma1 + (1 - pi) * sigma2 * sigma2);
}

at::Tensor scale_mixture_log_density(const at::Tensor& w, double pi, double sigma1, double sigma2) {
  const auto w2 = w.square();
  const auto wide = w2 * (-0.5 / (sigma1 * sigma1)) + (std::log(pi) - std::log(sigma1));
  const auto narrow = w2 * (-0.5 / (sigma2 * sigma2)) + (std::log1p(-pi) - std::log(sigma2));
  return at::logaddexp(wide, narrow).sum() -
         0.5 * std::log(2.0 * M_PI) * static_cast<double>(w.numel());
}

}  // namespace bayesnn
