// Internal: which term of q(w) the fused Gaussian pass (fused_gaussian.h) yields. Plain C++ with
// no inline functions, so the AVX2 translation unit (fused_gaussian_avx2.h) may include it.
#pragma once

namespace bayesnn {

/// What a layer takes from q(w) = N(mean, sigma²), sigma = exp(log_sigma), eps ~ N(0, I):
/// a draw mean + sigma * eps (reparameterization), a perturbation sigma * eps (Flipout) or the
/// variance sigma² (local reparameterization).
enum class GaussianTerm : int { kDraw = 0, kPerturbation = 1, kVariance = 2 };

}  // namespace bayesnn
