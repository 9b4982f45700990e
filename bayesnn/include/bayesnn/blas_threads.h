#pragma once

#include <optional>

namespace bayesnn {

// OpenBLAS runs a thread pool of its own beside LibTorch's intra-op threads, and
// torch::set_num_threads does not reach it: on a two-core machine the two pools oversubscribe the
// cores (docs/speed.md measures each combination). LibTorch's BLAS is found at run time, so
// OpenBLAS is looked up there too; under another BLAS these functions change nothing.

/// OpenBLAS's thread count, or nullopt where LibTorch's BLAS is not OpenBLAS.
std::optional<int> openblas_threads();

/// Sets OpenBLAS's thread count; returns false (and changes nothing) where LibTorch's BLAS is not
/// OpenBLAS.
bool set_openblas_threads(int threads);

}  // namespace bayesnn
