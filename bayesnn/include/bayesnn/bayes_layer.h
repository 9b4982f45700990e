#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>

#include "bayesnn/bayes_module.h"
#include "bayesnn/estimator.h"
#include "bayesnn/prior.h"
#include "bayesnn/variational_tensor.h"

namespace bayesnn {

/// The shared base of Bayesian layers y = op(x, W, b) whose operator is linear in (W, b) for
/// fixed x (BayesLinear, BayesConv1d, BayesConv2d, a user's convolution): two variational tensors,
/// `weight` and an optional `bias`, each with its own prior, and the operator, evaluated by mode
/// and estimator. The derived layer registers them in `reset()` and calls `forward_operator` in
/// `forward()`; it gets the three estimators, every prior, `kl()`, `set_mode()` and the held
/// draw of `Mode::kFrozen` from here (as torch's `ConvNdImpl<D, Derived>` serves Conv1-3d).
///
/// Example: see `tests/extension_test.cpp` (a user's Conv1d layer in 25 lines).
template <typename Derived>
class BayesLayer : public torch::nn::Cloneable<Derived>, public BayesModule {
 public:
  VariationalTensor weight;  ///< q(W)
  VariationalTensor bias;    ///< q(b); undefined without bias
  /// The registered parameters under their names: the same tensors as `weight.mean()`,
  /// `weight.log_sigma()`, `bias.mean()`, `bias.log_sigma()` (undefined without bias).
  torch::Tensor weight_mean,
      weight_log_sigma,  ///< `weight.log_sigma()`: log of q(W)'s sd
      bias_mean,         ///< `bias.mean()`: q(b)'s means; undefined without bias
      bias_log_sigma;    ///< `bias.log_sigma()`: log of q(b)'s sd; undefined without bias
  /// The priors' modules, `weight.prior()` and `bias.prior()` (empty without bias).
  PriorModule weight_prior{nullptr},
      bias_prior{nullptr};  ///< `bias_prior` is `bias.prior()`, empty without bias

 protected:
  /// Registers `weight` of `weight_shape` and, with `has_bias`, `bias` of [weight_shape[0]],
  /// each with its own `prior` (without bias, `bias_mean` and `bias_log_sigma` are registered
  /// undefined, as torch's layers register their bias). A group prior's unit scales lie along
  /// the weight's `unit_dim`: 1, its input units (a dense layer's columns), or 0, its output
  /// units (a convolution's filters), which then scale the bias too (`share_scales`).
  void register_weight_and_bias(const std::vector<int64_t>& weight_shape, bool has_bias,
                                const Prior& prior, int64_t unit_dim = 1) {
    weight = register_variational("weight", weight_shape, prior, unit_dim);
    if (has_bias) {
      bias = register_variational("bias", {weight_shape.front()}, prior);
      const auto scales = weight.group_scales();
      if (scales && scales->dim == 0) bias.share_scales(weight);
    } else {
      bias = VariationalTensor();
      this->register_parameter("bias_mean", {}, /*requires_grad=*/false);
      this->register_parameter("bias_log_sigma", {}, /*requires_grad=*/false);
    }
    weight_mean = weight.mean();
    weight_log_sigma = weight.log_sigma();
    weight_prior = weight.prior();
    bias_mean = bias.defined() ? bias.mean() : torch::Tensor();
    bias_log_sigma = bias.defined() ? bias.log_sigma() : torch::Tensor();
    bias_prior = bias.defined() ? bias.prior() : PriorModule(nullptr);
  }

  /// Writes the initial values: means U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in the
  /// weight's elements per output unit (torch's Linear and Conv initialisation), every
  /// log-sigma `log_sigma_init`.
  void reset_weight_and_bias(double log_sigma_init) {
    torch::NoGradGuard no_grad;
    const double bound = 1.0 / std::sqrt(static_cast<double>(weight.mean()[0].numel()));
    for (const auto* tensor : {&weight, &bias}) {
      if (!tensor->defined()) continue;
      tensor->mean().uniform_(-bound, bound);
      tensor->log_sigma().fill_(log_sigma_init);
    }
  }

  /// y = op(x, W, b): in `Mode::kSample` one draw by `estimator` (`sample_output`), in
  /// `Mode::kFrozen` with the held draws, in `Mode::kMean` with the means.
  torch::Tensor forward_operator(const torch::Tensor& x, const LinearOperator& op, SignLayout signs,
                                 Estimator estimator) {
    if (mode() == Mode::kSample) return sample_output(estimator, op, signs, x, weight, bias);
    return op(x, weight.value(mode()), bias.value(mode()));
  }
};

}  // namespace bayesnn
