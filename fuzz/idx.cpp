// The IDX readers on arbitrary bytes: a malformed file is a DataError, never a crash, a hang or
// an allocation the file's length does not justify.
#include <cstddef>
#include <cstdint>

#include "bayesnn/idx.h"
#include "input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = bayesnn::fuzz::input_file(data, size);
  try {
    const auto images = bayesnn::read_idx_images(path);
    if (images.dim() != 3) __builtin_trap();
  } catch (const bayesnn::DataError&) {
  }
  try {
    const auto labels = bayesnn::read_idx_labels(path);
    if (labels.dim() != 1 || static_cast<size_t>(labels.numel()) + 8 != size) __builtin_trap();
  } catch (const bayesnn::DataError&) {
  }
  return 0;
}
