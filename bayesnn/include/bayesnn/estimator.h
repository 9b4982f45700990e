#pragma once

#include <functional>
#include <string>

#include <ATen/ATen.h>

#include "bayesnn/variational_tensor.h"

namespace bayesnn {

/// Which Monte Carlo estimator a Bayesian layer uses for its output in `Mode::kSample`.
enum class Estimator {
  /// One weight sample W = mean + sigma * eps per forward, shared by the whole minibatch
  /// (PyMC3's ADVI).
  kReparameterization,
  /// Kingma et al. 2015: sample the pre-activations, independent per example:
  /// y = x·meanᵀ + sqrt(x²·(sigma²)ᵀ) * eps.
  kLocalReparameterization,
  /// Wen et al. 2018: one perturbation dW = sigma * eps, decorrelated per example by random
  /// signs: y = x·meanᵀ + ((x ∘ s_in)·dWᵀ) ∘ s_out.
  kFlipout,
};

/// "reparam", "local" or "flipout": the names the experiments' command line takes.
std::string to_string(Estimator estimator);

/// Parses "reparam", "local" or "flipout"; throws `c10::Error` naming `name` otherwise.
Estimator parse_estimator(const std::string& name);

/// A layer operator y = op(x, W, b) that is linear in (W, b) for fixed x (linear, conv2d, ...);
/// `b` may be undefined (no bias).
using LinearOperator =
    std::function<at::Tensor(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b)>;

/// Where Flipout's random signs vary: per element of x and y (dense layers), or per example and
/// channel, broadcast over the trailing spatial dimensions (convolutions).
enum class SignLayout { kPerElement, kPerChannel };

/// One Monte Carlo draw of y = op(x, W, b) under q(W) (`weight`) and q(b) (`bias`, undefined
/// without bias), by `estimator`:
///   reparam: op(x, W, b) with W = weight.draw(), b = bias.draw(), one draw for the batch;
///   local:   op(x, mean_W, mean_b) + sqrt(op(x², sigma_W², sigma_b²)) ∘ eps, per example;
///   flipout: op(x, mean_W, b) + op(x ∘ s_in, sigma_W ∘ eps, -) ∘ s_out, s = random signs.
/// Each tensor's term comes from its fused pass, so its `kl()` in the same step reuses it.
/// A product weight w = z ∘ v (a group prior, `VariationalTensor::group_scales`): with the
/// scales on the input units, reparam draws both factors once, local and flipout draw z per
/// example and apply it to the input, op(x ∘ z, v), which needs an operator that contracts x's
/// dimension 1 with W's (dense layers, convolutions without groups; anything else throws); with
/// the scales on the output units (a convolution's filters; the bias shares them), every
/// estimator draws z per example and applies it to the output, z ∘ op(x, v, b).
/// The building block of `BayesLayer` (BayesLinear, BayesConv1d, BayesConv2d and users' layers).
at::Tensor sample_output(Estimator estimator, const LinearOperator& op, SignLayout signs,
                         const at::Tensor& x, const VariationalTensor& weight,
                         const VariationalTensor& bias);

}  // namespace bayesnn
