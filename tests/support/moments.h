// Shared statistical checks of the estimators: the Monte Carlo moments of a layer's output
// against the analytic mean and variance of its pre-activation.
#pragma once

#include <functional>

#include <torch/torch.h>

#include "bayesnn/mode.h"
#include "support/catch.h"

namespace bayesnn_test {

/// Draws `draws` forwards and checks each output element's sample mean within 5 standard
/// errors (all elements at once, so 5 not 4) and its sample variance within `rel_tol`.
inline void check_output_moments(const std::function<torch::Tensor()>& forward,
                                 const torch::Tensor& mean, const torch::Tensor& variance,
                                 int64_t draws, double rel_tol) {
  torch::NoGradGuard no_grad;
  auto sum = torch::zeros_like(mean);
  auto sum_sq = torch::zeros_like(mean);
  for (int64_t i = 0; i < draws; ++i) {
    auto y = forward().to(torch::kDouble);
    sum += y;
    sum_sq += y.square();
  }
  auto sample_mean = sum / draws;
  auto sample_var = sum_sq / draws - sample_mean.square();
  auto standard_error = (variance / draws).sqrt();
  auto z = ((sample_mean - mean).abs() / standard_error).max().item<double>();
  auto rel = ((sample_var - variance).abs() / variance).max().item<double>();
  INFO("max |z| of the mean " << z << ", max relative error of the variance " << rel);
  CHECK(z < 5.0);
  CHECK(rel < rel_tol);
}

/// `check_output_moments` of a Bayesian layer's output on `x` in `Mode::kSample` (a fresh draw
/// per forward) and in `Mode::kFrozen` (a held draw, taken anew before each forward): both give
/// the same per-example marginal. Leaves the layer in `Mode::kSample`.
template <typename Layer>
void check_layer_moments(Layer& layer, const torch::Tensor& x, const torch::Tensor& mean,
                         const torch::Tensor& variance, int64_t draws, double rel_tol) {
  check_output_moments([&] { return layer(x); }, mean, variance, draws, rel_tol);
  INFO("Mode::kFrozen");
  check_output_moments(
      [&] {
        layer->set_mode(bayesnn::Mode::kFrozen);
        return layer(x);
      },
      mean, variance, draws, rel_tol);
  layer->set_mode(bayesnn::Mode::kSample);
}

}  // namespace bayesnn_test
