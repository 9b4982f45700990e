// Shared statistical and numerical checks of KL divergences: Monte Carlo means with their
// standard errors, Gaussian log densities, and gradients against central differences.
#pragma once

#include <cmath>
#include <functional>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "support/catch.h"

namespace bayesnn_test {

/// Monte Carlo mean and standard error of samples [n].
inline std::pair<double, double> mean_and_standard_error(const torch::Tensor& samples) {
  const auto n = static_cast<double>(samples.numel());
  return {samples.mean().item<double>(), samples.std().item<double>() / std::sqrt(n)};
}

/// log N(x; mean, exp(log_sd)²), elementwise.
inline torch::Tensor normal_log_density(const torch::Tensor& x, const torch::Tensor& mean,
                                        const torch::Tensor& log_sd) {
  return -0.5 * std::log(2 * M_PI) - log_sd - 0.5 * ((x - mean) * (-log_sd).exp()).square();
}

/// Checks each element's gradient, already accumulated in `inputs` by kl().backward(), against
/// the central difference (kl(x + h) - kl(x - h)) / 2h, h = 1e-6, to a relative 1e-6 (double).
/// `kl` must be a deterministic function of the inputs (reseed inside it if it draws).
inline void check_gradients_by_central_differences(const std::function<torch::Tensor()>& kl,
                                                   std::vector<torch::Tensor> inputs) {
  const double h = 1e-6;
  for (auto& tensor : inputs) {
    auto grad = tensor.grad().clone();
    auto flat = tensor.detach().view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      torch::NoGradGuard no_grad;
      const double original = flat[i].item<double>();
      flat[i] = original + h;
      const double up = kl().item<double>();
      flat[i] = original - h;
      const double down = kl().item<double>();
      flat[i] = original;
      CHECK(grad.view({-1})[i].item<double>() == Approx((up - down) / (2 * h)).epsilon(1e-6));
    }
  }
}

}  // namespace bayesnn_test
