#pragma once

#include <memory>
#include <string>

#include <torch/nn/module.h>

namespace bayesnn {

/// The likelihood p(y | f(x)) of a network's output, as a module so a learned noise scale is a
/// parameter the optimizer and the checkpoint see.
class Likelihood : public torch::nn::Module {
 public:
  /// Mean over the minibatch of -log p(y_i | output_i).
  virtual torch::Tensor nll(const torch::Tensor& output, const torch::Tensor& target) = 0;
  /// Whether the output is class logits (then the trainer reports accuracy).
  virtual bool is_classification() const = 0;
  /// "categorical", "gaussian(sd=0.1)", ...: for logs and metadata.
  virtual std::string name() const = 0;
};

/// Categorical likelihood from logits [N, C] and int64 labels [N]:
/// -log p(y | z) = -z_y + log sum_c exp(z_c) (cross entropy), averaged over the batch.
class CategoricalLikelihood : public Likelihood {
 public:
  torch::Tensor nll(const torch::Tensor& logits, const torch::Tensor& labels) override;
  bool is_classification() const override { return true; }
  std::string name() const override { return "categorical"; }
};

/// Gaussian likelihood y ~ N(f(x), sd²) for regression, outputs and targets [N, ...]:
/// -log p(y | f) = sum_d [ 1/2 log(2 pi sd²) + (y_d - f_d)² / (2 sd²) ], averaged over the batch.
/// With `learn_sd`, log sd is a parameter `log_noise_sd` learned with the network.
class GaussianLikelihood : public Likelihood {
 public:
  /// Noise sd `noise_sd` (positive, finite): fixed, or with `learn_sd` the initial value.
  explicit GaussianLikelihood(double noise_sd, bool learn_sd = false);
  torch::Tensor nll(const torch::Tensor& output, const torch::Tensor& target) override;
  bool is_classification() const override { return false; }
  std::string name() const override;
  /// The current noise sd.
  double noise_sd() const;

  /// log sd, a scalar: a parameter with `learn_sd`, else a buffer.
  torch::Tensor log_noise_sd;

 private:
  bool learn_sd_;
};

}  // namespace bayesnn
