#include "kernels/noise.h"

#include <algorithm>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#if BAYESNN_HAVE_AVX2_NOISE
#include "kernels/noise_avx2.h"
#endif

namespace bayesnn {

bool avx2_noise_available() {
#if BAYESNN_HAVE_AVX2_NOISE
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
#else
  return false;
#endif
}

void for_each_seeded_block(
    int64_t n, c10::function_ref<void(int64_t offset, int64_t length, uint64_t seed)> fill) {
  const int64_t blocks = (n + kCpuBlock - 1) / kCpuBlock;
  const auto seeds = at::empty({blocks}, at::kLong).random_();
  const int64_t* seed = seeds.data_ptr<int64_t>();
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t offset = b * kCpuBlock;
      fill(offset, std::min(kCpuBlock, n - offset), static_cast<uint64_t>(seed[b]));
    }
  });
}

at::Tensor standard_normal_like(const at::Tensor& like) {
  const int64_t n = like.numel();
  const bool fast =
      like.device().is_cpu() && like.scalar_type() == at::kFloat && avx2_noise_available();
  if (!like.device().is_cpu() || (!fast && n < 2 * kCpuBlock)) return at::randn_like(like);
  auto noise = at::empty_like(like, at::MemoryFormat::Contiguous);
#if BAYESNN_HAVE_AVX2_NOISE
  if (fast) {
    float* out = noise.data_ptr<float>();
    for_each_seeded_block(n, [&](int64_t offset, int64_t length, uint64_t seed) {
      avx2::fill_standard_normal(out + offset, length, seed);
    });
    return noise;
  }
#endif
  auto flat = noise.view({-1});
  for_each_seeded_block(n, [&](int64_t offset, int64_t length, uint64_t seed) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    flat.narrow(0, offset, length).normal_(0, 1, generator);
  });
  return noise;
}

}  // namespace bayesnn
