#include "distributed.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <torch/cuda.h>

#include "bayesnn/atomic_file.h"
#include "bayesnn/rendezvous.h"

namespace bayesnn::experiment {

std::optional<ProcessGroup> join_group(const ExperimentOptions& options, torch::Device& device) {
  const auto rendezvous = rendezvous_from_environment();
  if (!options.distributed && rendezvous.world_size <= 1) return std::nullopt;
  if (device.is_cuda()) {
    const auto gpus = static_cast<int64_t>(torch::cuda::device_count());
    device =
        torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(rendezvous.local_rank % gpus));
  }
  const auto timeout = std::chrono::milliseconds(std::llround(options.dist_timeout * 1000));
  auto group = ProcessGroup::join(rendezvous, device, timeout);
  if (group.rank() == 0) {
    fmt::print("distributed: {} ranks ({}, {}), {} images per step ({} per rank)\n",
               group.world_size(), rendezvous.launcher, group.backend(),
               options.batch_size * group.world_size(), options.batch_size);
  } else if (std::freopen("/dev/null", "w", stdout) == nullptr) {
    throw WriteError("rank " + std::to_string(group.rank()) + ": cannot silence stdout");
  }
  return group;
}

}  // namespace bayesnn::experiment
