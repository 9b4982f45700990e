// A statistical check that samples are N(0, 1), for the noise and the terms drawn from it.
#pragma once

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "support/catch.h"

namespace bayesnn_test {

/// Kolmogorov-Smirnov distance between the samples and N(0, 1).
inline double ks_distance_to_standard_normal(const torch::Tensor& samples) {
  const auto sorted = std::get<0>(samples.to(torch::kDouble).flatten().sort());
  const auto n = sorted.numel();
  const auto cdf = 0.5 * torch::erfc(-sorted / std::sqrt(2.0));
  const auto rank = torch::arange(1, n + 1, torch::kDouble) / static_cast<double>(n);
  const auto above = (rank - cdf).max().item<double>();
  const auto below = (cdf - (rank - 1.0 / static_cast<double>(n))).max().item<double>();
  return std::max(above, below);
}

/// Checks that the samples are N(0, 1): the Kolmogorov-Smirnov distance under its 0.1 % critical
/// value 1.95 / sqrt(n), the mean, variance and fourth moment within 5 standard errors, the
/// fraction beyond 3 within 5 standard errors of 2 (1 - Phi(3)) = 0.0026998.
inline void check_standard_normal(const torch::Tensor& samples) {
  const auto x = samples.to(torch::kDouble).flatten();
  const auto n = static_cast<double>(x.numel());
  REQUIRE(torch::isfinite(x).all().item<bool>());
  CHECK(ks_distance_to_standard_normal(x) < 1.95 / std::sqrt(n));
  CHECK(std::abs(x.mean().item<double>()) < 5 / std::sqrt(n));
  // sd of the sample variance sqrt(2 / n), of the fourth moment sqrt((105 - 9) / n).
  CHECK(std::abs(x.square().mean().item<double>() - 1) < 5 * std::sqrt(2 / n));
  CHECK(std::abs(x.pow(4).mean().item<double>() - 3) < 5 * std::sqrt(96 / n));
  const double p = 0.0026998;
  CHECK(std::abs(x.abs().gt(3).to(torch::kDouble).mean().item<double>() - p) <
        5 * std::sqrt(p * (1 - p) / n));
}

}  // namespace bayesnn_test
