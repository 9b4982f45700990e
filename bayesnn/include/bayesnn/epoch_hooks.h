#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace bayesnn {

class Trainer;  // bayesnn/trainer.h

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
  /// Of every prior with group scales, by name, the quantiles `kLogAlphaQuantiles` of its
  /// units' log α (`log_alpha_quantiles`): how units switch off over training.
  std::map<std::string, std::vector<double>> log_alpha;
};

/// The JSON line of `stats` (keys as the field names).
std::string to_json_line(const EpochStats& stats);

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

/// A hook that appends `to_json_line(stats)` and a newline to the file at `path`, creating it
/// if missing; `TrainerOptions::log_path` installs it.
///
/// Example:
/// ```
/// trainer.add_epoch_hook(bayesnn::json_log_hook("runs/mlp/log.jsonl"));
/// ```
EpochHook json_log_hook(std::string path);

/// A hook that writes the trainer's checkpoint to `path` (`Trainer::save_checkpoint`), after
/// checking that every trained parameter is finite: it throws `NonFiniteLossError` naming the
/// parameter instead, so the file keeps the last good state. `TrainerOptions::checkpoint_path`
/// installs it.
///
/// Example:
/// ```
/// trainer.add_epoch_hook(bayesnn::checkpoint_hook("runs/mlp/checkpoint.pt"));
/// ```
EpochHook checkpoint_hook(std::string path);

}  // namespace bayesnn
