// Internal: noise terms the estimators share (not part of the public headers).
#pragma once

#include <ATen/ATen.h>

namespace bayesnn {

/// Whether the CPU noise of float tensors takes the AVX2 path (noise_avx2.h): the library was
/// built with Sleef for x86-64 and this CPU has AVX2 and FMA. Elsewhere the noise comes from
/// LibTorch's generator: the same distribution, other numbers.
bool avx2_noise_available();

/// eps ~ N(0, I) with the shape, device and dtype of `like`. On the CPU the draws come in fixed
/// blocks, each from its own generator seeded from the default one, filled in parallel: the
/// same numbers for any thread count, and a step's noise no longer waits on one thread.
at::Tensor standard_normal_like(const at::Tensor& like);

/// What a layer takes from q(w) = N(mean, sigma²), sigma = exp(log_sigma), eps ~ N(0, I):
/// a draw mean + sigma * eps (reparameterization), a perturbation sigma * eps (Flipout) or the
/// variance sigma² (local reparameterization).
enum class GaussianTerm : int { kDraw = 0, kPerturbation = 1, kVariance = 2 };

/// The term with what the KL of the same parameters needs, from the same pass over them:
/// sigma (undefined for kVariance, whose term is sigma² already) and sums = [sum log_sigma,
/// sum (sigma² + mean²)] ([2], on the device and in the dtype of `mean`). `mean` and
/// `log_sigma` have the same shape; outside autograd.
struct TermWithSums {
  at::Tensor term, sigma, sums;
};
TermWithSums gaussian_term_with_sums(GaussianTerm kind, const at::Tensor& mean,
                                     const at::Tensor& log_sigma);

}  // namespace bayesnn
