#pragma once

#include <memory>
#include <optional>
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "bayesnn/mode.h"
#include "bayesnn/prior_module.h"

namespace bayesnn {

/// One weight or bias tensor with a mean-field Gaussian posterior q(w) = N(mean,
/// exp(log_sigma)²) and its prior: the unit of bayesnn. A layer is its variational tensors and
/// an operator.
///
/// It is a handle (copies share one state, as `torch::Tensor` does) holding: the `mean` and
/// `log_sigma` parameters (views of the tensors its owner registered as `<name>_mean` and
/// `<name>_log_sigma`), its prior (the owner's child module `<name>_prior`), the draw held in
/// `Mode::kFrozen`, and this step's fused pass: the term the estimator took from q (a draw, a
/// perturbation or the variance) was computed in one pass with the two sums of the closed-form
/// KLs, which `kl()` then reuses, with the same value and gradients, while that step's graph
/// is alive, its backward has not run and the parameters are unchanged (else it computes them
/// afresh). Nothing is cached anywhere else.
///
/// Under a non-centred prior (`Prior::group_horseshoe`, `Prior::group_normal_jeffreys`) it is
/// a product tensor w = z ∘ v: `mean`, `log_sigma`, `sums`, `perturbation`, `variance`,
/// `gaussian_draw` and `current_draw` are those of the Gaussian factor v, `group_scales()` is
/// q(z) along the dimension the owner chose (`unit_dim`: 1, input units, or 0, output units),
/// and `draw`, `value` and the held draw are of w (a draw of v times a draw of z; E[z] ∘ mean).
/// A bias whose layer's scales sit on its outputs shares them (`share_scales`): its value is
/// E[z] ∘ mean and its held draw takes the weight's held z. The estimators take z per example
/// (`sample_output`).
///
/// Example:
/// ```
/// struct ScaleImpl : torch::nn::Cloneable<ScaleImpl> {
///   ScaleImpl() { reset(); }
///   void reset() override {
///     scale = bayesnn::VariationalTensor(*this, "scale", {1}, bayesnn::Prior::fixed(1.0));
///   }
///   torch::Tensor forward(const torch::Tensor& x) { return x * scale.draw(); }
///   bayesnn::VariationalTensor scale;
/// };
/// ```
class VariationalTensor {
 public:
  /// An undefined tensor (a layer without bias).
  VariationalTensor() = default;
  /// Registers `<name>_mean` and `<name>_log_sigma` of `shape` (uninitialised) and the prior
  /// module `<name>_prior` on `owner`; a group prior's unit scales lie along `unit_dim`.
  VariationalTensor(torch::nn::Module& owner, const std::string& name, at::IntArrayRef shape,
                    const Prior& prior, int64_t unit_dim = 1);
  /// A variational tensor over existing parameters, registered nowhere; `prior` may be empty
  /// (then `kl()` throws).
  VariationalTensor(at::Tensor mean, at::Tensor log_sigma, PriorModule prior = nullptr);

  /// Whether this tensor exists (a layer without bias has an undefined one).
  bool defined() const { return state_ != nullptr; }
  /// The mean parameter.
  const at::Tensor& mean() const;
  /// The log-sigma parameter (log of the posterior sd, elementwise).
  const at::Tensor& log_sigma() const;
  /// The prior module (empty for an unregistered tensor without a prior).
  const PriorModule& prior() const;
  /// The prior module whose group scales this tensor carries: its own, or its weight's where it
  /// shares them (`share_scales`).
  const PriorModule& scales_prior() const;

  /// The posterior of the per-unit scales z of a product tensor w = z ∘ v (see the class
  /// comment); std::nullopt for a plain Gaussian one.
  std::optional<GroupScales> group_scales() const;
  /// Makes this tensor (a bias of [units]) a product with the scales of `weight`, whose units
  /// lie along its dimension 0: its `group_scales()` are then the weight's, its value E[z] ∘
  /// mean, its held draw the weight's held z times its own (take the weight's first).
  void share_scales(const VariationalTensor& weight);

  /// A draw W = mean + sigma ∘ eps, eps ~ N(0, I) (reparameterization), differentiable; of a
  /// product tensor, W = z ∘ (mean + sigma ∘ eps) with one draw of z.
  at::Tensor draw() const;
  /// A draw of the Gaussian factor alone, mean + sigma ∘ eps (of a plain tensor, `draw()`).
  at::Tensor gaussian_draw() const;
  /// A perturbation sigma ∘ eps (Flipout), differentiable.
  at::Tensor perturbation() const;
  /// The variance sigma² (local reparameterization), differentiable.
  at::Tensor variance() const;

  /// [sum log_sigma, sum (sigma² + mean²)]: this step's fused sums where still valid (see the
  /// class comment), else computed afresh. What closed-form priors need.
  at::Tensor sums() const;
  /// This step's draw where the estimator took one and it is still valid, else a fresh draw:
  /// what a Monte Carlo KL evaluates (the estimator shapes the likelihood term only).
  at::Tensor current_draw() const;
  /// KL(q || p) under its prior, a differentiable scalar (`PriorFamily::kl`).
  at::Tensor kl() const;

  /// Takes a draw to hold (`Mode::kFrozen`, outside autograd) or releases the held one.
  void set_mode(Mode mode) const;
  /// The held draw of `Mode::kFrozen` (undefined in other modes).
  const at::Tensor& held_draw() const;
  /// Of a product tensor in `Mode::kFrozen`, the held draw of its scales z, [units] (else
  /// undefined).
  const at::Tensor& held_scales() const;
  /// What a layer's operator uses in `mode` outside `Mode::kSample`: the posterior mean (of a
  /// product tensor E[z] ∘ mean) or the held draw; undefined for an undefined tensor.
  at::Tensor value(Mode mode) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace bayesnn
