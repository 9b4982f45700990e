// The one place the tests include Catch2 from: Catch2 2 (Debian 12's 2.13: no SKIP; messages are
// matched with Catch::Contains) or Catch2 3 (Debian 13's 3.7), whichever tests/CMakeLists.txt
// found; under 3 the names of 2 that the tests use are provided here.
#pragma once

#ifdef BAYESNN_CATCH2_V3
#include <string>

#include <catch2/catch_all.hpp>

using Catch::Approx;

namespace Catch {
// Catch2 3 moved the string matchers into Catch::Matchers and renamed Contains (its Contains
// matches an element of a range).
inline Matchers::StringContainsMatcher Contains(const std::string& text,
                                                CaseSensitive sensitivity = CaseSensitive::Yes) {
  return Matchers::ContainsSubstring(text, sensitivity);
}
using Matchers::EndsWith;
using Matchers::StartsWith;
}  // namespace Catch
#else
#include <catch2/catch.hpp>
#endif

#include <torch/cuda.h>

/// Returns from the enclosing test case with a WARN where no CUDA device is present.
#define BAYESNN_REQUIRE_CUDA_OR_RETURN()                \
  do {                                                  \
    if (!torch::cuda::is_available()) {                 \
      WARN("no CUDA device: CUDA checks not run here"); \
      return;                                           \
    }                                                   \
  } while (false)
