// A temporary directory owned by one test.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

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

}  // namespace bayesnn::test
