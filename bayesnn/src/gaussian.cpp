#include "bayesnn/gaussian.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/autograd.h>

#include "fused_gaussian.h"
#include "noise.h"

namespace bayesnn {
namespace {
const double kLog2Pi = std::log(2.0 * M_PI);

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The scalar part of the closed-form KLs, from the sums s0 = sum log_sigma and
// s1 = sum (sigma² + mean²) over n elements, with their gradients: written once for doubles
// (the CPU), for scalar tensors (other devices, and double backward) and for a tensor of one per
// unit (kl_unit_hierarchical). As autograd nodes of
// their own they replace some ten scalar operations per tensor, forward and backward, which
// cost more than the passes over the weights of a small network.
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

// The hierarchical KL (kl_hierarchical in gaussian.h) with m = log_scale_mean and
// v = exp(2 log_scale_log_sigma).
template <typename T>
T hierarchical_kl(const T& s0, const T& s1, const T& m, const T& lsl, double n, double tau) {
  const T v = exp(2.0 * lsl);
  // E[log q(w)] - E[log p(w|s)]: the -1/2 log 2pi terms cancel, leaving -1/2 per element.
  const T w_term = -0.5 * n - s0 + n * m + 0.5 * exp(2.0 * (v - m)) * s1;
  const T log_q_u = -0.5 * (kLog2Pi + 1.0) - lsl;
  const T log_p_u =
      0.5 * std::log(2.0 / M_PI) - std::log(tau) - exp(2.0 * (m + v)) / (2.0 * tau * tau) + m;
  return w_term + log_q_u - log_p_u;
}

// Its gradient with respect to (s0, s1, m, lsl), times g: with e = exp(2 (v - m)) and
// q = exp(2 (m + v)) / tau², d/dm = n - e s1 + q - 1 and d/dlsl = 2 v (e s1 + q) - 1.
template <typename T>
std::array<T, 4> hierarchical_kl_grad(const T& g, const T& s1, const T& m, const T& lsl, double n,
                                      double tau) {
  const T v = exp(2.0 * lsl);
  const T e = exp(2.0 * (v - m));
  const T q = exp(2.0 * (m + v)) / (tau * tau);
  return {-g, 0.5 * e * g, g * (n - e * s1 + q - 1.0), g * (2.0 * v * (e * s1 + q) - 1.0)};
}

bool all_cpu(std::initializer_list<at::Tensor> tensors) {
  return std::all_of(tensors.begin(), tensors.end(),
                     [](const at::Tensor& t) { return t.device().is_cpu(); });
}

class ZeroMeanKl : public torch::autograd::Function<ZeroMeanKl> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& sums, const at::Tensor& log_sd,
                            double n) {
    ctx->save_for_backward({sums, log_sd});
    ctx->saved_data["n"] = n;
    if (!all_cpu({sums, log_sd})) return zero_mean_kl(sums[0], sums[1], log_sd, n);
    const auto s = sums.to(at::kDouble);
    const double value =
        zero_mean_kl(s[0].item<double>(), s[1].item<double>(), log_sd.item<double>(), n);
    return at::scalar_tensor(value, sums.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &sums = saved[0], &log_sd = saved[1], &g = grads[0];
    const double n = ctx->saved_data["n"].toDouble();
    if (!all_cpu({sums, log_sd, g}) || at::GradMode::is_enabled()) {
      const auto d = zero_mean_kl_grad(g, sums[1], log_sd, n);
      return {at::stack({d[0], d[1]}), d[2].to(log_sd.scalar_type()), at::Tensor()};
    }
    const auto d =
        zero_mean_kl_grad(g.item<double>(), sums[1].item<double>(), log_sd.item<double>(), n);
    return {at::tensor({d[0], d[1]}, sums.options()), at::scalar_tensor(d[2], log_sd.options()),
            at::Tensor()};
  }
};

class HierarchicalKl : public torch::autograd::Function<HierarchicalKl> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& sums, const at::Tensor& m,
                            const at::Tensor& lsl, double n, double tau) {
    ctx->save_for_backward({sums, m, lsl});
    ctx->saved_data["n"] = n;
    ctx->saved_data["tau"] = tau;
    if (!all_cpu({sums, m, lsl})) return hierarchical_kl(sums[0], sums[1], m, lsl, n, tau);
    const auto s = sums.to(at::kDouble);
    const double value = hierarchical_kl(s[0].item<double>(), s[1].item<double>(), m.item<double>(),
                                         lsl.item<double>(), n, tau);
    return at::scalar_tensor(value, sums.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &sums = saved[0], &m = saved[1], &lsl = saved[2], &g = grads[0];
    const double n = ctx->saved_data["n"].toDouble(), tau = ctx->saved_data["tau"].toDouble();
    if (!all_cpu({sums, m, lsl, g}) || at::GradMode::is_enabled()) {
      const auto d = hierarchical_kl_grad(g, sums[1], m, lsl, n, tau);
      return {at::stack({d[0], d[1]}), d[2], d[3], at::Tensor(), at::Tensor()};
    }
    const auto d = hierarchical_kl_grad(g.item<double>(), sums[1].item<double>(), m.item<double>(),
                                        lsl.item<double>(), n, tau);
    return {at::tensor({d[0], d[1]}, sums.options()), at::scalar_tensor(d[2], m.options()),
            at::scalar_tensor(d[3], lsl.options()), at::Tensor(), at::Tensor()};
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

at::Tensor kl_normal(const at::Tensor& mean, const at::Tensor& log_sigma,
                     const at::Tensor& prior_mean, const at::Tensor& prior_sd) {
  const auto ratio =
      ((2 * log_sigma).exp() + (mean - prior_mean).square()) / (2 * prior_sd.square());
  return (prior_sd.log() - log_sigma + ratio - 0.5).sum();
}

at::Tensor kl_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                           const at::Tensor& log_scale_mean, const at::Tensor& log_scale_log_sigma,
                           double tau) {
  return kl_hierarchical_from_sums(gaussian_sums(mean, log_sigma), log_scale_mean,
                                   log_scale_log_sigma, mean.numel(), tau);
}

at::Tensor kl_hierarchical_from_sums(const at::Tensor& sums, const at::Tensor& log_scale_mean,
                                     const at::Tensor& log_scale_log_sigma, int64_t n, double tau) {
  return HierarchicalKl::apply(sums, log_scale_mean, log_scale_log_sigma, static_cast<double>(n),
                               tau);
}

at::Tensor kl_unit_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                                const at::Tensor& log_scale_mean,
                                const at::Tensor& log_scale_log_sigma, double tau) {
  TORCH_CHECK(mean.dim() >= 1 && mean.sizes() == log_sigma.sizes(),
              "kl_unit_hierarchical: expected a mean and log_sigma of one shape with a unit "
              "dimension, got ",
              mean.sizes(), " and ", log_sigma.sizes());
  const int64_t units = mean.size(0);
  TORCH_CHECK(log_scale_mean.sizes() == at::IntArrayRef{units} &&
                  log_scale_log_sigma.sizes() == at::IntArrayRef{units},
              "kl_unit_hierarchical: expected one log scale per unit, shape [", units, "], got ",
              log_scale_mean.sizes(), " and ", log_scale_log_sigma.sizes());
  const double n = units > 0 ? static_cast<double>(mean.numel() / units) : 0.0;
  const auto s0 = log_sigma.reshape({units, -1}).sum(1);
  const auto s1 = ((2.0 * log_sigma).exp() + mean.square()).reshape({units, -1}).sum(1);
  return hierarchical_kl(s0, s1, log_scale_mean, log_scale_log_sigma, n, tau).sum();
}

at::Tensor scale_mixture_log_density(const at::Tensor& w, double pi, double sigma1, double sigma2) {
  const auto w2 = w.square();
  const auto wide = w2 * (-0.5 / (sigma1 * sigma1)) + (std::log(pi) - std::log(sigma1));
  const auto narrow = w2 * (-0.5 / (sigma2 * sigma2)) + (std::log1p(-pi) - std::log(sigma2));
  return at::logaddexp(wide, narrow).sum() - 0.5 * kLog2Pi * static_cast<double>(w.numel());
}

at::Tensor gaussian_entropy(const at::Tensor& log_sigma) {
  return log_sigma.sum() + 0.5 * (kLog2Pi + 1.0) * static_cast<double>(log_sigma.numel());
}

at::Tensor neg_log_half_normal(const at::Tensor& log_s, double tau) {
  return -0.5 * std::log(2.0 / M_PI) + std::log(tau) + (2.0 * log_s).exp() / (2.0 * tau * tau);
}

}  // namespace bayesnn
