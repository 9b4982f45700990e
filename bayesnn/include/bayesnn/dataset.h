#pragma once

#include <cstdint>
#include <iterator>
#include <optional>

#include <c10/core/Device.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/types.h>

namespace bayesnn {

/// An in-memory dataset of examples as two tensors, `{inputs, targets}`, of any shape and
/// dtype with a common first (example) dimension: images and class labels, features and
/// regression targets, sequences and tags.
///
/// Example:
/// ```
/// bayesnn::Dataset data{torch::randn({1000, 8}), torch::randn({1000, 1})};  // regression
/// auto fit = data.head(800);                  // views, no copy
/// auto held_out = data.slice(800, 1000);
/// ```
struct Dataset {
  torch::Tensor inputs;   ///< [N, ...] what the network reads.
  torch::Tensor targets;  ///< [N, ...] what the likelihood scores its output against.

  /// The number of examples N.
  int64_t size() const;
  /// Examples [begin, end) as views of these tensors (no copy).
  Dataset slice(int64_t begin, int64_t end) const;
  /// The first n examples (e.g. for `--train-limit`), as views: `slice(0, n)`.
  Dataset head(int64_t n) const;
  /// Both tensors on `device`. Moving a dataset to the GPU once makes every batch a GPU-side
  /// `index_select`, with no host-to-device copy per step.
  Dataset to(torch::Device device, bool non_blocking = false) const;
};

/// A minibatch: a few examples of a `Dataset`, gathered with one `index_select` per tensor.
struct Batch {
  torch::Tensor inputs;   ///< [B, ...], rows of `Dataset::inputs`.
  torch::Tensor targets;  ///< [B, ...], rows of `Dataset::targets`.
  torch::Tensor indices;  ///< int64 [B], the positions of these examples in the dataset.

  /// The number of examples B.
  int64_t size() const;
};

/// Options of `BatchLoader`.
///
/// Example:
/// ```
/// auto options = bayesnn::BatchOptions(500).seed(42).drop_last(true).device(torch::kCPU);
/// ```
struct BatchOptions {
  /// The required option; implicit, so a plain `batch_size` converts to these options.
  /* implicit */ BatchOptions(int64_t batch_size);
  /// Examples per batch, in [1, N].
  TORCH_ARG(int64_t, batch_size);
  /// Whether each epoch visits the examples in a fresh random order (else in dataset order).
  TORCH_ARG(bool, shuffle) = true;
  /// Whether the last batch is dropped when it has fewer than `batch_size` examples.
  TORCH_ARG(bool, drop_last) = false;
  /// Seed of the permutations: epoch e's order depends only on (seed, e).
  TORCH_ARG(uint64_t, seed) = 0;
  /// Where batches are delivered (copied with `non_blocking`); unset: where the dataset is.
  TORCH_ARG(c10::optional<torch::Device>, device) = c10::nullopt;
  /// Data-parallel training: this process takes shard `shard` of `shards` of every epoch, the
  /// entries shard, shard + shards, shard + 2 shards, ... of the epoch's order cut to
  /// shards * floor(N / shards) entries, so the shards are disjoint and of equal length, and
  /// batch i of all shards together is batch i of the whole order at batch_size * shards.
  TORCH_ARG(int64_t, shard) = 0;
  /// The number of shards (processes); 1: the whole dataset.
  TORCH_ARG(int64_t, shards) = 1;
};

/// One epoch of minibatches: a range to iterate with range-for, made by
/// `BatchLoader::epoch`. It holds its own handles to the data and the epoch's order, so it
/// stays valid after the loader is gone. Batches are gathered lazily, one per dereference.
class Epoch {
 public:
  /// Input iterator over the epoch's batches; `*it` is the current batch.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;  ///< a single-pass input iterator
    using value_type = Batch;                           ///< what it yields, a minibatch
    using difference_type = std::ptrdiff_t;             ///< the standard iterator distance
    using pointer = const Batch*;                       ///< what `operator->` returns
    using reference = const Batch&;                     ///< what `operator*` returns

    /// The current batch, gathered on first access.
    const Batch& operator*() const;
    /// Member access to the current batch.
    const Batch* operator->() const { return &**this; }
    /// Moves to the next batch.
    Iterator& operator++();
    /// Whether both point at the same batch of the same epoch.
    bool operator==(const Iterator& other) const { return index_ == other.index_; }
    /// Negation of `==`.
    bool operator!=(const Iterator& other) const { return index_ != other.index_; }

   private:
    friend class Epoch;
    Iterator(const Epoch* epoch, int64_t index) : epoch_(epoch), index_(index) {}
    const Epoch* epoch_;
    int64_t index_;
    mutable std::optional<Batch> batch_;
  };

  /// The first batch.
  Iterator begin() const { return Iterator(this, 0); }
  /// Past the last batch.
  Iterator end() const { return Iterator(this, num_batches_); }
  /// The number of batches: ceil(n / B), or floor(n / B) with `drop_last`, for the n examples
  /// of this epoch (N, or a shard's floor(N / shards)).
  int64_t size() const { return num_batches_; }
  /// Batch i of this epoch, 0 <= i < size().
  Batch batch(int64_t i) const;
  /// The order in which this epoch visits the dataset: int64 [N], a permutation of 0..N-1
  /// (the identity without `shuffle`); a shard's entries of it with `shards` > 1.
  torch::Tensor order() const;

 private:
  friend class BatchLoader;
  Epoch(Dataset dataset, torch::Tensor order, const BatchOptions& options);
  Dataset dataset_;
  torch::Tensor order_;  // on the dataset's device; undefined without shuffle or shards
  BatchOptions options_;
  int64_t examples_;  // in this epoch: N, or a shard's length
  int64_t num_batches_;
};

/// Shuffled minibatches of an in-memory `Dataset` by index slicing: each epoch draws a
/// permutation from a `torch::Generator` seeded by (seed, epoch), and each batch is an
/// `index_select` of B consecutive entries of it. No per-example collation.
///
/// Example:
/// ```
/// bayesnn::BatchLoader loader(train, bayesnn::BatchOptions(500).seed(1));
/// for (int64_t e = 0; e < epochs; ++e) {
///   for (const auto& batch : loader.epoch(e)) {
///     auto logits = model->forward(batch.inputs);  // [B, 10]
///     auto nll = torch::nn::functional::cross_entropy(logits, batch.targets);
///   }
/// }
/// ```
class BatchLoader {
 public:
  /// Checks 0 <= shard < shards, 1 <= batch_size <= floor(N / shards) and that inputs and
  /// targets have N examples each.
  BatchLoader(Dataset dataset, BatchOptions options);

  /// The batches of epoch `epoch` (>= 0): the same for the same (seed, epoch), a different
  /// order for each epoch. Every example appears exactly once, except those of a dropped last
  /// batch.
  Epoch epoch(int64_t epoch) const;
  /// The number of batches in each epoch.
  int64_t batches_per_epoch() const;
  /// The examples each epoch visits: N, or floor(N / shards) with `shards` > 1.
  int64_t shard_size() const;
  /// The dataset being iterated.
  const Dataset& dataset() const { return dataset_; }
  /// The options with which this loader was constructed.
  const BatchOptions& options() const { return options_; }

 private:
  Dataset dataset_;
  BatchOptions options_;
};

}  // namespace bayesnn
