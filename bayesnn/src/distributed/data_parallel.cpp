#include "bayesnn/data_parallel.h"

#include <fmt/format.h>

#include <ATen/core/grad_mode.h>

namespace bayesnn {
namespace {

// `tensors` in reverse order, grouped into runs of one dtype and device of at most
// `bucket_bytes` (a larger tensor alone).
std::vector<std::vector<at::Tensor>> make_buckets(const std::vector<at::Tensor>& tensors,
                                                  int64_t bucket_bytes) {
  std::vector<std::vector<at::Tensor>> buckets;
  int64_t bytes = 0;
  for (auto it = tensors.rbegin(); it != tensors.rend(); ++it) {
    const auto& tensor = *it;
    const int64_t size = tensor.numel() * static_cast<int64_t>(tensor.element_size());
    const bool fits = !buckets.empty() && bytes + size <= bucket_bytes &&
                      buckets.back().front().scalar_type() == tensor.scalar_type() &&
                      buckets.back().front().device() == tensor.device();
    if (!fits) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(tensor);
    bytes += size;
  }
  return buckets;
}

// Copies `flat`'s consecutive pieces back into `tensors`.
void unflatten_into(const at::Tensor& flat, std::vector<at::Tensor>& tensors) {
  int64_t offset = 0;
  for (auto& tensor : tensors) {
    tensor.view({-1}).copy_(flat.slice(0, offset, offset + tensor.numel()));
    offset += tensor.numel();
  }
}

}  // namespace

GradientBuckets::GradientBuckets(const std::vector<at::Tensor>& parameters, int64_t bucket_bytes) {
  TORCH_CHECK(bucket_bytes > 0, "GradientBuckets: bucket_bytes must be positive, got ",
              bucket_bytes);
  std::vector<at::Tensor> trained;
  for (const auto& parameter : parameters) {
    if (parameter.requires_grad()) trained.push_back(parameter);
  }
  buckets_ = make_buckets(trained, bucket_bytes);
}

void GradientBuckets::average(const ProcessGroup& group) const {
  at::NoGradGuard no_grad;
  const double world = static_cast<double>(group.world_size());
  for (size_t b = 0; b < buckets_.size(); ++b) {
    std::vector<at::Tensor> grads;
    for (const auto& parameter : buckets_[b]) {
      auto& grad = parameter.mutable_grad();
      if (!grad.defined()) grad = at::zeros_like(parameter);
      grads.push_back(grad);
    }
    std::vector<at::Tensor> pieces;
    for (const auto& grad : grads) pieces.push_back(grad.reshape({-1}));
    auto flat = at::cat(pieces);
    group.all_reduce_sum(flat,
                         fmt::format("the gradients (bucket {} of {})", b + 1, buckets_.size()));
    flat.div_(world);
    unflatten_into(flat, grads);
  }
}

void broadcast_module(torch::nn::Module& module, const ProcessGroup& group, int64_t root) {
  at::NoGradGuard no_grad;
  auto tensors = module.parameters();
  for (const auto& buffer : module.buffers()) tensors.push_back(buffer);
  const auto buckets = make_buckets(tensors, GradientBuckets::kDefaultBucketBytes);
  for (size_t b = 0; b < buckets.size(); ++b) {
    auto bucket = buckets[b];
    std::vector<at::Tensor> pieces;
    for (const auto& tensor : bucket) pieces.push_back(tensor.reshape({-1}));
    auto flat = at::cat(pieces);
    group.broadcast(
        flat, root,
        fmt::format("the parameters and buffers (bucket {} of {})", b + 1, buckets.size()));
    unflatten_into(flat, bucket);
  }
}

}  // namespace bayesnn
