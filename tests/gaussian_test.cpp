#include "support/catch.h"

#include <cmath>
#include <functional>

#include <torch/torch.h>

#include "bayesnn/gaussian.h"
#include "bayesnn/prior.h"  // the families' KL maths
#include "support/kl_checks.h"

using bayesnn_test::check_gradients_by_central_differences;
using bayesnn_test::mean_and_standard_error;
using bayesnn_test::normal_log_density;

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

TEST_CASE("kl_normal: equals a Monte Carlo estimate within 4 standard errors, per-element prior",
          "[gaussian]") {
  torch::manual_seed(2);
  auto mean = torch::randn({6}, torch::kDouble) * 0.2;
  auto log_sigma = torch::randn({6}, torch::kDouble) * 0.3 - 1.5;
  auto prior_mean = torch::randn({6}, torch::kDouble) * 0.2;
  auto prior_sd = torch::rand({6}, torch::kDouble) * 0.3 + 0.05;
  const double exact = bayesnn::kl_normal(mean, log_sigma, prior_mean, prior_sd).item<double>();
  const int64_t draws = 200000;
  auto w = mean + log_sigma.exp() * torch::randn({draws, 6}, torch::kDouble);
  auto log_q = normal_log_density(w, mean, log_sigma).sum(1);
  auto log_p = normal_log_density(w, prior_mean, prior_sd.log()).sum(1);
  const auto [estimate, se] = mean_and_standard_error(log_q - log_p);
  INFO("exact " << exact << ", MC " << estimate << " +- " << se);
  CHECK(std::abs(exact - estimate) < 4 * se);
  CHECK(se < 0.01 * std::abs(exact));  // precise enough that a wrong term would show
}

TEST_CASE("kl_normal: zero at q = p, and with a zero-mean scalar prior it is kl_normal_zero_mean",
          "[gaussian]") {
  torch::manual_seed(3);
  auto mean = torch::randn({4, 3}, torch::kDouble);
  auto sd = torch::rand({4, 3}, torch::kDouble) + 0.1;
  CHECK(bayesnn::kl_normal(mean, sd.log(), mean, sd).item<double>() == Approx(0.0).margin(1e-12));
  auto log_sigma = torch::randn({4, 3}, torch::kDouble) - 2;
  const auto zero_mean = bayesnn::kl_normal(mean, log_sigma, torch::zeros({}, torch::kDouble),
                                            torch::full({}, 0.3, torch::kDouble));
  const auto reference =
      bayesnn::kl_normal_zero_mean(mean, log_sigma, torch::full({}, std::log(0.3), torch::kDouble));
  CHECK(zero_mean.item<double>() == Approx(reference.item<double>()).epsilon(1e-12));
}

