// Internal: the AVX2 kernels of the CPU noise (noise_avx2.cpp, compiled with -mavx2 -mfma and
// linked against Sleef when CMake finds it). Plain C types only, so nothing compiled for AVX2 is
// shared with the rest of the library. Call them only where avx2_noise_available() (noise.h).
#pragma once

#include <cstdint>

namespace bayesnn::avx2 {

/// Fills out[0, n) with N(0, 1) draws: Box-Muller on 24-bit uniforms from four xoshiro256**
/// streams seeded from `seed` by splitmix64 (the same numbers for a seed on any AVX2 machine).
void fill_standard_normal(float* out, int64_t n, uint64_t seed);

}  // namespace bayesnn::avx2
