#include "bayesnn/gaussian.h"

#include "noise.h"

#include <cmath>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

namespace bayesnn {
namespace {
const double kLog2Pi = std::log(2.0 * M_PI);

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Elements per block of the fused CPU loops: blocks are fixed, not per thread, so the sums
// are the same for any thread count.
constexpr int64_t kBlock = 16384;

bool fusable(const at::Tensor& a, const at::Tensor& b) {
  return a.device().is_cpu() && a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         (a.scalar_type() == at::kFloat || a.scalar_type() == at::kDouble) && a.is_contiguous() &&
         b.is_contiguous();
}

// Draws per generator of standard_normal_like: large enough that seeding a generator (624 words
// of Mersenne Twister state) costs nothing beside the draws.
constexpr int64_t kNormalBlock = 1 << 15;

// The draw mean + sigma * eps with sigma = exp(log_sigma), as one autograd node: its backward
// needs only the draw and the mean (sigma * eps = w - mean), so it keeps no noise or sigma
// alive, and it computes the log-sigma gradient in one pass.
class NormalDraw : public torch::autograd::Function<NormalDraw> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& mean,
                            const at::Tensor& log_sigma) {
    auto draw = standard_normal_like(mean);
    draw.mul_(log_sigma.exp()).add_(mean);
    ctx->save_for_backward({draw, mean});
    return draw;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& grad = grads[0];
    // d draw / d log_sigma = sigma * eps = draw - mean.
    return {grad, (saved[0] - saved[1]).mul_(grad)};
  }
};

// exp(log_sigma) * eps as one autograd node: d/d log_sigma of the output is the output.
class ScaledNoise : public torch::autograd::Function<ScaledNoise> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& log_sigma) {
    auto noise = standard_normal_like(log_sigma);
    noise.mul_(log_sigma.exp());
    ctx->save_for_backward({noise});
    return noise;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {ctx->get_saved_variables()[0] * grads[0]};
  }
};

// sum_i log_sigma_i and sum_i (exp(2 log_sigma_i) + mean_i²): the two sums of every
// closed-form KL here, as one autograd node ([2]) with a one-pass backward on the CPU.
class GaussianSums : public torch::autograd::Function<GaussianSums> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& mean,
                            const at::Tensor& log_sigma) {
    auto sigma = log_sigma.exp();
    ctx->save_for_backward({mean, sigma});
    if (!fusable(mean, log_sigma)) {
      return at::stack({log_sigma.sum(), sigma.square().sum() + mean.square().sum()});
    }
    const int64_t n = mean.numel();
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<double> log_sums(static_cast<size_t>(blocks)), square_sums(log_sums.size());
    AT_DISPATCH_FLOATING_TYPES(mean.scalar_type(), "GaussianSums", [&] {
      const scalar_t* m = mean.data_ptr<scalar_t>();
      const scalar_t* ls = log_sigma.data_ptr<scalar_t>();
      const scalar_t* s = sigma.data_ptr<scalar_t>();
      at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          // Double accumulators, four independent chains so the adds pipeline.
          double log_sum[4] = {0, 0, 0, 0}, square_sum[4] = {0, 0, 0, 0};
          const int64_t start = b * kBlock, stop = std::min(n, start + kBlock);
          int64_t i = start;
          for (; i + 4 <= stop; i += 4) {
            for (int k = 0; k < 4; ++k) {
              const double sk = s[i + k], mk = m[i + k];
              log_sum[k] += ls[i + k];
              square_sum[k] += sk * sk + mk * mk;
            }
          }
          for (; i < stop; ++i) {
            const double si = s[i], mi = m[i];
            log_sum[0] += ls[i];
            square_sum[0] += si * si + mi * mi;
          }
          log_sums[static_cast<size_t>(b)] = (log_sum[0] + log_sum[1]) + (log_sum[2] + log_sum[3]);
          square_sums[static_cast<size_t>(b)] =
              (square_sum[0] + square_sum[1]) + (square_sum[2] + square_sum[3]);
        }
      });
    });
    double log_sum = 0, square_sum = 0;
    for (size_t b = 0; b < log_sums.size(); ++b) {
      log_sum += log_sums[b];
      square_sum += square_sums[b];
    }
    return at::tensor({log_sum, square_sum}, mean.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& mean = saved[0];
    const auto& sigma = saved[1];
    const auto& grad = grads[0];
    if (!fusable(mean, sigma) || torch::GradMode::is_enabled()) {
      // Differentiable (double backward) and device-generic.
      auto twice_g1 = 2 * grad[1];
      return {mean * twice_g1, sigma.square() * twice_g1 + grad[0]};
    }
    auto grad_mean = at::empty_like(mean);
    auto grad_log_sigma = at::empty_like(sigma);
    const auto g = grad.to(at::kDouble).cpu();
    const double g0 = g[0].item<double>(), twice_g1 = 2 * g[1].item<double>();
    AT_DISPATCH_FLOATING_TYPES(mean.scalar_type(), "GaussianSums_backward", [&] {
      const scalar_t* m = mean.data_ptr<scalar_t>();
      const scalar_t* s = sigma.data_ptr<scalar_t>();
      scalar_t* gm = grad_mean.data_ptr<scalar_t>();
      scalar_t* gls = grad_log_sigma.data_ptr<scalar_t>();
      const auto a = static_cast<scalar_t>(twice_g1), c = static_cast<scalar_t>(g0);
      at::parallel_for(0, mean.numel(), kBlock, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          gm[i] = a * m[i];
          gls[i] = a * s[i] * s[i] + c;
        }
      });
    });
    return {grad_mean, grad_log_sigma};
  }
};

