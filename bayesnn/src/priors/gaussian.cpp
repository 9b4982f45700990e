#include "bayesnn/gaussian.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/autograd.h>

#include "kernels/fused_gaussian.h"
#include "kernels/noise.h"
#include "priors/checks.h"

namespace bayesnn {
namespace {
const double kLog2Pi = std::log(2.0 * M_PI);

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The scalar part of the zero-mean KL, from the sums s0 = sum log_sigma and
// s1 = sum (sigma² + mean²) over n elements, with its gradient: written once for doubles (the
// CPU) and for scalar tensors (other devices, and double backward). As an autograd node of its
// own it replaces some ten scalar operations per tensor, forward and backward, which cost more
// than the passes over the weights of a small network (the hierarchical KL does the same,
// priors/hierarchical_kl.h).
using std::exp;

// KL(q || N(0, sd²)) = n (log sd - 1/2) - s0 + s1 / (2 sd²).
template <typename T>
T zero_mean_kl(const T& s0, const T& s1, const T& log_sd, double n) {
  return n * (log_sd - 0.5) - s0 + 0.5 * exp(-2.0 * log_sd) * s1;
}

// Its gradient with respect to (s0, s1, log_sd), times g.
template <typename T>
std::array<T, 3> zero_mean_kl_grad(const T& g, const T& s1, const T& log_sd, double n) {
  const T inv_var = exp(-2.0 * log_sd);
  return {-g, 0.5 * inv_var * g, g * (n - inv_var * s1)};
}

class ZeroMeanKl : public torch::autograd::Function<ZeroMeanKl> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& sums, const at::Tensor& log_sd,
                            double n) {
    ctx->save_for_backward({sums, log_sd});
    ctx->saved_data["n"] = n;
    if (!detail::all_cpu({sums, log_sd})) return zero_mean_kl(sums[0], sums[1], log_sd, n);
    const auto s = sums.to(at::kDouble);
    const double value =
        zero_mean_kl(s[0].item<double>(), s[1].item<double>(), log_sd.item<double>(), n);
    return at::scalar_tensor(value, sums.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &sums = saved[0], &log_sd = saved[1], &g = grads[0];
    const double n = ctx->saved_data["n"].toDouble();
    if (!detail::all_cpu({sums, log_sd, g}) || at::GradMode::is_enabled()) {
      const auto d = zero_mean_kl_grad(g, sums[1], log_sd, n);
      return {at::stack({d[0], d[1]}), d[2].to(log_sd.scalar_type()), at::Tensor()};
    }
    const auto d =
        zero_mean_kl_grad(g.item<double>(), sums[1].item<double>(), log_sd.item<double>(), n);
    return {at::tensor({d[0], d[1]}, sums.options()), at::scalar_tensor(d[2], log_sd.options()),
            at::Tensor()};
  }
};

}  // namespace

at::Tensor gaussian_sums(const at::Tensor& mean, const at::Tensor& log_sigma) {
  return fused_gaussian_sums(mean, log_sigma);
}

at::Tensor sample_normal(const at::Tensor& mean, const at::Tensor& log_sigma) {
  if (mean.sizes() != log_sigma.sizes() || mean.scalar_type() != log_sigma.scalar_type()) {
    return mean + log_sigma.exp() * standard_normal_like(mean);
  }
  return fused_gaussian_term(GaussianTerm::kDraw, mean, log_sigma).term;
}

at::Tensor random_signs(const at::Tensor& like) {
  const auto type = like.scalar_type();
  if (!like.device().is_cpu() || (type != at::kFloat && type != at::kDouble)) {
    return at::empty_like(like).bernoulli_(0.5).mul_(2).sub_(1);
  }
  // On the CPU, 32 signs per draw of the generator: bernoulli_ draws one number per sign,
  // which made Flipout's signs cost more than its matmuls.
  auto signs = at::empty_like(like, at::MemoryFormat::Contiguous);
  const int64_t n = signs.numel();
  const auto words = at::empty({(n + 31) / 32}, like.options().dtype(at::kLong)).random_();
  const int64_t* bits = words.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(type, "random_signs", [&] {
    scalar_t* out = signs.data_ptr<scalar_t>();
    at::parallel_for(0, (n + 31) / 32, kCpuBlock / 32, [&](int64_t begin, int64_t end) {
      for (int64_t w = begin; w < end; ++w) {
        const auto word = static_cast<uint64_t>(bits[w]);
        const int64_t first = w * 32, count = std::min<int64_t>(32, n - first);
        for (int64_t k = 0; k < count; ++k) {
          out[first + k] = static_cast<scalar_t>(static_cast<int>((word >> k) & 1u) * 2 - 1);
        }
      }
    });
  });
  return signs;
}

at::Tensor kl_normal_zero_mean(const at::Tensor& mean, const at::Tensor& log_sigma,
                               const at::Tensor& log_sd) {
  return kl_normal_zero_mean_from_sums(gaussian_sums(mean, log_sigma), log_sd, mean.numel());
}

at::Tensor kl_normal_zero_mean_from_sums(const at::Tensor& sums, const at::Tensor& log_sd,
                                         int64_t n) {
  return ZeroMeanKl::apply(sums, log_sd, static_cast<double>(n));
}

at::Tensor gaussian_entropy(const at::Tensor& log_sigma) {
  return log_sigma.sum() + 0.5 * (kLog2Pi + 1.0) * static_cast<double>(log_sigma.numel());
}

}  // namespace bayesnn
