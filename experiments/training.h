// Training: minibatch ADVI (maximum likelihood for a deterministic twin) to --epochs by
// bayesnn::Trainer, from the checkpoint with --resume; a line per epoch, --eval-every's learning
// curve, and what the log says training took.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "bayesnn/process_group.h"
#include "data.h"
#include "options.h"
#include "output.h"

namespace bayesnn::experiment {

/// What training did, over every run that led to this one's network.
struct TrainingSummary {
  int64_t epochs = 0;            ///< epochs trained in all
  double seconds = 0;            ///< their wall time
  double images_per_second = 0;  ///< training images per second over them
};

/// Trains `net` on `data.train` to --epochs (stopping early where SIGINT or SIGTERM ask), logging
/// every epoch to `files.log` and checkpointing to `files.checkpoint`; with --eval-every, the test
/// accuracy on the learning curve `files.curve` (rank 0's, in a group). Ranks other than 0 return
/// an empty summary.
TrainingSummary train(const torch::nn::Sequential& net, const Data& data, const OutputFiles& files,
                      const ExperimentOptions& options, torch::Device device,
                      const std::optional<ProcessGroup>& group);

/// --fine-tune: trains the compressed network `net` --fine-tune more epochs on `data.train` with
/// the run's schedule and ELBO, no KL warm-up and its log σ clipped at --fine-tune-max-log-sigma,
/// logging every epoch to `log` (replacing an earlier run's) and checkpointing nothing; leaves
/// `net` on the CPU.
TrainingSummary fine_tune(const torch::nn::Sequential& net, const Data& data,
                          const std::string& log, const ExperimentOptions& options,
                          torch::Device device);

/// The JSON lines of `path` (log.jsonl, curve.jsonl); none where it does not exist.
std::vector<nlohmann::json> read_json_lines(const std::string& path);

}  // namespace bayesnn::experiment
