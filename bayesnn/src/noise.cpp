#include "noise.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <vector>

#if BAYESNN_HAVE_AVX2_NOISE
#include "noise_avx2.h"
#endif

namespace bayesnn {
namespace {
// Draws per block (and generator): large enough that seeding a generator costs nothing beside
// the draws, small enough that a block stays in the L2 cache between drawing and scaling.
constexpr int64_t kNormalBlock = 1 << 15;

bool fast_path(const at::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == at::kFloat && avx2_noise_available();
}

// Calls fill(offset, length, seed) for the fixed blocks of n draws, in parallel, each block
// with its own seed from the default CPU generator.
template <typename Fill>
void for_each_block(int64_t n, const Fill& fill) {
  const int64_t blocks = (n + kNormalBlock - 1) / kNormalBlock;
  const auto seeds = at::empty({blocks}, at::kLong).random_();
  const int64_t* seed = seeds.data_ptr<int64_t>();
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t offset = b * kNormalBlock;
      fill(offset, std::min(kNormalBlock, n - offset), static_cast<uint64_t>(seed[b]));
    }
  });
}
}  // namespace

bool avx2_noise_available() {
#if BAYESNN_HAVE_AVX2_NOISE
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
#else
  return false;
#endif
}

at::Tensor standard_normal_like(const at::Tensor& like) {
  const int64_t n = like.numel();
  const bool fast = fast_path(like);
  if (!like.device().is_cpu() || (!fast && n < 2 * kNormalBlock)) return at::randn_like(like);
  auto noise = at::empty_like(like, at::MemoryFormat::Contiguous);
  auto flat = noise.view({-1});
#if BAYESNN_HAVE_AVX2_NOISE
  if (fast) {
    float* out = noise.data_ptr<float>();
    for_each_block(n, [&](int64_t offset, int64_t length, uint64_t seed) {
      avx2::fill_standard_normal(out + offset, length, seed);
    });
    return noise;
  }
#endif
  for_each_block(n, [&](int64_t offset, int64_t length, uint64_t seed) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    flat.narrow(0, offset, length).normal_(0, 1, generator);
  });
  return noise;
}

TermWithSums gaussian_term_with_sums(GaussianTerm kind, const at::Tensor& mean,
                                     const at::Tensor& log_sigma) {
#if BAYESNN_HAVE_AVX2_NOISE
  if (fast_path(log_sigma) && mean.scalar_type() == at::kFloat && mean.is_contiguous() &&
      log_sigma.is_contiguous() && mean.sizes() == log_sigma.sizes()) {
    const int64_t n = mean.numel();
    auto term = at::empty_like(mean, at::MemoryFormat::Contiguous);
    const bool variance = kind == GaussianTerm::kVariance;
    auto sigma = variance ? at::Tensor() : at::empty_like(mean, at::MemoryFormat::Contiguous);
    float* out = term.data_ptr<float>();
    float* s = variance ? nullptr : sigma.data_ptr<float>();
    const float* m = mean.data_ptr<float>();
    const float* ls = log_sigma.data_ptr<float>();
    // Per-block sums, added in block order: the same total for any thread count.
    std::vector<double> block_sums(
        static_cast<size_t>(2 * ((n + kNormalBlock - 1) / kNormalBlock)));
    for_each_block(n, [&](int64_t offset, int64_t length, uint64_t seed) {
      if (!variance) avx2::fill_standard_normal(out + offset, length, seed);
      avx2::gaussian_term(static_cast<int>(kind), m + offset, ls + offset, out + offset,
                          variance ? nullptr : s + offset, length,
                          &block_sums[static_cast<size_t>(2 * (offset / kNormalBlock))]);
    });
    double log_sum = 0, square_sum = 0;
    for (size_t b = 0; b < block_sums.size(); b += 2) {
      log_sum += block_sums[b];
      square_sum += block_sums[b + 1];
    }
    return {term, sigma, at::tensor({log_sum, square_sum}, mean.options())};
  }
#endif
  auto sigma = log_sigma.exp();
  auto sums = at::stack({log_sigma.sum(), (sigma.square() + mean.square()).sum()});
  switch (kind) {
    case GaussianTerm::kDraw:
      return {standard_normal_like(mean).mul_(sigma).add_(mean), sigma, sums};
    case GaussianTerm::kPerturbation:
      return {standard_normal_like(mean).mul_(sigma), sigma, sums};
    case GaussianTerm::kVariance:
      return {sigma.square(), at::Tensor(), sums};
  }
  TORCH_CHECK(false, "gaussian_term_with_sums: unknown term");
}

}  // namespace bayesnn
