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

/// mean + exp(log_sigma) * eps, eps ~ N(0, I), or exp(log_sigma) * eps where `mean` is
/// undefined; outside autograd. On the CPU each block of draws is scaled while it is in cache.
at::Tensor perturbed(const at::Tensor& mean, const at::Tensor& log_sigma);

/// A draw mean + exp(log_sigma) * eps with what the KL of the same parameters needs, from the
/// same pass: sigma = exp(log_sigma) and sums = [sum log_sigma, sum (sigma² + mean²)] ([2], on
/// the device and in the dtype of `mean`). `mean` and `log_sigma` have the same shape.
struct DrawWithSums {
  at::Tensor draw, sigma, sums;
};
DrawWithSums perturbed_with_sums(const at::Tensor& mean, const at::Tensor& log_sigma);

/// exp(log_sigma) * eps, eps ~ N(0, I) with the shape, device and dtype of `log_sigma`: a
/// zero-mean weight perturbation as one autograd node whose backward needs only its output
/// (d/d log_sigma = the perturbation itself), so no noise or sigma is kept for the backward.
at::Tensor scaled_noise(const at::Tensor& log_sigma);

}  // namespace bayesnn
