#pragma once

#include <vector>

#include <ATen/ATen.h>

namespace bayesnn::detail {

// The tensors a trained network's file carries, in the one order both sides use: an export
// stores each module's tensors in it, and `load_trained` copies a TorchScript file's into a
// network in it. The floating-point parameters and, apart, the floating-point buffers (the
// running statistics, not counters such as BatchNorm's num_batches_tracked), each in
// registration order, as `parameters()` and `buffers()` list them.
struct TrainedTensors {
  std::vector<at::Tensor> parameters, buffers;
};

// `module`: a torch::nn::Module or a torch::jit::Module.
template <typename Module>
TrainedTensors trained_tensors(const Module& module) {
  TrainedTensors result;
  for (const at::Tensor& tensor : module.parameters()) {
    if (tensor.is_floating_point()) result.parameters.push_back(tensor);
  }
  for (const at::Tensor& tensor : module.buffers()) {
    if (tensor.is_floating_point()) result.buffers.push_back(tensor);
  }
  return result;
}

}  // namespace bayesnn::detail
