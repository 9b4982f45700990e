// What one epoch of training did (`EpochStats`), as the trainer returns it and its JSON log
// records it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bayesnn {

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

/// Appends `to_json_line(stats)` and a newline to the file at `path`, creating it if missing; a
/// write that fails leaves the file at its last whole line and throws naming the file and the
/// reason (`TrainerOptions::log_path`, `json_log_hook`).
void append_json_line(const std::string& path, const EpochStats& stats);

}  // namespace bayesnn
