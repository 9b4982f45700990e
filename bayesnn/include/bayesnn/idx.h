#pragma once

#include <stdexcept>
#include <string>

#include <torch/types.h>

#include "bayesnn/errors.h"

namespace bayesnn {

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
