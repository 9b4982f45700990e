#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>

#include <c10/core/Device.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/types.h>

namespace bayesnn {

/// Which part of a dataset: the training or the test examples.
enum class Split {
  kTrain,  ///< MNIST's 60,000 training examples (files `train-*-ubyte`).
  kTest,   ///< MNIST's 10,000 test examples (files `t10k-*-ubyte`).
};

/// "train" or "test".
std::string to_string(Split split);

/// The data root directory: the environment variable `BAYESNN_DATA` where set and non-empty,
/// else "data" (relative to the working directory). `tools/setup` fills `data/mnist` and
/// `data/fashion-mnist`; `tools/test` sets `BAYESNN_DATA`.
std::string data_root();

/// `data_root()/name`, e.g. `data_dir("mnist")` or `data_dir("fashion-mnist")`.
std::string data_dir(const std::string& name);

/// An in-memory labelled image dataset: all examples as two tensors.
///
/// Example:
/// ```
/// auto train = bayesnn::load_mnist(bayesnn::data_dir("mnist"), bayesnn::Split::kTrain);
/// auto fit = train.head(50000);             // the article's training images
/// auto held_out = train.slice(50000, 60000);
/// ```
struct Dataset {
  torch::Tensor images;  ///< float32 [N, 1, rows, cols], pixel values in [0, 1].
  torch::Tensor labels;  ///< int64 [N], class indices.

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

/// Loads one split of MNIST, or of Fashion-MNIST (same file names and format), from `dir`,
/// e.g. `data_dir("mnist")`: images scaled by 1/255 to float in [0, 1], labels as int64.
///
/// Reads `{train,t10k}-images-idx3-ubyte` and `{train,t10k}-labels-idx1-ubyte` with
/// `read_idx_images`/`read_idx_labels`. Throws `DataError` (idx.h) if a file is missing or
/// malformed, if the image and label counts differ, or if a label is outside 0..9.
Dataset load_mnist(const std::string& dir, Split split);

/// A minibatch: a few examples of a `Dataset`, gathered with one `index_select` per tensor.
struct Batch {
  torch::Tensor images;   ///< float32 [B, 1, rows, cols].
  torch::Tensor labels;   ///< int64 [B].
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
};

/// One epoch of minibatches: a range to iterate with range-for, made by
/// `BatchLoader::epoch`. It holds its own handles to the data and the epoch's order, so it
/// stays valid after the loader is gone. Batches are gathered lazily, one per dereference.
class Epoch {
 public:
  /// Input iterator over the epoch's batches; `*it` is the current batch.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch*;
    using reference = const Batch&;

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
  /// The number of batches: ceil(N / B), or floor(N / B) with `drop_last`.
  int64_t size() const { return num_batches_; }
  /// Batch i of this epoch, 0 <= i < size().
  Batch batch(int64_t i) const;
  /// The order in which this epoch visits the dataset: int64 [N], a permutation of 0..N-1
  /// (the identity without `shuffle`).
  torch::Tensor order() const;

 private:
  friend class BatchLoader;
  Epoch(Dataset dataset, torch::Tensor order, const BatchOptions& options);
  Dataset dataset_;
  torch::Tensor order_;  // on the dataset's device; undefined without shuffle
  BatchOptions options_;
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
///     auto logits = model->forward(batch.images);  // [B, 10]
///     auto nll = torch::nn::functional::cross_entropy(logits, batch.labels);
///   }
/// }
/// ```
class BatchLoader {
 public:
  /// Checks 1 <= batch_size <= N and that images and labels have N examples each.
  BatchLoader(Dataset dataset, BatchOptions options);

  /// The batches of epoch `epoch` (>= 0): the same for the same (seed, epoch), a different
  /// order for each epoch. Every example appears exactly once, except those of a dropped last
  /// batch.
  Epoch epoch(int64_t epoch) const;
  /// The number of batches in each epoch.
  int64_t batches_per_epoch() const;
  /// The dataset being iterated.
  const Dataset& dataset() const { return dataset_; }
  /// The options with which this loader was constructed.
  const BatchOptions& options() const { return options_; }

 private:
  Dataset dataset_;
  BatchOptions options_;
};

}  // namespace bayesnn
