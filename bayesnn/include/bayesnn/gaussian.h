#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace bayesnn {

/// A reparameterized draw from N(mean, exp(log_sigma)²): mean + exp(log_sigma) * eps, eps ~ N(0,
/// I).
///
/// The noise follows the device and dtype of `mean`; on a CPU with AVX2 it comes from the
/// library's vectorized generator, seeded from LibTorch's (so `torch::manual_seed` decides it),
/// the same for any thread count. (A layer's `VariationalTensor` draws through the same pass and
/// also keeps the KL's sums of it.)
at::Tensor sample_normal(const at::Tensor& mean, const at::Tensor& log_sigma);

/// Random signs, +1 or -1 with probability 1/2 each, with the shape, device and dtype of `like`.
at::Tensor random_signs(const at::Tensor& like);

/// [sum_i log_sigma_i, sum_i (sigma_i² + mean_i²)], sigma = exp(log_sigma): the two sums every
/// closed-form Gaussian KL here needs ([2], differentiable, one pass on the CPU).
at::Tensor gaussian_sums(const at::Tensor& mean, const at::Tensor& log_sigma);

/// KL(N(mean, sigma²) || N(0, sd²)) summed over elements, sigma = exp(log_sigma):
/// sum_i [ log sd - log_sigma_i + (sigma_i² + mean_i²) / (2 sd²) - 1/2 ].
///
/// `log_sd` is a scalar tensor (learned for empirical Bayes) or a constant.
at::Tensor kl_normal_zero_mean(const at::Tensor& mean, const at::Tensor& log_sigma,
                               const at::Tensor& log_sd);

/// The same KL from the sums s = `gaussian_sums(mean, log_sigma)` of n elements:
/// n (log sd - 1/2) - s[0] + s[1] / (2 sd²).
at::Tensor kl_normal_zero_mean_from_sums(const at::Tensor& sums, const at::Tensor& log_sd,
                                         int64_t n);

/// The entropy of q = N(mean, exp(log_sigma)²) summed over elements:
/// n/2 log(2 pi e) + sum_i log_sigma_i.
at::Tensor gaussian_entropy(const at::Tensor& log_sigma);

}  // namespace bayesnn
