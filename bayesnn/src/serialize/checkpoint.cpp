#include "serialize/checkpoint.h"

#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include "bayesnn/atomic_file.h"
#include "bayesnn/errors.h"
#include "error_text.h"
#include "serialize/checkpoint_file.h"

namespace bayesnn::detail {
namespace {

// The keys of a checkpoint's records; the generators' are generator_key's and
// rank_generator_key's.
constexpr const char* kMarkerKey = "bayesnn_checkpoint";
constexpr const char* kEpochKey = "epoch";
constexpr const char* kStepKey = "step";
constexpr const char* kModelKey = "model";
constexpr const char* kLikelihoodKey = "likelihood";
constexpr const char* kOptimizerKey = "optimizer";

// The CPU generator's state (required) and the CUDA devices' that the archive has (checkpoints
// written without CUDA, or before CUDA states were saved, have none).
GeneratorStates read_own_generators(torch::serialize::InputArchive& archive) {
  GeneratorStates states;
  for (const auto& device : generator_devices()) {
    at::Tensor state;
    if (device.is_cpu()) {
      archive.read(generator_key(device), state, /*is_buffer=*/true);
    } else if (!archive.try_read(generator_key(device), state, /*is_buffer=*/true)) {
      continue;
    }
    states.emplace_back(device, state);
  }
  return states;
}

GeneratorStates read_rank_generators(torch::serialize::InputArchive& archive, int64_t rank,
                                     const c10::Device& device) {
  GeneratorStates states;
  for (const auto& generator : rank_generator_devices(device)) {
    at::Tensor state;
    if (archive.try_read(rank_generator_key(generator, rank), state, /*is_buffer=*/true)) {
      states.emplace_back(generator, state);
    }
  }
  return states;
}

int64_t read_integer(torch::serialize::InputArchive& archive, const char* key) {
  at::Tensor value;
  archive.read(key, value);
  return value.item<int64_t>();
}

// Throws NonFiniteLossError naming the first trained parameter with a NaN or infinite element
// (after an epoch whose losses were finite, the last step's update made it so).
void check_parameters_finite(const CheckpointParts& parts, CheckpointPosition position,
                             const std::string& checkpoint) {
  auto named = parts.model.named_parameters();
  for (const auto& item : parts.likelihood.named_parameters()) {
    named.insert("likelihood." + item.key(), item.value());
  }
  if (named.is_empty()) return;
  std::vector<torch::Tensor> finite;
  for (const auto& item : named) finite.push_back(torch::isfinite(item.value()).all());
  const auto flags = torch::stack(finite).cpu();  // one synchronisation for all parameters
  for (size_t i = 0; i < named.size(); ++i) {
    if (flags[static_cast<int64_t>(i)].item<bool>()) continue;
    throw NonFiniteLossError(
        fmt::format("training stopped after step {} (epoch {}): its update made the parameter '{}' "
                    "non-finite; the last good checkpoint is {}",
                    position.step, position.epoch, named[i].key(), checkpoint));
  }
}
}  // namespace

void write_checkpoint(const std::string& path, const CheckpointParts& parts,
                      CheckpointPosition position, const NamedStates& rank_generators) {
  check_parameters_finite(parts, position, path);
  torch::serialize::OutputArchive archive;
  archive.write(kMarkerKey, torch::tensor(int64_t{1}));
  archive.write(kEpochKey, torch::tensor(position.epoch));
  archive.write(kStepKey, torch::tensor(position.step));
  for (const auto& device : generator_devices()) {
    archive.write(generator_key(device), generator_state(device), /*is_buffer=*/true);
  }
  for (const auto& [key, state] : rank_generators) archive.write(key, state, /*is_buffer=*/true);
  torch::serialize::OutputArchive model, likelihood, optimizer;
  parts.model.save(model);
  parts.likelihood.save(likelihood);
  parts.optimizer.save(optimizer);
  archive.write(kModelKey, model);
  archive.write(kLikelihoodKey, likelihood);
  archive.write(kOptimizerKey, optimizer);

  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string sealed = seal_checkpoint(bytes.str());
  write_file_atomically(
      path,
      [&sealed](std::ostream& out) {
        out.write(sealed.data(), static_cast<std::streamsize>(sealed.size()));
      },
      "the checkpoint");
}

CheckpointPosition read_checkpoint(const std::string& bytes, const std::string& path,
                                   const CheckpointParts& parts, int64_t rank,
                                   const c10::Device& device, const char* caller) {
  const bool sealed = check_checkpoint(bytes, path, caller);  // before LibTorch's importer
  CheckpointPosition position;
  GeneratorStates generators;
  try {
    torch::serialize::InputArchive archive, model, likelihood, optimizer;
    archive.load_from(bytes.data(), bytes.size(), torch::kCPU);
    read_integer(archive, kMarkerKey);
    position.epoch = read_integer(archive, kEpochKey);
    position.step = read_integer(archive, kStepKey);
    // Rank 0's generators are the file's own.
    generators =
        rank == 0 ? read_own_generators(archive) : read_rank_generators(archive, rank, device);
    archive.read(kModelKey, model);
    archive.read(kLikelihoodKey, likelihood);
    archive.read(kOptimizerKey, optimizer);
    load_module(model, parts.model);  // every tensor's shape checked
    parts.likelihood.load(likelihood);
    parts.optimizer.load(optimizer);
  } catch (const std::exception& error) {
    // c10::Error for most damage; LibTorch's TorchScript importer throws its own
    // torch::jit::ErrorReport where the archive's code is damaged (found by fuzz/checkpoint.cpp).
    TORCH_CHECK(false, caller, ": '", path,
                "' is not a readable bayesnn checkpoint (truncated, corrupt or from another "
                "model): ",
                first_line(error));
  }
  set_generator_states(generators);
  if (!sealed && rank == 0) {
    std::cerr << "bayesnn: '" << path
              << "' has no checksum (written by an earlier bayesnn); its records match their "
                 "CRC-32s, so it was read, and the next checkpoint written will carry one\n";
  }
  return position;
}

}  // namespace bayesnn::detail
