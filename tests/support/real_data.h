// The real MNIST and Fashion-MNIST that tools/setup fetches, for tests that need them.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/catch.h"

namespace bayesnn::test {

/// The directory of a real dataset ("mnist", "fashion-mnist"): under `BAYESNN_DATA` where set,
/// else under the source tree's data/.
inline std::string real_data_dir(const std::string& name) {
  const char* env = std::getenv("BAYESNN_DATA");
  const std::string root = env != nullptr && *env != '\0' ? env : BAYESNN_DATA_DIR;
  return root + "/" + name;
}

/// Whether a real dataset is present; if not, WARNs, or FAILs under CI=true (where
/// tools/setup must have fetched it).
inline bool real_data_present(const std::string& dir) {
  if (std::filesystem::exists(dir + "/t10k-labels-idx1-ubyte")) return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") {
    FAIL(dir << " is absent under CI=true: tools/setup should have fetched it");
  }
  WARN(dir << " is absent: real-data checks not run here (run tools/setup)");
  return false;
}

}  // namespace bayesnn::test
