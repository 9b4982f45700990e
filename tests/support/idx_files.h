// Writes small IDX files for the data-layer tests, into a temporary directory the tests own.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace bayesnn::test {

/// Appends `value` as four big-endian bytes.
inline void put_big_endian(std::vector<uint8_t>& bytes, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    bytes.push_back(static_cast<uint8_t>(value >> shift));
  }
}

/// The bytes of an IDX file: `magic`, the sizes, then `payload`.
inline std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& sizes,
                                      const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> bytes;
  put_big_endian(bytes, magic);
  for (uint32_t size : sizes) {
    put_big_endian(bytes, size);
  }
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}

/// Writes `bytes` to `path`, replacing any file there.
inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

/// `count` bytes 0, 1, 2, ... (mod 256): a payload whose every position is recognisable.
inline std::vector<uint8_t> counting_bytes(size_t count) {
  std::vector<uint8_t> bytes(count);
  for (size_t i = 0; i < count; ++i) {
    bytes[i] = static_cast<uint8_t>(i % 256);
  }
  return bytes;
}

/// Writes an MNIST-shaped directory (`train-*` and `t10k-*` IDX files, 28x28 images, labels
/// 0..9) of `train` and `test` examples whose class is easy to learn: label c lights a 6x6
/// square at a position of its own, over faint seeded noise.
inline void write_synthetic_mnist(const std::string& dir, uint32_t train, uint32_t test,
                                  uint32_t seed = 0) {
  std::mt19937 random(seed);
  auto write_split = [&](const std::string& prefix, uint32_t count) {
    std::vector<uint8_t> pixels(static_cast<size_t>(count) * 28 * 28), labels(count);
    for (uint32_t i = 0; i < count; ++i) {
      const auto label = static_cast<uint8_t>(random() % 10);
      labels[i] = label;
      uint8_t* image = pixels.data() + static_cast<size_t>(i) * 28 * 28;
      for (int p = 0; p < 28 * 28; ++p) image[p] = static_cast<uint8_t>(random() % 40);
      const int top = 2 + (label / 5) * 12, left = 1 + (label % 5) * 5;
      for (int r = top; r < top + 6; ++r) {
        for (int c = left; c < left + 6 && c < 28; ++c) image[r * 28 + c] = 255;
      }
    }
    write_file(dir + "/" + prefix + "-images-idx3-ubyte",
               idx_bytes(0x803, {count, 28, 28}, pixels));
    write_file(dir + "/" + prefix + "-labels-idx1-ubyte", idx_bytes(0x801, {count}, labels));
  };
  write_split("train", train);
  write_split("t10k", test);
}

}  // namespace bayesnn::test
