#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "bayesnn/process_group.h"

namespace bayesnn {

/// DistributedDataParallel's gradient averaging, on a `ProcessGroup`: a model's gradients in
/// buckets of one dtype and device, in reverse registration order (the order a backward pass
/// produces them), each flattened, summed over the group in one collective and divided by the
/// world size. (c10d's own `Reducer` is not usable from C++ here: Debian's LibTorch lacks a
/// header it includes, and its constructor changes between releases.)
///
/// Example:
/// ```
/// bayesnn::GradientBuckets buckets(model->parameters());
/// loss.backward();
/// buckets.average(group);  // every rank now holds the mean gradient
/// optimizer.step();
/// ```
class GradientBuckets {
 public:
  /// DDP's default bucket size.
  static constexpr int64_t kDefaultBucketBytes = 25 << 20;

  /// Buckets `parameters` (those that require a gradient) of at most `bucket_bytes` each, or
  /// one parameter where a parameter alone is larger.
  explicit GradientBuckets(const std::vector<at::Tensor>& parameters,
                           int64_t bucket_bytes = kDefaultBucketBytes);

  /// Replaces every parameter's gradient by its mean over `group` (a parameter without one
  /// counts zeros, and gets the mean).
  void average(const ProcessGroup& group) const;

  /// The buckets, each its parameters in order.
  const std::vector<std::vector<at::Tensor>>& buckets() const { return buckets_; }

 private:
  std::vector<std::vector<at::Tensor>> buckets_;
};

/// Copies rank `root`'s parameters and buffers into every rank's `module` (at the start, and
/// after rank `root` resumed from a checkpoint), in buckets as `GradientBuckets` makes them.
void broadcast_module(torch::nn::Module& module, const ProcessGroup& group, int64_t root = 0);

}  // namespace bayesnn
