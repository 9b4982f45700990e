// The readers under fuzzing take a path: each input is written to one scratch file per process.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

namespace bayesnn::fuzz {

/// Writes `data` to this process's scratch file ($TMPDIR, else /tmp) and returns its path.
inline const std::string& input_file(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir != nullptr ? dir : "/tmp") + "/bayesnn-fuzz-" +
           std::to_string(::getpid());
  }();
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace bayesnn::fuzz