// [sum log_sigma, sum (sigma² + mean²)], sharing one exp(log_sigma) between the two.
at::Tensor gaussian_sums(const at::Tensor& mean, const at::Tensor& log_sigma) {
  if (mean.sizes() != log_sigma.sizes()) {
    return at::stack({log_sigma.sum(), (2.0 * log_sigma).exp().sum() + mean.square().sum()});
  }
  return GaussianSums::apply(mean, log_sigma);
}
}  // namespace

at::Tensor standard_normal_like(const at::Tensor& like) {
  const int64_t n = like.numel();
  if (!like.device().is_cpu() || n < 2 * kNormalBlock) return at::randn_like(like);
  auto noise = at::empty_like(like, at::MemoryFormat::Contiguous);
  auto flat = noise.view({-1});
  const int64_t blocks = (n + kNormalBlock - 1) / kNormalBlock;
  const auto seeds = at::empty({blocks}, like.options().dtype(at::kLong)).random_();
  const int64_t* seed = seeds.data_ptr<int64_t>();
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed[b]));
      const int64_t start = b * kNormalBlock;
      flat.narrow(0, start, std::min(kNormalBlock, n - start)).normal_(0, 1, generator);
    }
  });
  return noise;
}

at::Tensor scaled_noise(const at::Tensor& log_sigma) { return ScaledNoise::apply(log_sigma); }

at::Tensor sample_normal(const at::Tensor& mean, const at::Tensor& log_sigma) {
  if (mean.sizes() != log_sigma.sizes() || mean.scalar_type() != log_sigma.scalar_type()) {
    return mean + log_sigma.exp() * standard_normal_like(mean);
  }
  return NormalDraw::apply(mean, log_sigma);
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
    at::parallel_for(0, (n + 31) / 32, kBlock / 32, [&](int64_t begin, int64_t end) {
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
  const auto n = static_cast<double>(mean.numel());
  // Written as sums over elements plus scalar terms, so no [n]-sized broadcast of log_sd.
  const auto inv_var = (-2.0 * log_sd).exp();
  const auto sums = gaussian_sums(mean, log_sigma);
  return n * (log_sd - 0.5) - sums[0] + 0.5 * inv_var * sums[1];
}

at::Tensor kl_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                           const at::Tensor& log_scale_mean, const at::Tensor& log_scale_log_sigma,
                           double tau) {
  const auto n = static_cast<double>(mean.numel());
  const auto& m = log_scale_mean;
  const auto v = (2.0 * log_scale_log_sigma).exp();
  const auto sums = gaussian_sums(mean, log_sigma);
  // E[log q(w)] - E[log p(w|s)]: the -1/2 log 2pi terms cancel, leaving -1/2 per element.
  const auto w_term = -0.5 * n - sums[0] + n * m + 0.5 * (2.0 * (v - m)).exp() * sums[1];
  const auto log_q_u = -0.5 * (kLog2Pi + 1.0) - log_scale_log_sigma;
  const auto log_p_u =
      0.5 * std::log(2.0 / M_PI) - std::log(tau) - (2.0 * (m + v)).exp() / (2.0 * tau * tau) + m;
  return w_term + log_q_u - log_p_u;
}

at::Tensor neg_log_half_normal(const at::Tensor& log_s, double tau) {
  return -0.5 * std::log(2.0 / M_PI) + std::log(tau) + (2.0 * log_s).exp() / (2.0 * tau * tau);
}

}  // namespace bayesnn
