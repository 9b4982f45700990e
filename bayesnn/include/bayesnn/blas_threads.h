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

/// One thread per core: what `std::thread::hardware_concurrency` says, at least 1.
/// bayesnn-experiment defaults to as many LibTorch and OpenBLAS threads (with idle threads
/// sleeping, `wait_passively`): on two cores the thread sweep of `tools/bench` measured the MLPs
/// within 3 % of its fastest pick and the CNN fastest with two LibTorch threads (docs/speed.md).
int cores();

/// Makes idle OpenMP threads sleep instead of spinning. OpenMP reads OMP_WAIT_POLICY once, as its
/// runtime loads, and by default an idle LibTorch thread spins: where another process holds a
/// core, a two-thread step then ran 10-15x slower (docs/speed.md). Where the variable is unset,
/// this sets it to PASSIVE and re-executes the program (`execvp(argv[0], argv)`: the same process
/// id, arguments and environment otherwise), so call it first thing in `main`, before any
/// thread starts. Returns where the variable is set (also after the re-execution), and where
/// re-executing fails, having changed nothing but the variable.
///
/// Example:
/// ```
/// int main(int argc, char** argv) {
///   bayesnn::wait_passively(argv);
///   torch::set_num_threads(bayesnn::cores());
///   bayesnn::set_openblas_threads(bayesnn::cores());
///   ...
/// }
/// ```
void wait_passively(char** argv);

}  // namespace bayesnn
