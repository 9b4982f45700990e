// The CPU noise (bayesnn/src/noise.h): its distribution, seeding and thread-count invariance, on
// the AVX2 path where this CPU takes it and on LibTorch's generator (double) everywhere.
#include "support/catch.h"

#include <cmath>

#include <torch/torch.h>

#include "bayesnn/gaussian.h"
#include "noise.h"
#if BAYESNN_HAVE_AVX2_NOISE
#include "noise_avx2.h"
#endif

namespace {
// Kolmogorov-Smirnov distance between the samples and N(0, 1).
double ks_distance_to_standard_normal(const torch::Tensor& samples) {
  const auto sorted = std::get<0>(samples.to(torch::kDouble).flatten().sort());
  const auto n = sorted.numel();
  const auto cdf = 0.5 * torch::erfc(-sorted / std::sqrt(2.0));
  const auto rank = torch::arange(1, n + 1, torch::kDouble) / static_cast<double>(n);
  const auto above = (rank - cdf).max().item<double>();
  const auto below = (cdf - (rank - 1.0 / static_cast<double>(n))).max().item<double>();
  return std::max(above, below);
}

// Checks that the samples are N(0, 1): the Kolmogorov-Smirnov distance under its 0.1 % critical
// value 1.95 / sqrt(n), the mean, variance and fourth moment within 5 standard errors, the
// fraction beyond 3 within 5 standard errors of 2 (1 - Phi(3)) = 0.0026998.
void check_standard_normal(const torch::Tensor& samples) {
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
}  // namespace

TEST_CASE("standard_normal_like: N(0, 1) in float and double, any length", "[noise]") {
  INFO("AVX2 path: " << bayesnn::avx2_noise_available());
  torch::manual_seed(11);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    // An odd length: several blocks and a partial last one.
    const auto noise = bayesnn::standard_normal_like(torch::empty({1000003}, dtype));
    CHECK(noise.dtype() == dtype);
    CHECK(noise.sizes() == torch::IntArrayRef{1000003});
    check_standard_normal(noise);
  }
  for (const int64_t n : {1, 15, 17, 1000}) {
    CHECK(bayesnn::standard_normal_like(torch::empty({n})).numel() == n);
  }
  CHECK(bayesnn::standard_normal_like(torch::empty({0})).numel() == 0);
}

TEST_CASE("standard_normal_like: the seed decides the numbers, the thread count does not",
          "[noise]") {
  const auto like = torch::empty({3, 100000});
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  torch::manual_seed(5);
  const auto one_thread = bayesnn::standard_normal_like(like);
  torch::set_num_threads(2);
  torch::manual_seed(5);
  const auto two_threads = bayesnn::standard_normal_like(like);
  const auto next = bayesnn::standard_normal_like(like);
  torch::set_num_threads(threads);
  CHECK(torch::equal(one_thread, two_threads));
  CHECK(!torch::equal(two_threads, next));
  // Successive draws and neighbouring elements are uncorrelated: |r| < 5 / sqrt(n).
  const auto a = two_threads.flatten(), b = next.flatten();
  const double n = static_cast<double>(a.numel());
  CHECK(std::abs((a * b).mean().item<double>()) < 5 / std::sqrt(n));
  CHECK(std::abs((a.slice(0, 1) * a.slice(0, 0, -1)).mean().item<double>()) < 5 / std::sqrt(n));
}

TEST_CASE("gaussian_term_with_sums: a draw, a perturbation or the variance, with the KL's sums",
          "[noise]") {
  using bayesnn::GaussianTerm;
  torch::manual_seed(3);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    const auto mean = torch::randn({700, 1001}, dtype);
    const auto log_sigma = torch::rand({700, 1001}, dtype) * 4 - 3;
    const auto sigma = log_sigma.exp();
    const double tolerance = dtype == torch::kFloat ? 1e-5 : 1e-12;
    for (const auto kind :
         {GaussianTerm::kDraw, GaussianTerm::kPerturbation, GaussianTerm::kVariance}) {
      const auto [term, sigma_out, sums] = bayesnn::gaussian_term_with_sums(kind, mean, log_sigma);
      if (kind == GaussianTerm::kVariance) {
        CHECK_FALSE(sigma_out.defined());  // the term is sigma² itself
      } else {
        CHECK(torch::allclose(sigma_out, sigma, tolerance, tolerance));
      }
      const double log_sum = log_sigma.to(torch::kDouble).sum().item<double>();
      const double square_sum =
          (sigma.square() + mean.square()).to(torch::kDouble).sum().item<double>();
      CHECK(sums[0].item<double>() == Approx(log_sum).epsilon(tolerance));
      CHECK(sums[1].item<double>() == Approx(square_sum).epsilon(tolerance));
      switch (kind) {
        case GaussianTerm::kDraw:
          check_standard_normal((term - mean) / sigma);
          break;
        case GaussianTerm::kPerturbation:
          check_standard_normal(term / sigma);
          break;
        case GaussianTerm::kVariance:
          CHECK(torch::allclose(term, sigma.square(), tolerance, tolerance));
          break;
      }
    }
  }
}

#if BAYESNN_HAVE_AVX2_NOISE
TEST_CASE("avx2 kernels: a partial tail continues the stream, each term matches its formula",
          "[noise]") {
  if (!bayesnn::avx2_noise_available()) {
    WARN("this CPU has no AVX2 and FMA: the AVX2 kernels are not run");
    return;
  }
  std::vector<float> full(48), part(37);
  bayesnn::avx2::fill_standard_normal(full.data(), 48, 42);
  bayesnn::avx2::fill_standard_normal(part.data(), 37, 42);
  CHECK(std::equal(part.begin(), part.end(), full.begin()));

  // Each term, on a length with a partial last vector.
  const auto mean = torch::randn({1003});
  const auto log_sigma = torch::randn({1003});
  const auto noise = torch::randn({1003});
  const auto sigma = log_sigma.exp();
  const torch::Tensor expected[] = {mean + sigma * noise, sigma * noise, sigma.square()};
  for (int term = 0; term < 3; ++term) {
    auto inout = noise.clone();
    auto sigma_out = torch::empty({1003});
    double sums[2];
    bayesnn::avx2::gaussian_term(term, mean.data_ptr<float>(), log_sigma.data_ptr<float>(),
                                 inout.data_ptr<float>(), sigma_out.data_ptr<float>(), 1003, sums);
    CHECK(torch::allclose(inout, expected[term], 1e-5, 1e-6));
    CHECK(torch::allclose(sigma_out, sigma, 1e-5, 1e-6));
    // The kernel sums in float lanes: its error is bounded by the terms' magnitudes, and this sum
    // of terms of both signs nearly cancels (clang's build lands 1e-3 from it, relatively).
    CHECK(sums[0] == Approx(log_sigma.sum().item<double>())
                         .epsilon(1e-5)
                         .margin(1e-6 * log_sigma.abs().sum().item<double>()));
    CHECK(sums[1] == Approx((sigma.square() + mean.square()).sum().item<double>()).epsilon(1e-5));
  }
}
#endif
