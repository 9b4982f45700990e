// The trained network as TorchScript files: posterior_mean.pt (the posterior-mean network) and
// predictive.pt (the sampling predictive), with the run's metadata.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <nlohmann/json.hpp>

#include "bayesnn/export.h"
#include "options.h"
#include "output.h"

namespace bayesnn::experiment {

/// The metadata of the exported files: the training command, --model, the data and the test
/// accuracy of `metrics` (metrics.json's).
ExportMetadata export_metadata(const nlohmann::json& metrics, const ExperimentOptions& options);

/// `metadata` with the test accuracy of the network it goes with (a compressed one's, say).
ExportMetadata with_accuracy(ExportMetadata metadata, double accuracy);

/// Writes posterior_mean.pt and predictive.pt (S = `test_samples`) into `files.dir`; moves `net`
/// to the CPU.
void export_networks(torch::nn::Sequential net, const nlohmann::json& metrics,
                     const OutputFiles& files, const ExperimentOptions& options);

}  // namespace bayesnn::experiment
