// Internal: a trainer's checkpoint, what it holds and under which keys. The file around it (its
// checksum, the checks before LibTorch's importer sees it) is checkpoint_file.h.
#pragma once

#include <cstdint>
#include <string>

#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "train/generator_states.h"

namespace bayesnn::detail {

/// The parts of a trainer that a checkpoint saves and restores.
struct CheckpointParts {
  torch::nn::Module& model;
  torch::nn::Module& likelihood;
  torch::optim::Optimizer& optimizer;
};

/// How far training had come.
struct CheckpointPosition {
  int64_t epoch = 0;  ///< epochs trained
  int64_t step = 0;   ///< optimizer steps taken
};

/// Writes the parts, the position, this process's generator states and `rank_generators` (every
/// rank's, under data parallelism; else none) to `path`, sealed, through a temporary file and a
/// rename, so a crash while saving leaves the previous file intact. Throws NonFiniteLossError
/// naming the first non-finite parameter instead, writing nothing.
void write_checkpoint(const std::string& path, const CheckpointParts& parts,
                      CheckpointPosition position, const NamedStates& rank_generators);

/// Restores the parts from `bytes`, the file at `path`, checked first (`check_checkpoint`), and
/// the generators: the file's own for rank 0 or a process alone, rank `rank`'s own where the
/// file has them (training on `device`; a rank without them, from a checkpoint of fewer ranks,
/// keeps its own). Returns the position. Throws c10::Error starting "<caller>: '<path>' is not a
/// readable bayesnn checkpoint" where the file is damaged or of another model, before any
/// generator is set. Rank 0 says on stderr when the file is an earlier bayesnn's, unsealed.
CheckpointPosition read_checkpoint(const std::string& bytes, const std::string& path,
                                   const CheckpointParts& parts, int64_t rank,
                                   const c10::Device& device, const char* caller);

}  // namespace bayesnn::detail
