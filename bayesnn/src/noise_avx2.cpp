// AVX2 kernels of the CPU noise. This file is compiled with -mavx2 -mfma, so it includes no
// header with inline C++ functions (<cmath>, <cstring>): an AVX2 copy of one could stand in for
// the copy another file shares, on a CPU without AVX2. Its own helpers have internal linkage;
// the C headers' intrinsics are always inlined. Callers check the CPU first
// (avx2_noise_available(), noise.h).
#include "noise_avx2.h"

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

namespace {
float scalar_term(int term, float mean, float sigma, float noise) {
  return term == 0 ? mean + sigma * noise : term == 1 ? sigma * noise : sigma * sigma;
}

__m256d widen_sum(__m256 x) {
  return _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                       _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
}

double horizontal_sum(__m256d x) {
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, x);
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}
}  // namespace

void gaussian_term(int term, const float* mean, const float* log_sigma, float* inout, float* sigma,
                   int64_t n, double sums[2]) {
  __m256d log_sum = _mm256_setzero_pd(), square_sum = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 ls = _mm256_loadu_ps(log_sigma + i);
    const __m256 m = _mm256_loadu_ps(mean + i);
    const __m256 s = Sleef_expf8_u10avx2(ls);
    if (sigma != nullptr) _mm256_storeu_ps(sigma + i, s);
    const __m256 out = term == 0   ? _mm256_fmadd_ps(s, _mm256_loadu_ps(inout + i), m)
                       : term == 1 ? _mm256_mul_ps(s, _mm256_loadu_ps(inout + i))
                                   : _mm256_mul_ps(s, s);
    _mm256_storeu_ps(inout + i, out);
    log_sum = _mm256_add_pd(log_sum, widen_sum(ls));
    square_sum = _mm256_add_pd(square_sum, widen_sum(_mm256_fmadd_ps(s, s, _mm256_mul_ps(m, m))));
  }
  sums[0] = horizontal_sum(log_sum);
  sums[1] = horizontal_sum(square_sum);
  for (; i < n; ++i) {
    const float s = __builtin_expf(log_sigma[i]);
    if (sigma != nullptr) sigma[i] = s;
    inout[i] = scalar_term(term, mean[i], s, inout[i]);
    sums[0] += log_sigma[i];
    sums[1] += static_cast<double>(s) * s + static_cast<double>(mean[i]) * mean[i];
  }
}

}  // namespace bayesnn::avx2
