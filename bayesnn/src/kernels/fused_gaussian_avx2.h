// Internal: the AVX2 kernel of the fused Gaussian term (fused_gaussian_avx2.cpp, compiled with
// -mavx2 -mfma and linked against Sleef when CMake finds it). Plain types only, so nothing
// compiled for AVX2 is shared with the rest of the library. Call it only where
// avx2_noise_available() (noise.h).
#pragma once

#include <cstdint>

#include "kernels/gaussian_term.h"

namespace bayesnn::avx2 {

/// With sigma[i] = exp(log_sigma[i]), for i < n: writes sigma[i] (unless sigma is null) and, by
/// `term`,
///   kDraw:         inout[i] = mean[i] + sigma[i] * inout[i]  (inout holds the noise)
///   kPerturbation: inout[i] = sigma[i] * inout[i]
///   kVariance:     inout[i] = sigma[i]²                      (inout's input unused)
/// and returns sums[0] = sum log_sigma[i], sums[1] = sum (sigma[i]² + mean[i]²), accumulated in
/// double.
void gaussian_term(GaussianTerm term, const float* mean, const float* log_sigma, float* inout,
                   float* sigma, int64_t n, double sums[2]);

}  // namespace bayesnn::avx2
