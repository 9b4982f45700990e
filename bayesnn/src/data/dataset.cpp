#include "bayesnn/dataset.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <utility>

namespace bayesnn {
namespace {

// SplitMix64's finaliser: nearby (seed, epoch) pairs give unrelated generator seeds.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

int64_t Dataset::size() const { return targets.defined() ? targets.size(0) : 0; }

Dataset Dataset::slice(int64_t begin, int64_t end) const {
  TORCH_CHECK(0 <= begin && begin <= end && end <= size(), "Dataset::slice: [", begin, ", ", end,
              ") is not a range within the ", size(), " examples");
  return Dataset{inputs.narrow(0, begin, end - begin), targets.narrow(0, begin, end - begin)};
}

Dataset Dataset::head(int64_t n) const {
  TORCH_CHECK(0 <= n && n <= size(), "Dataset::head: n = ", n, " must be in [0, ", size(),
              "] (the number of examples)");
  return slice(0, n);
}

Dataset Dataset::to(torch::Device device, bool non_blocking) const {
  return Dataset{inputs.to(device, non_blocking), targets.to(device, non_blocking)};
}

int64_t Batch::size() const { return targets.size(0); }

BatchOptions::BatchOptions(int64_t batch_size) : batch_size_(batch_size) {}

Epoch::Epoch(Dataset dataset, torch::Tensor order, const BatchOptions& options)
    : dataset_(std::move(dataset)), order_(std::move(order)), options_(options) {
  examples_ = order_.defined() ? order_.size(0) : dataset_.size();
  const int64_t b = options_.batch_size();
  num_batches_ = options_.drop_last() ? examples_ / b : (examples_ + b - 1) / b;
}

Batch Epoch::batch(int64_t i) const {
  TORCH_CHECK(0 <= i && i < num_batches_, "Epoch::batch: index ", i, " must be in [0, ",
              num_batches_, ") (the number of batches)");
  const int64_t begin = i * options_.batch_size();
  const int64_t count = std::min(options_.batch_size(), examples_ - begin);
  Batch batch;
  if (order_.defined()) {
    batch.indices = order_.narrow(0, begin, count);
    batch.inputs = dataset_.inputs.index_select(0, batch.indices);
    batch.targets = dataset_.targets.index_select(0, batch.indices);
  } else {
    // In order, a batch is a view: no copy at all.
    batch.indices = torch::arange(begin, begin + count,
                                  torch::dtype(torch::kInt64).device(dataset_.targets.device()));
    batch.inputs = dataset_.inputs.narrow(0, begin, count);
    batch.targets = dataset_.targets.narrow(0, begin, count);
  }
  if (options_.device().has_value() && *options_.device() != batch.inputs.device()) {
    const torch::Device device = *options_.device();
    batch.inputs = batch.inputs.to(device, /*non_blocking=*/true);
    batch.targets = batch.targets.to(device, /*non_blocking=*/true);
    batch.indices = batch.indices.to(device, /*non_blocking=*/true);
  }
  return batch;
}

torch::Tensor Epoch::order() const {
  return order_.defined()
             ? order_
             : torch::arange(dataset_.size(),
                             torch::dtype(torch::kInt64).device(dataset_.targets.device()));
}

const Batch& Epoch::Iterator::operator*() const {
  if (!batch_.has_value()) {
    batch_ = epoch_->batch(index_);
  }
  return *batch_;
}

Epoch::Iterator& Epoch::Iterator::operator++() {
  ++index_;
  batch_.reset();
  return *this;
}

BatchLoader::BatchLoader(Dataset dataset, BatchOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  TORCH_CHECK(dataset_.inputs.defined() && dataset_.targets.defined(),
              "BatchLoader: the dataset's inputs and targets must be defined");
  TORCH_CHECK(dataset_.inputs.dim() >= 1 && dataset_.targets.dim() >= 1,
              "BatchLoader: the dataset's inputs and targets need an example dimension, got "
              "shapes ",
              dataset_.inputs.sizes(), " and ", dataset_.targets.sizes());
  TORCH_CHECK(dataset_.inputs.size(0) == dataset_.targets.size(0), "BatchLoader: the dataset has ",
              dataset_.inputs.size(0), " inputs but ", dataset_.targets.size(0), " targets");
  TORCH_CHECK(
      options_.shards() >= 1 && options_.shard() >= 0 && options_.shard() < options_.shards(),
      "BatchLoader: shard ", options_.shard(), " of ", options_.shards(),
      ": expected 0 <= shard < shards");
  const int64_t n = shard_size();
  TORCH_CHECK(options_.batch_size() >= 1 && options_.batch_size() <= n, "BatchLoader: batch_size ",
              options_.batch_size(), " must be in [1, ", n, "] (the ",
              options_.shards() > 1 ? "shard's" : "dataset", " size)");
}

int64_t BatchLoader::shard_size() const { return dataset_.size() / options_.shards(); }

Epoch BatchLoader::epoch(int64_t epoch) const {
  TORCH_CHECK(epoch >= 0, "BatchLoader::epoch: epoch ", epoch, " must be >= 0");
  torch::Tensor order;
  if (options_.shuffle()) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(
        mix(options_.seed() ^ mix(static_cast<uint64_t>(epoch))));
    order =
        torch::randperm(dataset_.size(), generator, torch::kInt64).to(dataset_.targets.device());
  }
  if (options_.shards() > 1) {
    if (!order.defined()) {
      order = torch::arange(dataset_.size(),
                            torch::dtype(torch::kInt64).device(dataset_.targets.device()));
    }
    const int64_t shards = options_.shards();
    order = order.narrow(0, 0, shard_size() * shards)
                .view({shard_size(), shards})
                .select(1, options_.shard())
                .contiguous();
  }
  return Epoch(dataset_, std::move(order), options_);
}

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = shard_size();
  const int64_t b = options_.batch_size();
  return options_.drop_last() ? n / b : (n + b - 1) / b;
}

}  // namespace bayesnn
