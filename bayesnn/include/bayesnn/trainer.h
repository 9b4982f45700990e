#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "bayesnn/dataset.h"
#include "bayesnn/epoch_stats.h"
#include "bayesnn/errors.h"
#include "bayesnn/likelihood.h"
#include "bayesnn/model.h"
#include "bayesnn/process_group.h"
#include "bayesnn/schedule.h"

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
  /// The learning rate decays by a cosine (`CosineLrSchedule`) from the optimizer's rate to
  /// this fraction of it over all steps; 1 keeps it constant (`ConstantLrSchedule`).
  TORCH_ARG(double, lr_final_fraction) = 1.0;
  /// Adam's learning rate for the group priors' scales (the hyper-parameters of q(z) of every
  /// prior with `group_scales`), in a parameter group of their own; 0: `lr`. A log α has to
  /// travel some ten units to switch a unit off, and Adam moves a parameter about one rate a
  /// step, so Bayesian compression wants a faster rate here than the weights'.
  TORCH_ARG(double, scale_lr) = 0.0;
  /// After every step, each variational tensor's log σ (of a product tensor, its Gaussian
  /// factor v's) is clipped to at most this (+inf: never). Louizos et al. clip the first layer's
  /// variances at 0.04 (log σ ≤ -1.61): under a scale-free prior on the group scales the ELBO
  /// otherwise trades the fit for noise, v's σ growing towards its N(0, 1) prior (see
  /// docs/results.md, "Compression").
  TORCH_ARG(double, max_log_sigma) = INFINITY;
  /// Monte Carlo samples of the network per step; the NLL is averaged over them.
  TORCH_ARG(int64_t, train_samples) = 1;
  /// The weight of the KL term: loss = NLL + kl_weight * KL / N_train (1: the ELBO).
  TORCH_ARG(double, kl_weight) = 1.0;
  /// KL warm-up: kl_weight ramps linearly from 0 over the first this many steps (0: off;
  /// `kl_warmup_weight`).
  TORCH_ARG(int64_t, kl_warmup_steps) = 0;
  /// Clip the gradient's global L2 norm to this value (0: off).
  TORCH_ARG(double, grad_clip_norm) = 0.0;
  /// Drop the last partial batch of each epoch.
  TORCH_ARG(bool, drop_last) = false;
  /// Seeds the batch order. The noise of the estimators comes from torch's global generators,
  /// which the program seeds itself (`torch::manual_seed`; `rank_seed` under data parallelism).
  TORCH_ARG(uint64_t, seed) = 0;
  /// Where the model and batches live.
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// One JSON line per epoch is appended here ("" : no log; `json_log_hook`).
  TORCH_ARG(std::string, log_path) = "";
  /// A checkpoint is written here after every epoch, atomically ("" : none; as `checkpoint_hook`).
  TORCH_ARG(std::string, checkpoint_path) = "";
  /// A progress line on a terminal (never when stderr is not a terminal; rank 0's only).
  TORCH_ARG(bool, progress) = true;
  /// Data-parallel training over this group (one process per rank, every rank with the same
  /// options and dataset): each rank trains on its shard of every epoch's order
  /// (`BatchOptions::shard`) at `batch_size`, so a step's global minibatch is batch_size *
  /// world size; gradients are averaged over the ranks (`GradientBuckets`), and each rank's
  /// loss is its mean NLL + KL / N with N the whole training set, so the average is the
  /// global minibatch's ELBO gradient with the KL counted once. Rank 0's parameters are
  /// broadcast before the first step and after `load_checkpoint`; epoch statistics are summed
  /// over the ranks; only rank 0 writes the log and the checkpoint. Unset: one process.
  TORCH_ARG(std::optional<ProcessGroup>, process_group) = std::nullopt;
};

/// The seed of torch's generators for the estimators' noise on `rank` of a data-parallel job:
/// `seed` itself on rank 0 (so one rank draws what a single process draws), a well-mixed
/// function of (seed, rank) elsewhere, so that no two ranks draw the same noise.
uint64_t rank_seed(uint64_t seed, int64_t rank);

class Trainer;

/// A callback that `Trainer` runs after every epoch, once the epoch's losses are known to be
/// finite, with the trainer (to save it, or to evaluate its model) and the epoch's statistics.
///
/// Example:
/// ```
/// std::vector<double> elbos;
/// trainer.add_epoch_hook([&elbos](const bayesnn::Trainer&, const bayesnn::EpochStats& stats) {
///   elbos.push_back(stats.elbo);
/// });
/// ```
using EpochHook = std::function<void(const Trainer& trainer, const EpochStats& stats)>;

