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

/// What `write_synthetic_mnist` writes.
struct SyntheticMnist {
  uint32_t train = 300;    ///< training images
  uint32_t test = 100;     ///< test images
  int pattern_shift = 0;   ///< moves the bars: a shifted copy is an out-of-distribution set
  double label_noise = 0;  ///< fraction of images that show a random class's bar instead
  uint32_t seed = 0;       ///< seeds labels, bars and noise
};

/// Writes an MNIST-shaped directory (`train-*` and `t10k-*` IDX files, 28x28 images, labels
/// 0..9): image i shows a bright two-row bar whose row depends on its label, over faint noise,
/// so the classes are easy to learn; with `label_noise`, that fraction shows another random
/// class's bar, so a trained network still gets some wrong.
inline void write_synthetic_mnist(const std::string& dir, const SyntheticMnist& options) {
  constexpr uint32_t kSide = 28;
  std::filesystem::create_directories(dir);
  std::mt19937 random(options.seed);
  std::uniform_int_distribution<int> label_of(0, 9), noise(0, 60);
  std::bernoulli_distribution mislabelled(options.label_noise);
  auto write_split = [&](const std::string& prefix, uint32_t count) {
    std::vector<uint8_t> pixels, labels;
    for (uint32_t i = 0; i < count; ++i) {
      const int label = label_of(random);
      const int drawn = mislabelled(random) ? label_of(random) : label;
      for (uint32_t r = 0; r < kSide; ++r) {
        for (uint32_t c = 0; c < kSide; ++c) {
          const bool bar = static_cast<int>(r) / 2 == (drawn + options.pattern_shift) % 14;
          pixels.push_back(static_cast<uint8_t>(bar ? 200 + noise(random) / 2 : noise(random)));
        }
      }
      labels.push_back(static_cast<uint8_t>(label));
    }
    write_file(dir + "/" + prefix + "-images-idx3-ubyte",
               idx_bytes(0x803, {count, kSide, kSide}, pixels));
    write_file(dir + "/" + prefix + "-labels-idx1-ubyte", idx_bytes(0x801, {count}, labels));
  };
  write_split("train", options.train);
  write_split("t10k", options.test);
}
}  // namespace bayesnn::test
