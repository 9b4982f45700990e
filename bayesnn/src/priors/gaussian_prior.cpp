#include "bayesnn/priors/gaussian_prior.h"

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

Prior Prior::gaussian(double mean, double sd) {
  TORCH_CHECK(std::isfinite(mean), "Prior: mean must be finite, got ", mean);
  detail::check_positive_finite("sd", sd);
  return Prior(std::make_shared<GaussianPrior>(mean, sd));
}

std::string GaussianPrior::name() const {
  return label.empty() ? fmt::format("gaussian(mean={:g}, sd={:g})", mean, sd) : label;
}

std::vector<std::pair<std::string, at::Tensor>> GaussianPrior::initial_buffers(
    at::IntArrayRef shape) const {
  return {{"mean", at::full(shape, mean, at::kFloat)}, {"sd", at::full(shape, sd, at::kFloat)}};
}

at::Tensor GaussianPrior::kl(const VariationalTensor& q, const PriorModuleImpl& module) const {
  return kl_normal(q.mean(), q.log_sigma(), module.buffer("mean"), module.buffer("sd"));
}

double GaussianPrior::scale(const PriorModuleImpl& module) const {
  at::NoGradGuard no_grad;
  return module.buffer("sd").square().mean().sqrt().item<double>();
}

at::Tensor kl_normal(const at::Tensor& mean, const at::Tensor& log_sigma,
                     const at::Tensor& prior_mean, const at::Tensor& prior_sd) {
  const auto ratio =
      ((2 * log_sigma).exp() + (mean - prior_mean).square()) / (2 * prior_sd.square());
  return (prior_sd.log() - log_sigma + ratio - 0.5).sum();
}

}  // namespace bayesnn
