// The AVX2 kernel of the fused Gaussian term. This file is compiled with -mavx2 -mfma, so it
// includes no header with inline C++ functions (<cmath>, <cstring>): an AVX2 copy of one could
// stand in for the copy another file shares, on a CPU without AVX2. Its own helpers have internal
// linkage; the C headers' intrinsics are always inlined. Callers check the CPU first
// (avx2_noise_available(), noise.h).
#include "kernels/fused_gaussian_avx2.h"

#include <sleef.h>

namespace bayesnn::avx2 {
namespace {

float scalar_term(GaussianTerm term, float mean, float sigma, float noise) {
  return term == GaussianTerm::kDraw           ? mean + sigma * noise
         : term == GaussianTerm::kPerturbation ? sigma * noise
                                               : sigma * sigma;
}

// The four lanes of each half of x, widened and added: four double partial sums.
__m256d widen_sum(__m256 x) {
  return _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                       _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
}

double horizontal_sum(__m256d x) {
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, x);
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}
}  // namespace

void gaussian_term(GaussianTerm term, const float* mean, const float* log_sigma, float* inout,
                   float* sigma, int64_t n, double sums[2]) {
  __m256d log_sum = _mm256_setzero_pd(), square_sum = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 ls = _mm256_loadu_ps(log_sigma + i);
    const __m256 m = _mm256_loadu_ps(mean + i);
    const __m256 s = Sleef_expf8_u10avx2(ls);
    if (sigma != nullptr) _mm256_storeu_ps(sigma + i, s);
    const __m256 out =
        term == GaussianTerm::kDraw           ? _mm256_fmadd_ps(s, _mm256_loadu_ps(inout + i), m)
        : term == GaussianTerm::kPerturbation ? _mm256_mul_ps(s, _mm256_loadu_ps(inout + i))
                                              : _mm256_mul_ps(s, s);
    _mm256_storeu_ps(inout + i, out);
    log_sum = _mm256_add_pd(log_sum, widen_sum(ls));
    // sigma² + mean² in float, one rounding (relative 2^-24, unbiased), then added in double:
    // squaring in double made the kernel some 7 % slower, for no change in a float sum.
    square_sum = _mm256_add_pd(square_sum, widen_sum(_mm256_fmadd_ps(s, s, _mm256_mul_ps(m, m))));
  }
  sums[0] = horizontal_sum(log_sum);
  sums[1] = horizontal_sum(square_sum);
  for (; i < n; ++i) {
    const float s = __builtin_expf(log_sigma[i]);
    if (sigma != nullptr) sigma[i] = s;
    inout[i] = scalar_term(term, mean[i], s, inout[i]);
    sums[0] += log_sigma[i];
    sums[1] += static_cast<double>(s) * s + static_cast<double>(mean[i]) * mean[i];
  }
}

}  // namespace bayesnn::avx2
