// The one place the tests include Catch2 from (v2.13 on Debian 12: no SKIP; messages are
// matched with Catch::Contains).
#pragma once

#include <catch2/catch.hpp>

#include <torch/cuda.h>

/// Returns from the enclosing test case with a WARN where no CUDA device is present.
#define BAYESNN_REQUIRE_CUDA_OR_RETURN()                \
  do {                                                  \
    if (!torch::cuda::is_available()) {                 \
      WARN("no CUDA device: CUDA checks not run here"); \
      return;                                           \
    }                                                   \
  } while (false)
