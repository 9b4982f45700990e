// The data-parallel job a run may be a rank of (tools/launch, torchrun, mpirun, srun).
#pragma once

#include <optional>

#include <torch/types.h>

#include "bayesnn/process_group.h"
#include "options.h"

namespace bayesnn::experiment {

/// The job this process is a rank of, where the launcher's environment says WORLD_SIZE > 1 or
/// --distributed asks (else none); on CUDA, rank r trains on GPU LOCAL_RANK (`device` is set so).
/// Ranks other than 0 print nothing but their errors.
std::optional<ProcessGroup> join_group(const ExperimentOptions& options, torch::Device& device);

}  // namespace bayesnn::experiment
