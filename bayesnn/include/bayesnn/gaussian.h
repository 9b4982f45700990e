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

/// KL(N(mean, sigma²) || N(prior_mean, prior_sd²)) summed over elements, sigma = exp(log_sigma),
/// elementwise prior means and sds (broadcast against `mean`):
/// sum_i [ log s_i - log_sigma_i + (sigma_i² + (mean_i - m_i)²) / (2 s_i²) - 1/2 ].
/// Differentiable in `mean` and `log_sigma` (and in the prior's tensors, where they need it).
at::Tensor kl_normal(const at::Tensor& mean, const at::Tensor& log_sigma,
                     const at::Tensor& prior_mean, const at::Tensor& prior_sd);

/// KL(q(w) q(log s) || p(w | s) p(s)) for the hierarchical prior s ~ HalfNormal(tau),
/// w | s ~ N(0, s²), with q(w) = N(mean, sigma²) per element and q(log s) = N(m, v),
/// v = exp(2 log_scale_log_sigma). Closed form, n = numel(mean):
///   E[log p(w|s)]   = sum_i [ -1/2 log 2pi - m - 1/2 exp(-2m + 2v) (mean_i² + sigma_i²) ]
///   E[log p(log s)] = 1/2 log(2/pi) - log tau - exp(2m + 2v) / (2 tau²) + m
///   E[log q(w)]     = sum_i [ -1/2 log(2 pi e) - log sigma_i ]
///   E[log q(log s)] = -1/2 log(2 pi e v)
///   KL = E[log q(w)] + E[log q(log s)] - E[log p(w|s)] - E[log p(log s)].
at::Tensor kl_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                           const at::Tensor& log_scale_mean, const at::Tensor& log_scale_log_sigma,
                           double tau);

/// The same KL from the sums s = `gaussian_sums(mean, log_sigma)` of n elements.
at::Tensor kl_hierarchical_from_sums(const at::Tensor& sums, const at::Tensor& log_scale_mean,
                                     const at::Tensor& log_scale_log_sigma, int64_t n, double tau);

/// KL(q(w) q(log s) || p(w | s) p(s)) for the per-unit hierarchical prior: one scale s_j per
/// unit j (the first dimension of `mean`: a Linear weight's row, a Conv2d kernel's output
/// channel, a bias's element), s_j ~ HalfNormal(tau), w_ji | s_j ~ N(0, s_j²), with
/// q(log s_j) = N(m_j, v_j), v_j = exp(2 log_scale_log_sigma_j). `kl_hierarchical`'s closed
/// form per unit, summed: with n_j elements per unit, S0_j = sum_i log sigma_ji and
/// S1_j = sum_i (sigma_ji² + mean_ji²),
///   KL = sum_j [ n_j (m_j - 1/2) - S0_j + 1/2 exp(-2 m_j + 2 v_j) S1_j - 1/2 log(2 pi e v_j)
///                - 1/2 log(2/pi) + log tau + exp(2 m_j + 2 v_j) / (2 tau²) - m_j ].
/// `log_scale_mean` and `log_scale_log_sigma` have shape [mean.size(0)].
at::Tensor kl_unit_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                                const at::Tensor& log_scale_mean,
                                const at::Tensor& log_scale_log_sigma, double tau);

/// sum_i log p(w_i) under the scale mixture p(w) = pi N(w; 0, sigma1²) + (1 - pi) N(w; 0,
/// sigma2²) (Blundell et al. 2015), differentiable in `w`; evaluated stably (log-sum-exp).
at::Tensor scale_mixture_log_density(const at::Tensor& w, double pi, double sigma1, double sigma2);

/// The entropy of q = N(mean, exp(log_sigma)²) summed over elements:
/// n/2 log(2 pi e) + sum_i log_sigma_i.
at::Tensor gaussian_entropy(const at::Tensor& log_sigma);

/// -log HalfNormal(s; tau) = -1/2 log(2/pi) + log tau + s² / (2 tau²), with s = exp(log_s):
/// the MAP penalty of an empirical-Bayes prior scale under a HalfNormal hyperprior.
at::Tensor neg_log_half_normal(const at::Tensor& log_s, double tau);

}  // namespace bayesnn
