#include "support/catch.h"

#include <cmath>
#include <functional>

#include <torch/torch.h>

#include "bayesnn/gaussian.h"
#include "noise.h"

namespace {
// Monte Carlo mean and standard error of samples [n].
std::pair<double, double> mean_and_standard_error(const torch::Tensor& samples) {
  const auto n = static_cast<double>(samples.numel());
  return {samples.mean().item<double>(), samples.std().item<double>() / std::sqrt(n)};
}

torch::Tensor normal_log_density(const torch::Tensor& x, const torch::Tensor& mean,
                                 const torch::Tensor& log_sd) {
  return -0.5 * std::log(2 * M_PI) - log_sd - 0.5 * ((x - mean) * (-log_sd).exp()).square();
}
// Checks each element's gradient, already accumulated in `inputs` by kl().backward(), against
// the central difference (kl(x + h) - kl(x - h)) / 2h, h = 1e-6, to a relative 1e-6 (double).
void check_gradients_by_central_differences(const std::function<torch::Tensor()>& kl,
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
}  // namespace

TEST_CASE("kl_normal_zero_mean: zero when q equals the prior", "[gaussian]") {
  auto mean = torch::zeros({5, 3}, torch::kDouble);
  auto log_sigma = torch::full({5, 3}, std::log(0.3), torch::kDouble);
  auto kl =
      bayesnn::kl_normal_zero_mean(mean, log_sigma, torch::full({}, std::log(0.3), torch::kDouble));
  CHECK(kl.item<double>() == Approx(0.0).margin(1e-12));
}

TEST_CASE("kl_normal_zero_mean: equals a Monte Carlo estimate within 4 standard errors",
          "[gaussian]") {
  torch::manual_seed(1);
  auto mean = torch::randn({6}, torch::kDouble) * 0.2;
  auto log_sigma = torch::randn({6}, torch::kDouble) * 0.3 - 1.5;
  const double log_sd = std::log(0.1);
  const auto exact =
      bayesnn::kl_normal_zero_mean(mean, log_sigma, torch::full({}, log_sd, torch::kDouble));
  const int64_t draws = 200000;
  auto w = mean + log_sigma.exp() * torch::randn({draws, 6}, torch::kDouble);
  auto log_q = normal_log_density(w, mean, log_sigma).sum(1);
  auto log_p = normal_log_density(w, torch::zeros({}, torch::kDouble),
                                  torch::full({}, log_sd, torch::kDouble))
                   .sum(1);
  const auto [estimate, se] = mean_and_standard_error(log_q - log_p);
  INFO("exact " << exact.item<double>() << ", MC " << estimate << " +- " << se);
  CHECK(std::abs(exact.item<double>() - estimate) < 4 * se);
}

TEST_CASE(
    "kl_hierarchical: equals a Monte Carlo estimate over w and log s within 4 standard "
    "errors",
    "[gaussian]") {
  torch::manual_seed(2);
  const int64_t n = 8;
  auto mean = torch::randn({n}, torch::kDouble) * 0.3;
  auto log_sigma = torch::randn({n}, torch::kDouble) * 0.2 - 1.0;
  auto m = torch::full({}, std::log(0.4), torch::kDouble);
  auto log_scale_log_sigma = torch::full({}, std::log(0.3), torch::kDouble);
  const double tau = 1.0;
  const auto exact = bayesnn::kl_hierarchical(mean, log_sigma, m, log_scale_log_sigma, tau);

  const int64_t draws = 400000;
  auto u = m + log_scale_log_sigma.exp() * torch::randn({draws, 1}, torch::kDouble);  // log s
  auto w = mean + log_sigma.exp() * torch::randn({draws, n}, torch::kDouble);
  auto log_q = normal_log_density(w, mean, log_sigma).sum(1) +
               normal_log_density(u, m, log_scale_log_sigma).squeeze(1);
  auto log_p_w = normal_log_density(w, torch::zeros({}, torch::kDouble), u).sum(1);
  // HalfNormal(tau) density of s = exp(u), times the Jacobian ds/du = s.
  auto s = u.exp().squeeze(1);
  auto log_p_u = 0.5 * std::log(2 / M_PI) - std::log(tau) - s.square() / (2 * tau * tau) + s.log();
  const auto [estimate, se] = mean_and_standard_error(log_q - log_p_w - log_p_u);
  INFO("exact " << exact.item<double>() << ", MC " << estimate << " +- " << se);
  CHECK(std::abs(exact.item<double>() - estimate) < 4 * se);
}

TEST_CASE("kl_hierarchical: gradients match finite differences in double precision", "[gaussian]") {
  torch::manual_seed(3);
  auto mean = (torch::randn({4}, torch::kDouble) * 0.3).requires_grad_();
  auto log_sigma = (torch::randn({4}, torch::kDouble) * 0.2 - 1.0).requires_grad_();
  auto m = torch::full({}, -1.0, torch::kDouble).requires_grad_();
  auto lsl = torch::full({}, -1.5, torch::kDouble).requires_grad_();
  auto kl = [&] { return bayesnn::kl_hierarchical(mean, log_sigma, m, lsl, 0.7); };
  kl().backward();
  check_gradients_by_central_differences(kl, {mean, log_sigma, m, lsl});
}

TEST_CASE("kl_normal_zero_mean: gradients match finite differences, second derivatives too",
          "[gaussian]") {
  torch::manual_seed(5);
  auto mean = (torch::randn({5}, torch::kDouble) * 0.3).requires_grad_();
  auto log_sigma = (torch::randn({5}, torch::kDouble) * 0.2 - 1.0).requires_grad_();
  auto log_sd = torch::full({}, -1.2, torch::kDouble).requires_grad_();
  auto kl = [&] { return bayesnn::kl_normal_zero_mean(mean, log_sigma, log_sd); };
  kl().backward();
  check_gradients_by_central_differences(kl, {mean, log_sigma, log_sd});
  // d²KL / d log_sd² = 2 exp(-2 log_sd) sum (sigma² + mean²), through the backward's graph.
  const auto first = torch::autograd::grad({kl()}, {log_sd}, {}, true, true)[0];
  const auto second = torch::autograd::grad({first}, {log_sd})[0];
  const double s1 = ((2 * log_sigma).exp() + mean.square()).sum().item<double>();
  CHECK(second.item<double>() == Approx(2 * std::exp(2.4) * s1).epsilon(1e-10));
}

TEST_CASE("random_signs: only +-1, balanced, on the device and dtype of the template",
          "[gaussian]") {
  torch::manual_seed(4);
  auto signs = bayesnn::random_signs(torch::empty({100000}, torch::kDouble));
  CHECK(signs.dtype() == torch::kDouble);
  CHECK(signs.abs().eq(1).all().item<bool>());
  // The mean of n fair signs has sd 1/sqrt(n) = 0.0032; 4 sd.
  CHECK(std::abs(signs.mean().item<double>()) < 4 / std::sqrt(100000.0));
}
