#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "bayesnn/dataset.h"
#include "bayesnn/likelihood.h"
#include "bayesnn/model.h"

namespace bayesnn {

/// Options of `Trainer`: minibatch ADVI.
///
/// Example:
/// ```
/// auto options = bayesnn::TrainerOptions().epochs(10).batch_size(128).lr(1e-3)
///                    .kl_warmup_steps(1000).log_path("runs/mlp/log.jsonl");
/// ```
struct TrainerOptions {
  /// Total epochs `fit` trains to (a resumed run continues to this number).
  TORCH_ARG(int64_t, epochs) = 10;
  /// Minibatch size.
  TORCH_ARG(int64_t, batch_size) = 128;
  /// Adam's learning rate (ignored when the caller supplies its own optimizer).
  TORCH_ARG(double, lr) = 1e-3;
  /// The learning rate decays by a cosine from `lr` to `lr * lr_final_fraction` over all steps;
  /// 1 keeps it constant.
  TORCH_ARG(double, lr_final_fraction) = 1.0;
  /// Monte Carlo samples of the network per step; the NLL is averaged over them.
  TORCH_ARG(int64_t, train_samples) = 1;
  /// The weight of the KL term: loss = NLL + kl_weight * KL / N_train (1: the ELBO).
  TORCH_ARG(double, kl_weight) = 1.0;
  /// KL warm-up: kl_weight ramps linearly from 0 over the first this many steps (0: off).
  TORCH_ARG(int64_t, kl_warmup_steps) = 0;
  /// Clip the gradient's global L2 norm to this value (0: off).
  TORCH_ARG(double, grad_clip_norm) = 0.0;
  /// Drop the last partial batch of each epoch.
  TORCH_ARG(bool, drop_last) = false;
  /// Seeds the batch order and torch's global generators (the noise of the estimators).
  TORCH_ARG(uint64_t, seed) = 0;
  /// Where the model and batches live.
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// One JSON line per epoch is appended here ("" : no log).
  TORCH_ARG(std::string, log_path) = "";
  /// A checkpoint is written here after every epoch, atomically ("" : none).
  TORCH_ARG(std::string, checkpoint_path) = "";
  /// A progress line on a terminal (never when stderr is not a terminal).
  TORCH_ARG(bool, progress) = true;
  /// Calls `reuse_freed_memory()` (memory.h) when the trainer is built: freed tensors' memory
  /// stays in the process for the next step instead of being faulted in afresh.
  TORCH_ARG(bool, reuse_freed_memory) = true;
};

/// What one epoch of training did; also one line of the JSON log.
struct EpochStats {
  int64_t epoch = 0;             ///< 1-based epoch number
  int64_t step = 0;              ///< optimizer steps so far
  double elbo = 0;               ///< per datum: -(nll + kl / N), with the full KL weight
  double nll = 0;                ///< mean NLL over the epoch's examples
  double kl = 0;                 ///< KL(q || p) at the end of the epoch (whole model)
  double kl_weight = 0;          ///< the KL weight at the end of the epoch (after warm-up)
  double loss = 0;               ///< mean minimised loss: nll + kl_weight * kl / N
  double accuracy = 0;           ///< train accuracy of the sampled predictions (classification)
  double seconds = 0;            ///< wall time of the epoch
  double images_per_second = 0;  ///< examples per second
  double lr = 0;                 ///< learning rate at the end of the epoch
  std::map<std::string, double> prior_scales;  ///< every learned prior scale by name
};

/// The JSON line of `stats` (keys as the field names).
std::string to_json_line(const EpochStats& stats);

/// Thrown when the loss becomes NaN or infinite; the message names the step and the term.
class NonFiniteLossError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Minibatch ADVI: minimises the negative ELBO per datum, mean NLL of the batch +
/// kl_weight * KL / N_train, with Adam (or any optimizer), on CPU or CUDA.
///
/// Example:
/// ```
/// torch::nn::Sequential net(bayesnn::BayesLinear(784, 10));
/// bayesnn::Trainer trainer(net, bayesnn::TrainerOptions().epochs(1));
/// trainer.fit(train);  // a bayesnn::Dataset with images [N, ...] and labels [N]
/// ```
class Trainer {
 public:
  Trainer(Model model, TrainerOptions options,
          std::shared_ptr<Likelihood> likelihood = std::make_shared<CategoricalLikelihood>());

  /// Replaces the default Adam (`FusedAdam`); build it over `parameters()`.
  void set_optimizer(std::unique_ptr<torch::optim::Optimizer> optimizer);
  /// The parameters trained: the model's and the likelihood's.
  std::vector<torch::Tensor> parameters() const;

  /// Trains from the current epoch to `options.epochs()`; returns the stats of each epoch run.
  /// Throws `NonFiniteLossError` (after which the last checkpoint is still the last good one).
  std::vector<EpochStats> fit(const Dataset& train);
  /// Trains one epoch.
  EpochStats train_epoch(const Dataset& train);

  /// Writes model, likelihood, optimizer state, epoch, step and RNG state to `path` through a
  /// temporary file and a rename, so a crash while saving leaves the previous file intact.
  void save_checkpoint(const std::string& path) const;
  /// Restores what `save_checkpoint` wrote; throws naming the file if it is missing or corrupt.
  void load_checkpoint(const std::string& path);

  /// Called after every epoch (e.g. to evaluate on held-out data).
  std::function<void(const EpochStats&)> on_epoch;

  int64_t epoch() const { return epoch_; }
  int64_t step() const { return step_; }
  const TrainerOptions& options() const { return options_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }

 private:
  double current_kl_weight() const;
  double current_lr(int64_t total_steps) const;

  Model model_;
  TrainerOptions options_;
  std::shared_ptr<Likelihood> likelihood_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  int64_t epoch_ = 0;
  int64_t step_ = 0;
};

}  // namespace bayesnn
