#include "train/generator_states.h"

#include <mutex>

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <fmt/format.h>
#include <torch/cuda.h>

namespace bayesnn::detail {

std::vector<c10::Device> generator_devices() {
  std::vector<c10::Device> devices{c10::Device(c10::kCPU)};
  const auto cuda_devices =
      torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
  for (int64_t i = 0; i < cuda_devices; ++i) {
    devices.emplace_back(c10::kCUDA, static_cast<c10::DeviceIndex>(i));
  }
  return devices;
}

std::vector<c10::Device> rank_generator_devices(const c10::Device& device) {
  std::vector<c10::Device> devices{c10::Device(c10::kCPU)};
  if (device.is_cuda()) {
    devices.emplace_back(c10::kCUDA, device.has_index() ? device.index() : c10::DeviceIndex{0});
  }
  return devices;
}

std::string generator_key(const c10::Device& device) {
  return device.is_cpu() ? "rng_cpu" : fmt::format("rng_cuda_{}", device.index());
}

std::string rank_generator_key(const c10::Device& device, int64_t rank) {
  return fmt::format("{}_rank_{}", generator_key(device), rank);
}

at::Tensor generator_state(const c10::Device& device) {
  auto generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_generator_states(const GeneratorStates& states) {
  for (const auto& [device, state] : states) {
    auto generator = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  }
}

}  // namespace bayesnn::detail
