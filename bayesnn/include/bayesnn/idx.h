#pragma once

#include <stdexcept>
#include <string>

#include <torch/types.h>

namespace bayesnn {

/// A data file that is missing or malformed.
///
/// `what()` starts with the file's path, then says what is wrong, e.g.
/// "data/mnist/train-images-idx3-ubyte: expected 47040016 bytes for 60000x28x28, found 1000".
/// A missing file's message says to run `tools/setup` (or `tools/fetch-data`). Misuse of the
/// API (a bad argument) is a `c10::Error` from `TORCH_CHECK` instead.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads an IDX file of unsigned-byte images (magic 0x00000803, big-endian header
/// `magic, N, rows, cols`, then N·rows·cols bytes): a uint8 tensor [N, rows, cols].
///
/// The whole payload is read with one `read` straight into the tensor. Throws `DataError` if
/// the file is missing, its magic number is not 0x00000803, a dimension is 0, or its length
/// differs from 16 + N·rows·cols bytes.
torch::Tensor read_idx_images(const std::string& path);

/// Reads an IDX file of unsigned-byte labels (magic 0x00000801, big-endian header `magic, N`,
/// then N bytes): a uint8 tensor [N].
///
/// Throws `DataError` as `read_idx_images` does, for a file of 8 + N bytes.
torch::Tensor read_idx_labels(const std::string& path);

}  // namespace bayesnn
