// AVX2 kernels of the CPU noise. This file is compiled with -mavx2 -mfma, so it includes no
// header with inline C++ functions (<cmath>, <cstring>): an AVX2 copy of one could stand in for
// the copy another file shares, on a CPU without AVX2. Its own helpers have internal linkage;
// the C headers' intrinsics are always inlined. Callers check the CPU first
// (avx2_noise_available(), noise.h).
#include "kernels/noise_avx2.h"

#include <sleef.h>

namespace bayesnn::avx2 {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <int k>
__m256i rotl(__m256i x) {
  return _mm256_or_si256(_mm256_slli_epi64(x, k), _mm256_srli_epi64(x, 64 - k));
}

// Four xoshiro256** generators (Blackman and Vigna), one per 64-bit lane.
class Xoshiro4 {
 public:
  explicit Xoshiro4(uint64_t seed) {
    alignas(32) uint64_t words[16];
    for (auto& word : words) word = splitmix64(seed);
    s0_ = _mm256_load_si256(reinterpret_cast<const __m256i*>(words));
    s1_ = _mm256_load_si256(reinterpret_cast<const __m256i*>(words + 4));
    s2_ = _mm256_load_si256(reinterpret_cast<const __m256i*>(words + 8));
    s3_ = _mm256_load_si256(reinterpret_cast<const __m256i*>(words + 12));
  }

  // 256 random bits: rotl(s1 * 5, 7) * 9 per lane, then the state advances.
  __m256i next() {
    const __m256i times5 = _mm256_add_epi64(_mm256_slli_epi64(s1_, 2), s1_);
    const __m256i rotated = rotl<7>(times5);
    const __m256i result = _mm256_add_epi64(_mm256_slli_epi64(rotated, 3), rotated);
    const __m256i t = _mm256_slli_epi64(s1_, 17);
    s2_ = _mm256_xor_si256(s2_, s0_);
    s3_ = _mm256_xor_si256(s3_, s1_);
    s1_ = _mm256_xor_si256(s1_, s2_);
    s0_ = _mm256_xor_si256(s0_, s3_);
    s2_ = _mm256_xor_si256(s2_, t);
    s3_ = rotl<45>(s3_);
    return result;
  }

 private:
  __m256i s0_, s1_, s2_, s3_;
};

// The top 24 bits of each 32-bit word as k * 2^-24, k in [0, 2^24): exact in float.
__m256 uniform_24(__m256i bits) {
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(bits, 8)),
                       _mm256_set1_ps(1.0f / 16777216.0f));
}

// 16 standard normals by Box-Muller: r = sqrt(-2 log u1), u1 in (0, 1], and the angle
// 2 pi u2, u2 in [0, 1): out[0, 8) = r cos, out[8, 16) = r sin.
void box_muller_16(Xoshiro4& rng, float* out) {
  const __m256 u1 = _mm256_sub_ps(_mm256_set1_ps(1.0f), uniform_24(rng.next()));
  const __m256 u2 = uniform_24(rng.next());
  const __m256 radius =
      _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), Sleef_logf8_u35avx2(u1)));
  const Sleef___m256_2 sin_cos = Sleef_sincospif8_u35avx2(_mm256_add_ps(u2, u2));
  _mm256_storeu_ps(out, _mm256_mul_ps(radius, sin_cos.y));
  _mm256_storeu_ps(out + 8, _mm256_mul_ps(radius, sin_cos.x));
}
}  // namespace

void fill_standard_normal(float* out, int64_t n, uint64_t seed) {
  Xoshiro4 rng(seed);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) box_muller_16(rng, out + i);
  if (i < n) {
    float last[16];
    box_muller_16(rng, last);
    __builtin_memcpy(out + i, last, static_cast<size_t>(n - i) * sizeof(float));
  }
}

}  // namespace bayesnn::avx2
