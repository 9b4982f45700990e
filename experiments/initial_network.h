// The network a run starts from: --model built from the options, or the trained twin of
// --from-deterministic converted into it; its means re-drawn with --init-mean-sd.
#pragma once

#include <torch/nn/modules/container/sequential.h>

#include "options.h"

namespace bayesnn::experiment {

/// The network --model names, its priors, estimator and initial values from the options (or the
/// converted twin of --from-deterministic), printed.
torch::nn::Sequential make_network(const ExperimentOptions& options);

}  // namespace bayesnn::experiment
