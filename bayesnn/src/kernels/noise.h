// Internal: noise terms the estimators share (not part of the public headers).
#pragma once

#include <cstdint>

#include <ATen/ATen.h>
#include <c10/util/FunctionRef.h>

namespace bayesnn {

/// Elements per block of the CPU loops whose results must not depend on the thread count: each
/// block of noise comes from a generator of its own, and a reduction adds one partial sum per
/// block, in block order. Large enough that seeding a generator costs nothing beside the draws,
/// small enough that a block stays in the L2 cache between drawing and using it.
constexpr int64_t kCpuBlock = 1 << 15;

/// Whether the CPU noise of float tensors takes the AVX2 path (noise_avx2.h): the library was
/// built with Sleef for x86-64 and this CPU has AVX2 and FMA. Elsewhere the noise comes from
/// LibTorch's generator: the same distribution, other numbers.
bool avx2_noise_available();

/// Calls fill(offset, length, seed) for the blocks of kCpuBlock of n elements, in parallel, each
/// block with its own seed from the default CPU generator.
void for_each_seeded_block(
    int64_t n, c10::function_ref<void(int64_t offset, int64_t length, uint64_t seed)> fill);

/// eps ~ N(0, I) with the shape, device and dtype of `like`. On the CPU the draws come in fixed
/// blocks, each from its own generator seeded from the default one, filled in parallel: the
/// same numbers for any thread count, and a step's noise no longer waits on one thread.
at::Tensor standard_normal_like(const at::Tensor& like);

}  // namespace bayesnn
