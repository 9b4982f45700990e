#pragma once

#include <string>

#include "bayesnn/dataset.h"

namespace bayesnn {

/// Which part of MNIST (or Fashion-MNIST): the training or the test examples.
enum class Split {
  kTrain,  ///< The 60,000 training examples (files `train-*-ubyte`).
  kTest,   ///< The 10,000 test examples (files `t10k-*-ubyte`).
};

/// "train" or "test".
std::string to_string(Split split);

/// The data root directory: the environment variable `BAYESNN_DATA` where set and non-empty,
/// else "data" (relative to the working directory). `tools/setup` fills `data/mnist` and
/// `data/fashion-mnist`; `tools/test` sets `BAYESNN_DATA`.
std::string data_root();

/// `data_root()/name`, e.g. `data_dir("mnist")` or `data_dir("fashion-mnist")`.
std::string data_dir(const std::string& name);

/// Loads one split of MNIST, or of Fashion-MNIST (same file names and format), from `dir`,
/// e.g. `data_dir("mnist")`, as a `Dataset` with inputs float32 [N, 1, rows, cols] (pixels
/// scaled by 1/255 to [0, 1]) and targets int64 [N] (class indices 0..9).
///
/// Reads `{train,t10k}-images-idx3-ubyte` and `{train,t10k}-labels-idx1-ubyte` with
/// `read_idx_images`/`read_idx_labels`. Throws `DataError` (idx.h) if a file is missing or
/// malformed, if the image and label counts differ, or if a label is outside 0..9.
///
/// Example:
/// ```
/// auto train = bayesnn::load_mnist(bayesnn::data_dir("mnist"), bayesnn::Split::kTrain);
/// auto fit = train.head(50000);             // the article's training images
/// auto held_out = train.slice(50000, 60000);
/// ```
Dataset load_mnist(const std::string& dir, Split split);

}  // namespace bayesnn
