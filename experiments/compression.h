// --compress: Bayesian compression of a network under a group prior (Louizos et al. 2017): the
// units its scales switch off removed, the rest's precision reduced, both exported and measured.
#pragma once

#include <string>

#include <torch/nn/modules/container/sequential.h>
#include <nlohmann/json.hpp>

#include "bayesnn/export.h"
#include "data.h"
#include "options.h"
#include "output.h"

namespace bayesnn::experiment {

/// The network without the units its group scales switch off, exported as compressed.pt (its
/// posterior mean, the same input as posterior_mean.pt, which must exist) and, precision reduced,
/// compressed_reduced.pt; and metrics.json's "compression": the rule, the units and weights kept,
/// the forward multiply-adds, the compressed predictive's accuracy, NLL and ECE on the test set,
/// both exports' size and forward time, and the precision reduction's. With --fine-tune, the
/// compressed network trains on first ("fine_tune"); with --compress-rounds, it is compressed and
/// fine-tuned again ("rounds", each round's rule, fine-tuning and result) and the network measured
/// and exported is the last kept round's ("rule" and "fine_tune" stay the first round's). Moves
/// `net` to the CPU.
nlohmann::json compression_metrics(const torch::nn::Sequential& net, const Data& data,
                                   const ExperimentOptions& options, const OutputFiles& files,
                                   const ExportMetadata& metadata);

/// Prints the line that sums `compression` (metrics.json's) up.
void print_compression(const nlohmann::json& compression, const std::string& dir);

}  // namespace bayesnn::experiment
