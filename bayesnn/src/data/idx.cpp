#include "bayesnn/idx.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fmt/ranges.h>

namespace bayesnn {
namespace {

constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte (0x08), 1 dimension
constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte (0x08), 3 dimensions

uint32_t read_big_endian(const unsigned char* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

std::string describe(uint32_t magic) {
  return magic == kImagesMagic ? "idx3 unsigned-byte images" : "idx1 unsigned-byte labels";
}

// The file at `path`, opened at its end (its size), or a DataError saying how to get it.
std::ifstream open_idx(const std::string& path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (file) return file;
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) {
    throw DataError(fmt::format(
        "{}: no such file; run tools/setup (or tools/fetch-data) to fetch the data, or point "
        "BAYESNN_DATA at a directory that holds it",
        path));
  }
  throw DataError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
}

// The header's `ndim` sizes, each positive, their product a byte count that fits in 64 bits.
std::vector<int64_t> header_sizes(const std::string& path, const unsigned char* header,
                                  int64_t ndim, int64_t header_bytes, int64_t file_bytes) {
  std::vector<int64_t> sizes;
  uint64_t elements = 1;
  bool overflow = false;
  for (int64_t d = 0; d < ndim; ++d) {
    const uint32_t size = read_big_endian(header + 4 + 4 * d);
    if (size == 0) {
      throw DataError(
          fmt::format("{}: dimension {} of the header is 0, expected positive", path, d));
    }
    sizes.push_back(size);
    overflow = overflow || __builtin_mul_overflow(elements, uint64_t{size}, &elements);
  }
  if (overflow || elements > static_cast<uint64_t>(INT64_MAX - header_bytes)) {
    throw DataError(fmt::format("{}: header sizes {} overflow a 64-bit byte count, found {} bytes",
                                path, fmt::join(sizes, "x"), file_bytes));
  }
  return sizes;
}

torch::Tensor read_idx(const std::string& path, uint32_t expected_magic) {
  const int64_t ndim = expected_magic & 0xff;
  const int64_t header_bytes = 4 + 4 * ndim;

  std::ifstream file = open_idx(path);
  const int64_t file_bytes = static_cast<int64_t>(file.tellg());
  file.seekg(0);

  unsigned char header[16] = {};
  const int64_t header_read = std::min(file_bytes, header_bytes);
  file.read(reinterpret_cast<char*>(header), header_read);
  if (file_bytes >= 4) {
    const uint32_t magic = read_big_endian(header);
    if (magic != expected_magic) {
      throw DataError(fmt::format("{}: magic number 0x{:08x}, expected 0x{:08x} ({})", path, magic,
                                  expected_magic, describe(expected_magic)));
    }
  }
  if (file_bytes < header_bytes) {
    throw DataError(fmt::format("{}: expected a {}-byte {} header, found {} bytes", path,
                                header_bytes, describe(expected_magic), file_bytes));
  }

  const auto sizes = header_sizes(path, header, ndim, header_bytes, file_bytes);
  uint64_t elements = 1;
  for (const auto size : sizes) elements *= static_cast<uint64_t>(size);
  const std::string shape = fmt::format("{}", fmt::join(sizes, "x"));
  const int64_t expected_bytes = header_bytes + static_cast<int64_t>(elements);
  if (file_bytes != expected_bytes) {
    throw DataError(fmt::format("{}: expected {} bytes for {}, found {}", path, expected_bytes,
                                shape, file_bytes));
  }

  auto tensor = torch::empty(sizes, torch::kUInt8);
  file.read(reinterpret_cast<char*>(tensor.data_ptr<uint8_t>()), static_cast<int64_t>(elements));
  if (!file) {
    throw DataError(fmt::format("{}: read failed after {} of {} payload bytes", path,
                                static_cast<int64_t>(file.gcount()), elements));
  }
  return tensor;
}

}  // namespace

torch::Tensor read_idx_images(const std::string& path) { return read_idx(path, kImagesMagic); }

torch::Tensor read_idx_labels(const std::string& path) { return read_idx(path, kLabelsMagic); }

}  // namespace bayesnn