/// Minibatch ADVI: minimises the negative ELBO per datum, mean NLL of the batch +
/// kl_weight * KL / N_train, with Adam (or any optimizer), on CPU or CUDA, over a `Dataset` of
/// `{inputs, targets}` of any shape. A step does not wait for the device: the losses are read
/// when the progress line is drawn (at most twice a second, on a terminal) and at the end of
/// the epoch. The program seeds torch's generators (`torch::manual_seed`) and chooses the
/// allocator setting (`reuse_freed_memory`, memory.h) itself.
///
/// Example:
/// ```
/// torch::nn::Sequential net(bayesnn::BayesLinear(784, 10));
/// bayesnn::Trainer trainer(net, bayesnn::TrainerOptions().epochs(1));
/// trainer.fit(train);  // a bayesnn::Dataset with images [N, ...] and labels [N]
/// ```
class Trainer {
 public:
  /// Moves the model and the likelihood to `options.device()` and builds Adam (`FusedAdam`) over
  /// `parameters()`; installs the log and checkpoint hooks the options name.
  Trainer(Model model, TrainerOptions options,
          std::shared_ptr<Likelihood> likelihood = std::make_shared<CategoricalLikelihood>());

  /// Replaces the default Adam (`FusedAdam`); build it over `parameters()`. Its parameter
  /// groups' learning rates are the base rates of the schedule.
  void set_optimizer(std::unique_ptr<torch::optim::Optimizer> optimizer);
  /// Replaces the learning-rate schedule, which sets every parameter group's rate before each
  /// step from the group's base rate (default: `CosineLrSchedule(lr_final_fraction)` when
  /// that is below 1, else `ConstantLrSchedule`).
  void set_lr_schedule(std::unique_ptr<LrSchedule> schedule);
  /// Adds a hook run after every epoch, after the hooks added before it (the options' log,
  /// then checkpoint hook, come first): the one epoch callback.
  void add_epoch_hook(EpochHook hook);
  /// The parameters trained: the model's and the likelihood's.
  std::vector<torch::Tensor> parameters() const;

  /// Trains from the current epoch to `options.epochs()`; returns the stats of each epoch run.
  /// Throws `NonFiniteLossError` (after which the last checkpoint is still the last good one);
  /// under data parallelism every rank throws it when any rank's loss was not finite, and a
  /// failed collective throws `DistributedError`.
  std::vector<EpochStats> fit(const Dataset& train);
  /// Trains one epoch, then runs the epoch hooks. Throws `NonFiniteLossError`
  /// naming the first step whose NLL or KL was not finite, before any hook runs; the trainer's
  /// own parameters are then past that step (reload the last checkpoint to go on).
  EpochStats train_epoch(const Dataset& train);

  /// Writes model, likelihood, optimizer state, epoch, step and the CPU and CUDA generators'
  /// states to `path` through a temporary file and a rename, so a crash while saving leaves the
  /// previous file intact.
  /// Throws `NonFiniteLossError` naming the parameter, and writes nothing, where a trained
  /// parameter is not finite (the file keeps the last good state).
  void save_checkpoint(const std::string& path) const;
  /// Restores what `save_checkpoint` wrote (the CUDA generators where the file has them);
  /// throws naming the file if it is missing or corrupt. Under data parallelism every rank
  /// calls it: rank 0 reads the file and sends its bytes to the others (no shared file system
  /// needed), and each rank restores its own generators where the file has them.
  void load_checkpoint(const std::string& path);

  /// Asked before every step (where set): true stops training there with `TrainingInterrupted`,
  /// before the step, without running the epoch's hooks, so the last checkpoint is the last
  /// complete epoch's. A program sets a flag from its SIGINT handler and returns it here. Under
  /// data parallelism the ranks vote each step (one small all-reduce), so all stop together.
  std::function<bool()> stop_requested;

  /// Epochs trained so far.
  int64_t epoch() const;
  /// Optimizer steps taken so far.
  int64_t step() const;
  /// The options the trainer was built with.
  const TrainerOptions& options() const;
  /// The optimizer that takes the steps.
  torch::optim::Optimizer& optimizer();
  /// The learning-rate schedule in use.
  const LrSchedule& lr_schedule() const;
  /// The network trained.
  const Model& model() const;
  /// The likelihood of the targets given the network's output.
  const Likelihood& likelihood() const;

  ~Trainer();
  Trainer(Trainer&&) noexcept;             ///< Moves the trainer and its state.
  Trainer& operator=(Trainer&&) noexcept;  ///< Moves the trainer and its state.

 private:
  struct Impl;  // bayesnn/src/train/trainer.cpp
  std::unique_ptr<Impl> impl_;
};

}  // namespace bayesnn
