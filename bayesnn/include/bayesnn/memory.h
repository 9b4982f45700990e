#pragma once

namespace bayesnn {

/// Makes the C library keep freed memory for reuse instead of handing it back to the system
/// after every step: glibc serves allocations above its mmap threshold (128 KiB at start) with
/// fresh pages, so a training step that allocates and frees tensors of a few MiB faults in and
/// zeroes every page again each step (a quarter of a 2x800 Bayesian MLP step on the
/// development machine). Raises the threshold to its maximum (32 MiB) and stops trimming the
/// heap. Process-wide and permanent; the peak resident memory stays what it was, the memory
/// is simply not returned between steps. Returns false where the C library is not glibc
/// (nothing changes). A program calls it in its `main` (bayesnn-experiment and the bench do).
bool reuse_freed_memory();

}  // namespace bayesnn
