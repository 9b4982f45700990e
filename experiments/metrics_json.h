// metrics.json: what a run measured and how it was run, gathered from its parts and written in
// one place.
#pragma once

#include <optional>
#include <string>

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "bayesnn/process_group.h"
#include "data.h"
#include "evaluation.h"
#include "options.h"
#include "output.h"
#include "training.h"

namespace bayesnn::experiment {

/// metrics.json but its "compression" (compression.h): the predictive's accuracy and
/// calibration, how well its uncertainty detects errors and OOD images, the prior and its learned
/// scales, and the run's record (options, command, data, timings, learning curve, the job).
nlohmann::json run_metrics(const torch::nn::Sequential& net, const Data& data,
                           const TrainingSummary& training, const Results& results,
                           const OutputFiles& files, const ExperimentOptions& options,
                           torch::Device device, const std::optional<ProcessGroup>& group);

/// Writes `record` as `dir`/metrics.json, whole or not at all (`write_text_atomically`, which
/// throws `WriteError` naming the file).
void write_metrics(const std::string& dir, const nlohmann::json& record);

}  // namespace bayesnn::experiment
