// Internal: the states of torch's process-wide random-number generators, which a checkpoint
// holds so that a resumed run draws what an uninterrupted one draws.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace bayesnn::detail {

/// Generator states by device.
using GeneratorStates = std::vector<std::pair<c10::Device, at::Tensor>>;
/// Generator states by checkpoint key.
using NamedStates = std::vector<std::pair<std::string, at::Tensor>>;

/// The generators of this process: the CPU's, and each CUDA device's where CUDA is available.
/// Their states are what torch::manual_seed sets.
std::vector<c10::Device> generator_devices();
/// The generators a rank of a data-parallel job training on `device` draws from: the CPU's, and
/// the device's where it is a GPU.
std::vector<c10::Device> rank_generator_devices(const c10::Device& device);

/// The checkpoint key of a generator's state: "rng_cpu", "rng_cuda_<index>".
std::string generator_key(const c10::Device& device);
/// The key of a rank's generator state in a data-parallel job's checkpoint: "<key>_rank_<r>".
std::string rank_generator_key(const c10::Device& device, int64_t rank);

/// The state of `device`'s default generator (a byte tensor).
at::Tensor generator_state(const c10::Device& device);
/// Sets each device's default generator to its state.
void set_generator_states(const GeneratorStates& states);

}  // namespace bayesnn::detail
