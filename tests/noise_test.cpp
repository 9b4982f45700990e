// The CPU noise (bayesnn/src/kernels/noise.h): its distribution, seeding and thread-count
// invariance, on the AVX2 path where this CPU takes it and on LibTorch's generator (double)
// everywhere.
#include "support/catch.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <torch/torch.h>

#include "kernels/noise.h"
#include "support/standard_normal.h"
#if BAYESNN_HAVE_AVX2_NOISE
#include "kernels/noise_avx2.h"
#endif

using bayesnn_test::check_standard_normal;

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

#if BAYESNN_HAVE_AVX2_NOISE
TEST_CASE("avx2 noise: a partial tail continues the stream", "[noise]") {
  if (!bayesnn::avx2_noise_available()) {
    WARN("this CPU has no AVX2 and FMA: the AVX2 kernels are not run");
    return;
  }
  std::vector<float> full(48), part(37);
  bayesnn::avx2::fill_standard_normal(full.data(), 48, 42);
  bayesnn::avx2::fill_standard_normal(part.data(), 37, 42);
  CHECK(std::equal(part.begin(), part.end(), full.begin()));
}
#endif
