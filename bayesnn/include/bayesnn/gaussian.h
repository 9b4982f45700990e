#pragma once

#include <ATen/ATen.h>

namespace bayesnn {

/// A reparameterized draw from N(mean, exp(log_sigma)²): mean + exp(log_sigma) * eps, eps ~ N(0,
/// I).
///
/// The noise follows the device and dtype of `mean`; on a CPU with AVX2 it comes from the
/// library's vectorized generator, seeded from LibTorch's (so `torch::manual_seed` decides it),
/// the same for any thread count. The draw's autograd node also computes the two sums of the
/// KLs below: a KL of the same parameters in the same step (before the draw's backward, with
/// the parameters unchanged) reuses them instead of a pass of its own, with the same value and
/// gradients.
at::Tensor sample_normal(const at::Tensor& mean, const at::Tensor& log_sigma);

/// Random signs, +1 or -1 with probability 1/2 each, with the shape, device and dtype of `like`.
at::Tensor random_signs(const at::Tensor& like);

/// KL(N(mean, sigma²) || N(0, sd²)) summed over elements, sigma = exp(log_sigma):
/// sum_i [ log sd - log_sigma_i + (sigma_i² + mean_i²) / (2 sd²) - 1/2 ].
///
/// `log_sd` is a scalar tensor (learned for empirical Bayes) or a constant.
at::Tensor kl_normal_zero_mean(const at::Tensor& mean, const at::Tensor& log_sigma,
                               const at::Tensor& log_sd);

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

/// -log HalfNormal(s; tau) = -1/2 log(2/pi) + log tau + s² / (2 tau²), with s = exp(log_s):
/// the MAP penalty of an empirical-Bayes prior scale under a HalfNormal hyperprior.
at::Tensor neg_log_half_normal(const at::Tensor& log_s, double tau);

}  // namespace bayesnn
