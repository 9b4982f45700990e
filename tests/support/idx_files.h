// Writes small IDX files for the data-layer tests, into a temporary directory the tests own.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace bayesnn::test {

/// A fresh directory under the system temp directory, removed with its files on destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device device;
    path_ = std::filesystem::temp_directory_path() /
            ("bayesnn-test-" + std::to_string(device()) + std::to_string(device()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The path of `name` inside this directory.
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  /// The directory itself.
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

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

}  // namespace bayesnn::test