TEST_CASE("kl_normal: gradients match finite differences", "[gaussian]") {
  torch::manual_seed(4);
  auto mean = torch::randn({5}, torch::kDouble).requires_grad_();
  auto log_sigma = (torch::randn({5}, torch::kDouble) - 1).requires_grad_();
  const auto prior_mean = torch::randn({5}, torch::kDouble);
  const auto prior_sd = torch::rand({5}, torch::kDouble) + 0.2;
  auto kl = [&] { return bayesnn::kl_normal(mean, log_sigma, prior_mean, prior_sd); };
  kl().backward();
  check_gradients_by_central_differences(kl, {mean, log_sigma});
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

TEST_CASE("kl_unit_hierarchical: equals a Monte Carlo estimate over w and every log s_j",
          "[gaussian]") {
  torch::manual_seed(6);
  const int64_t units = 3, n = 4;
  auto mean = torch::randn({units, n}, torch::kDouble) * 0.3;
  auto log_sigma = torch::randn({units, n}, torch::kDouble) * 0.2 - 1.0;
  auto m = torch::tensor({std::log(0.4), std::log(0.05), std::log(1.5)}, torch::kDouble);
  auto lsl = torch::tensor({std::log(0.3), std::log(0.1), std::log(0.5)}, torch::kDouble);
  const double tau = 0.8;
  const auto exact = bayesnn::kl_unit_hierarchical(mean, log_sigma, m, lsl, tau);

  const int64_t draws = 400000;
  auto u = m + lsl.exp() * torch::randn({draws, units}, torch::kDouble);  // log s_j
  auto w = mean + log_sigma.exp() * torch::randn({draws, units, n}, torch::kDouble);
  auto log_q =
      normal_log_density(w, mean, log_sigma).sum({1, 2}) + normal_log_density(u, m, lsl).sum(1);
  auto log_p_w =
      normal_log_density(w, torch::zeros({}, torch::kDouble), u.unsqueeze(2)).sum({1, 2});
  // HalfNormal(tau) density of s = exp(u), times the Jacobian ds/du = s.
  auto log_p_u =
      (0.5 * std::log(2 / M_PI) - std::log(tau) - (2 * u).exp() / (2 * tau * tau) + u).sum(1);
  const auto [estimate, se] = mean_and_standard_error(log_q - log_p_w - log_p_u);
  INFO("exact " << exact.item<double>() << ", MC " << estimate << " +- " << se);
  CHECK(std::abs(exact.item<double>() - estimate) < 4 * se);
}

TEST_CASE("kl_unit_hierarchical: one unit is kl_hierarchical, and units add up", "[gaussian]") {
  torch::manual_seed(7);
  auto mean = torch::randn({3, 2, 5}, torch::kDouble) * 0.2;  // 3 units of 10 elements
  auto log_sigma = torch::randn({3, 2, 5}, torch::kDouble) * 0.3 - 2.0;
  auto m = torch::tensor({-1.0, -2.0, -0.5}, torch::kDouble);
  auto lsl = torch::tensor({-1.5, -2.5, -1.0}, torch::kDouble);
  double sum = 0;
  for (int64_t j = 0; j < 3; ++j) {
    sum += bayesnn::kl_hierarchical(mean[j], log_sigma[j], m[j], lsl[j], 1.3).item<double>();
  }
  CHECK(bayesnn::kl_unit_hierarchical(mean, log_sigma, m, lsl, 1.3).item<double>() ==
        Approx(sum).epsilon(1e-12));
  CHECK(bayesnn::kl_unit_hierarchical(mean[0].reshape({1, 10}), log_sigma[0].reshape({1, 10}),
                                      m.slice(0, 0, 1), lsl.slice(0, 0, 1), 1.3)
            .item<double>() ==
        Approx(bayesnn::kl_hierarchical(mean[0], log_sigma[0], m[0], lsl[0], 1.3).item<double>())
            .epsilon(1e-12));
}

TEST_CASE("kl_unit_hierarchical: gradients match finite differences, and shapes are checked",
          "[gaussian]") {
  torch::manual_seed(8);
  auto mean = (torch::randn({3, 4}, torch::kDouble) * 0.3).requires_grad_();
  auto log_sigma = (torch::randn({3, 4}, torch::kDouble) * 0.2 - 1.0).requires_grad_();
  auto m = torch::tensor({-1.0, -0.3, -2.0}, torch::kDouble).requires_grad_();
  auto lsl = torch::tensor({-1.5, -1.0, -2.0}, torch::kDouble).requires_grad_();
  auto kl = [&] { return bayesnn::kl_unit_hierarchical(mean, log_sigma, m, lsl, 0.7); };
  kl().backward();
  check_gradients_by_central_differences(kl, {mean, log_sigma, m, lsl});
  torch::NoGradGuard no_grad;
  REQUIRE_THROWS_WITH(bayesnn::kl_unit_hierarchical(mean, log_sigma, m.slice(0, 0, 2), lsl, 0.7),
                      Catch::Contains("expected one log scale per unit, shape [3], got [2]"));
  REQUIRE_THROWS_WITH(bayesnn::kl_unit_hierarchical(mean, log_sigma.t(), m, lsl, 0.7),
                      Catch::Contains("expected a mean and log_sigma of one shape"));
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
