#pragma once

#include <cstdint>

#include <torch/arg.h>
#include <torch/types.h>

#include "bayesnn/model.h"

namespace bayesnn {

/// Options of `predict`.
struct PredictOptions {
  /// Inputs evaluated per forward: bounds memory, not the result.
  TORCH_ARG(int64_t, batch_size) = 1000;
  /// Where the forwards run (the model must already be there); inputs are moved batch by batch.
  TORCH_ARG(torch::Device, device) = torch::kCPU;
};

/// The posterior predictive of a classifier on a set of inputs.
struct Prediction {
  /// Per-sample class probabilities softmax(f_s(x)), [S, N, C], on the CPU
  /// (S = 1 for the posterior mean).
  torch::Tensor samples;
  /// Their mean over samples, the predictive p(y | x, D) ≈ 1/S sum_s softmax(f_s(x)), [N, C].
  torch::Tensor probs;
};

/// Draws `samples` posterior samples of the network on `inputs` [N, ...] and returns the
/// per-sample and mean class probabilities; `samples == 0` evaluates the posterior-mean network
/// (`Mode::kMean`) instead. Runs in eval mode under `NoGradGuard`, batched over inputs;
/// afterwards the model's Bayesian modules are in the modes they were in and its train/eval flag
/// is as before (`ModeGuard`; a module that held a draw in `Mode::kFrozen` holds a fresh one).
///
/// Example:
/// ```
/// auto prediction = bayesnn::predict(net, test.inputs, 100);
/// double accuracy = bayesnn::metrics::accuracy(prediction.probs, test.targets);
/// ```
Prediction predict(const Model& model, const torch::Tensor& inputs, int64_t samples,
                   const PredictOptions& options = {});

}  // namespace bayesnn
