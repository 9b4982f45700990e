// The fused Gaussian term (bayesnn/src/kernels/fused_gaussian.h): a draw, a perturbation or the
// variance of q with the KL's sums from one pass, on the AVX2 path where this CPU takes it and the
// portable one (double, and the sums alone) everywhere; the sums' precision.
#include "support/catch.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "kernels/fused_gaussian.h"
#include "kernels/noise.h"
#include "support/standard_normal.h"
#if BAYESNN_HAVE_AVX2_NOISE
#include "kernels/fused_gaussian_avx2.h"
#endif

using bayesnn::GaussianTerm;
using bayesnn_test::check_standard_normal;

namespace {
// The spacing of floats at the float nearest x: one unit in the last place.
double float_ulp(double x) {
  const float f = std::abs(static_cast<float>(x));
  return std::nextafter(f, std::numeric_limits<float>::infinity()) - f;
}

// The elements added one by one into a float, as a float accumulator adds them.
double float_accumulated_sum(const torch::Tensor& x) {
  const auto values = x.contiguous();
  const float* p = values.data_ptr<float>();
  float sum = 0;
  for (int64_t i = 0; i < values.numel(); ++i) sum += p[i];
  return sum;
}

// Checks sums = [sum log_sigma, sum (sigma² + mean²)] within one float ulp of the exact sums of
// the float terms (in double, whose rounding is a billionth of a float's here).
void check_sums_to_a_float_ulp(const torch::Tensor& sums, const torch::Tensor& mean,
                               const torch::Tensor& log_sigma, const torch::Tensor& sigma) {
  const double exact[] = {
      log_sigma.to(torch::kDouble).sum().item<double>(),
      (sigma.to(torch::kDouble).square() + mean.to(torch::kDouble).square()).sum().item<double>()};
  for (int k = 0; k < 2; ++k) {
    INFO("sum " << k << ": " << sums[k].item<double>() << ", exact " << exact[k]);
    CHECK(std::abs(sums[k].item<double>() - exact[k]) <= float_ulp(exact[k]));
  }
}
}  // namespace

TEST_CASE("gaussian_term_with_sums: a draw, a perturbation or the variance, with the KL's sums",
          "[fused_gaussian]") {
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
TEST_CASE(
    "avx2 gaussian_term: each term matches its formula, on a length with a partial last "
    "vector",
    "[fused_gaussian]") {
  if (!bayesnn::avx2_noise_available()) {
    WARN("this CPU has no AVX2 and FMA: the AVX2 kernels are not run");
    return;
  }
  torch::manual_seed(4);
  const auto mean = torch::randn({1003});
  const auto log_sigma = torch::randn({1003});
  const auto noise = torch::randn({1003});
  const auto sigma = log_sigma.exp();
  const torch::Tensor expected[] = {mean + sigma * noise, sigma * noise, sigma.square()};
  for (const auto term :
       {GaussianTerm::kDraw, GaussianTerm::kPerturbation, GaussianTerm::kVariance}) {
    auto inout = noise.clone();
    auto sigma_out = torch::empty({1003});
    double sums[2];
    bayesnn::avx2::gaussian_term(term, mean.data_ptr<float>(), log_sigma.data_ptr<float>(),
                                 inout.data_ptr<float>(), sigma_out.data_ptr<float>(), 1003, sums);
    CHECK(torch::allclose(inout, expected[static_cast<int>(term)], 1e-5, 1e-6));
    CHECK(torch::allclose(sigma_out, sigma, 1e-5, 1e-6));
    // The reference sums in float: its error is bounded by the terms' magnitudes, and this sum
    // of terms of both signs nearly cancels.
    CHECK(sums[0] == Approx(log_sigma.sum().item<double>())
                         .epsilon(1e-5)
                         .margin(1e-6 * log_sigma.abs().sum().item<double>()));
    CHECK(sums[1] == Approx((sigma.square() + mean.square()).sum().item<double>()).epsilon(1e-5));
  }
}
#endif

TEST_CASE(
    "gaussian sums: within one float ulp of the exact sums on every path, where a float "
    "accumulator drifts by many",
    "[fused_gaussian]") {
  torch::manual_seed(12);
  // Three million elements, as many as the largest weight tensors of the article's networks.
  const auto mean = torch::randn({1000, 3001}) * 0.5;
  const auto log_sigma = torch::rand({1000, 3001}) * 4 - 3;
  const auto sigma = log_sigma.exp();
  // Why double: a float accumulator lands many units in the last place from the exact sum.
  const double exact_squares =
      (sigma.to(torch::kDouble).square() + mean.to(torch::kDouble).square()).sum().item<double>();
  const double float_drift =
      std::abs(float_accumulated_sum(sigma.square() + mean.square()) - exact_squares);
  INFO("a float accumulator is " << float_drift / float_ulp(exact_squares) << " ulps off");
  CHECK(float_drift > 10 * float_ulp(exact_squares));

  SECTION("the fused term (the AVX2 kernel where this CPU has AVX2)") {
    const auto fused = bayesnn::gaussian_term_with_sums(GaussianTerm::kDraw, mean, log_sigma);
    check_sums_to_a_float_ulp(fused.sums, mean, log_sigma, fused.sigma);
  }
  SECTION("the sums alone (the portable blocks)") {
    check_sums_to_a_float_ulp(bayesnn::fused_gaussian_sums(mean, log_sigma), mean, log_sigma,
                              sigma);
  }
  SECTION("strided tensors (ATen's reductions, as on other devices)") {
    const auto fused =
        bayesnn::gaussian_term_with_sums(GaussianTerm::kDraw, mean.t(), log_sigma.t());
    check_sums_to_a_float_ulp(fused.sums, mean.t(), log_sigma.t(), fused.sigma);
  }
}

TEST_CASE("gaussian sums: the same bits for any thread count", "[fused_gaussian]") {
  const auto mean = torch::randn({1000, 3001});
  const auto log_sigma = torch::randn({1000, 3001}) - 1;
  const int threads = torch::get_num_threads();
  torch::Tensor term_sums[2], sums[2];
  for (const int count : {1, 2}) {
    torch::set_num_threads(count);
    torch::manual_seed(13);
    term_sums[count - 1] =
        bayesnn::gaussian_term_with_sums(GaussianTerm::kPerturbation, mean, log_sigma).sums;
    sums[count - 1] = bayesnn::fused_gaussian_sums(mean, log_sigma);
  }
  torch::set_num_threads(threads);
  CHECK(torch::equal(term_sums[0], term_sums[1]));
  CHECK(torch::equal(sums[0], sums[1]));
}
