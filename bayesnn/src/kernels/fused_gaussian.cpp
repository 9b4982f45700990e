#include "kernels/fused_gaussian.h"

#include <algorithm>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/autograd.h>

#include "kernels/noise.h"
#if BAYESNN_HAVE_AVX2_NOISE
#include "kernels/fused_gaussian_avx2.h"
#include "kernels/noise_avx2.h"
#endif

namespace bayesnn {
namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool fusable(const at::Tensor& a, const at::Tensor& b) {
  return a.device().is_cpu() && b.device().is_cpu() && a.sizes() == b.sizes() &&
         a.scalar_type() == b.scalar_type() &&
         (a.scalar_type() == at::kFloat || a.scalar_type() == at::kDouble) && a.is_contiguous() &&
         b.is_contiguous();
}

// One pair of sums per block of kCpuBlock elements, added in block order at the end: the same
// total for any thread count.
class BlockSums {
 public:
  explicit BlockSums(int64_t n)
      : sums_(static_cast<size_t>(2 * ((n + kCpuBlock - 1) / kCpuBlock))) {}

  double* of_block(int64_t offset) { return &sums_[static_cast<size_t>(2 * (offset / kCpuBlock))]; }

  at::Tensor total(const at::TensorOptions& options) const {
    double log_sum = 0, square_sum = 0;
    for (size_t b = 0; b < sums_.size(); b += 2) {
      log_sum += sums_[b];
      square_sum += sums_[b + 1];
    }
    return at::tensor({log_sum, square_sum}, options);
  }

 private:
  std::vector<double> sums_;
};

// A block's sum log_sigma and sum (sigma² + mean²), each element's terms and their sums in
// double, in four independent chains so that the adds pipeline.
template <typename T>
void block_sums(const T* mean, const T* log_sigma, const T* sigma, int64_t n, double sums[2]) {
  const auto square_sum = [&](int64_t i) {
    const double s = sigma[i], m = mean[i];
    return s * s + m * m;
  };
  double log_sum[4] = {0, 0, 0, 0}, squares[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int64_t k = 0; k < 4; ++k) {
      log_sum[k] += log_sigma[i + k];
      squares[k] += square_sum(i + k);
    }
  }
  for (; i < n; ++i) {
    log_sum[0] += log_sigma[i];
    squares[0] += square_sum(i);
  }
  sums[0] = (log_sum[0] + log_sum[1]) + (log_sum[2] + log_sum[3]);
  sums[1] = (squares[0] + squares[1]) + (squares[2] + squares[3]);
}

// [sum log_sigma, sum sigma² + sum mean²] by ATen's differentiable reductions, accumulating in
// double like the CPU's blocks; each tensor summed over its own elements.
at::Tensor aten_sums(const at::Tensor& mean, const at::Tensor& log_sigma, const at::Tensor& sigma) {
  const auto type = at::promote_types(mean.scalar_type(), log_sigma.scalar_type());
  return at::stack({log_sigma.sum(at::kDouble),
                    sigma.square().sum(at::kDouble) + mean.square().sum(at::kDouble)})
      .to(type);
}

// [sum log_sigma, sum (sigma² + mean²)] from sigma = exp(log_sigma), accumulated in double on
// every device: by blocks on the CPU, by ATen's reductions elsewhere.
at::Tensor sums_of(const at::Tensor& mean, const at::Tensor& log_sigma, const at::Tensor& sigma) {
  if (!fusable(mean, log_sigma)) return aten_sums(mean, log_sigma, sigma);
  const int64_t n = mean.numel();
  BlockSums sums(n);
  AT_DISPATCH_FLOATING_TYPES(mean.scalar_type(), "sums_of", [&] {
    const scalar_t* m = mean.data_ptr<scalar_t>();
    const scalar_t* ls = log_sigma.data_ptr<scalar_t>();
    const scalar_t* s = sigma.data_ptr<scalar_t>();
    at::parallel_for(0, (n + kCpuBlock - 1) / kCpuBlock, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t offset = b * kCpuBlock, length = std::min(kCpuBlock, n - offset);
        block_sums(m + offset, ls + offset, s + offset, length, sums.of_block(offset));
      }
    });
  });
  return sums.total(mean.options());
}

TermWithSums portable_term_with_sums(GaussianTerm kind, const at::Tensor& mean,
                                     const at::Tensor& log_sigma) {
  auto sigma = log_sigma.exp();
  auto sums = sums_of(mean, log_sigma, sigma);
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

#if BAYESNN_HAVE_AVX2_NOISE
// Each block's noise is drawn and used while it is in the cache.
TermWithSums avx2_term_with_sums(GaussianTerm kind, const at::Tensor& mean,
                                 const at::Tensor& log_sigma) {
  const int64_t n = mean.numel();
  const bool variance = kind == GaussianTerm::kVariance;
  auto term = at::empty_like(mean, at::MemoryFormat::Contiguous);
  auto sigma = variance ? at::Tensor() : at::empty_like(mean, at::MemoryFormat::Contiguous);
  float* out = term.data_ptr<float>();
  float* s = variance ? nullptr : sigma.data_ptr<float>();
  const float* m = mean.data_ptr<float>();
  const float* ls = log_sigma.data_ptr<float>();
  BlockSums sums(n);
  for_each_seeded_block(n, [&](int64_t offset, int64_t length, uint64_t seed) {
    if (!variance) avx2::fill_standard_normal(out + offset, length, seed);
    avx2::gaussian_term(kind, m + offset, ls + offset, out + offset,
                        variance ? nullptr : s + offset, length, sums.of_block(offset));
  });
  return {term, sigma, sums.total(mean.options())};
}
#endif

// The gradients with respect to mean and log_sigma of a term t of q = N(mean, sigma²),
// sigma = exp(log_sigma) (incoming gradient grad_term, undefined where the term was not used),
// and of the sums [sum log_sigma, sum (sigma² + mean²)] (incoming [g0, g1], or undefined):
//   d/d mean      = [grad_term, if t is a draw] + 2 g1 mean
//   d/d log_sigma = grad_term dt/dlog_sigma + 2 g1 sigma² + g0,
// dt/dlog_sigma = t - mean (draw), t (perturbation) or 2 t (variance). One pass on the CPU,
// differentiable ATen operations elsewhere.
variable_list aten_term_and_sums_backward(GaussianTerm kind, const at::Tensor& grad_term,
                                          const at::Tensor& term, const at::Tensor& mean,
                                          const at::Tensor& sigma_or_variance,
                                          const at::Tensor& grad_sums) {
  at::Tensor grad_mean, grad_log_sigma;
  if (grad_term.defined()) {
    if (kind == GaussianTerm::kDraw) grad_mean = grad_term;
    grad_log_sigma = kind == GaussianTerm::kDraw           ? grad_term * (term - mean)
                     : kind == GaussianTerm::kPerturbation ? grad_term * term
                                                           : 2 * grad_term * term;
  }
  if (grad_sums.defined()) {
    const auto twice_g1 = 2 * grad_sums[1];
    const auto variance =
        kind == GaussianTerm::kVariance ? sigma_or_variance : sigma_or_variance.square();
    const auto mean_part = mean * twice_g1;
    const auto sigma_part = variance * twice_g1 + grad_sums[0];
    grad_mean = grad_mean.defined() ? grad_mean + mean_part : mean_part;
    grad_log_sigma = grad_log_sigma.defined() ? grad_log_sigma + sigma_part : sigma_part;
  }
  return {grad_mean, grad_log_sigma};
}

variable_list cpu_term_and_sums_backward(GaussianTerm kind, const at::Tensor& grad_term,
                                         const at::Tensor& term, const at::Tensor& mean,
                                         const at::Tensor& sigma_or_variance,
                                         const at::Tensor& grad_sums) {
  const bool has_term = grad_term.defined(), variance = kind == GaussianTerm::kVariance;
  double g0 = 0, twice_g1 = 0;
  if (grad_sums.defined()) {
    const auto g = grad_sums.to(at::kDouble).cpu();
    g0 = g[0].item<double>();
    twice_g1 = 2 * g[1].item<double>();
  }
  auto grad_mean = at::empty_like(mean);
  auto grad_log_sigma = at::empty_like(mean);
  AT_DISPATCH_FLOATING_TYPES(mean.scalar_type(), "term_and_sums_backward", [&] {
    const scalar_t* m = mean.data_ptr<scalar_t>();
    const scalar_t* s = sigma_or_variance.data_ptr<scalar_t>();
    const scalar_t* g = has_term ? grad_term.data_ptr<scalar_t>() : nullptr;
    const scalar_t* t = has_term ? term.data_ptr<scalar_t>() : nullptr;
    scalar_t* gm = grad_mean.data_ptr<scalar_t>();
    scalar_t* gls = grad_log_sigma.data_ptr<scalar_t>();
    const auto a = static_cast<scalar_t>(twice_g1), c = static_cast<scalar_t>(g0);
    // One loop per case, so that each vectorizes without branches.
    at::parallel_for(0, mean.numel(), kCpuBlock, [&](int64_t begin, int64_t end) {
      if (!has_term && variance) {
        for (int64_t i = begin; i < end; ++i) {
          gm[i] = a * m[i];
          gls[i] = a * s[i] + c;
        }
      } else if (!has_term) {
        for (int64_t i = begin; i < end; ++i) {
          gm[i] = a * m[i];
          gls[i] = a * s[i] * s[i] + c;
        }
      } else if (kind == GaussianTerm::kDraw) {
        for (int64_t i = begin; i < end; ++i) {
          gm[i] = g[i] + a * m[i];
          gls[i] = g[i] * (t[i] - m[i]) + a * s[i] * s[i] + c;
        }
      } else if (kind == GaussianTerm::kPerturbation) {
        for (int64_t i = begin; i < end; ++i) {
          gm[i] = a * m[i];
          gls[i] = g[i] * t[i] + a * s[i] * s[i] + c;
        }
      } else {
        for (int64_t i = begin; i < end; ++i) {
          gm[i] = a * m[i];
          gls[i] = (2 * g[i] + a) * t[i] + c;
        }
      }
    });
  });
  return {grad_mean, grad_log_sigma};
}

variable_list term_and_sums_backward(GaussianTerm kind, const at::Tensor& grad_term,
                                     const at::Tensor& term, const at::Tensor& mean,
                                     const at::Tensor& sigma, const at::Tensor& grad_sums) {
  // The variance term is sigma² itself (its node keeps no sigma).
  const at::Tensor& sigma_or_variance = kind == GaussianTerm::kVariance ? term : sigma;
  const bool has_term = grad_term.defined();
  // With gradients enabled (a double backward) the ATen operations record their graph.
  if (!fusable(mean, sigma_or_variance) ||
      (has_term && (!fusable(mean, grad_term) || !fusable(mean, term))) ||
      at::GradMode::is_enabled()) {
    return aten_term_and_sums_backward(kind, grad_term, term, mean, sigma_or_variance, grad_sums);
  }
  return cpu_term_and_sums_backward(kind, grad_term, term, mean, sigma_or_variance, grad_sums);
}

// A term of q (a draw, a perturbation or the variance: GaussianTerm) and the sums
// [sum log_sigma, sum (sigma² + mean²)] of every closed-form KL here, as one autograd node with
// two outputs: one pass forward (one exp per element, shared) and one backward for both. The
// node marks its `BackwardRan` flag when its backward runs: its saved tensors are released
// then, and its sums must no longer enter a graph.
class GaussianTermNode : public torch::autograd::Function<GaussianTermNode> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& mean,
                               const at::Tensor& log_sigma, int64_t kind,
                               c10::intrusive_ptr<BackwardRan> backward_ran) {
    auto [term, sigma, sums] =
        gaussian_term_with_sums(static_cast<GaussianTerm>(kind), mean, log_sigma);
    ctx->save_for_backward({term, mean, sigma});
    ctx->saved_data["kind"] = kind;
    ctx->saved_data["backward_ran"] = c10::IValue::make_capsule(std::move(backward_ran));
    return {term, sums};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    c10::static_intrusive_pointer_cast<BackwardRan>(ctx->saved_data["backward_ran"].toCapsule())
        ->ran = true;
    const auto saved = ctx->get_saved_variables();
    const auto kind = static_cast<GaussianTerm>(ctx->saved_data["kind"].toInt());
    auto result = term_and_sums_backward(kind, grads[0], saved[0], saved[1], saved[2], grads[1]);
    result.resize(4);  // no gradient for kind and the flag
    return result;
  }
};

// sum_i log_sigma_i and sum_i (exp(2 log_sigma_i) + mean_i²) alone, as one autograd node ([2])
// with the fused term's backward. It draws nothing, so it leaves the generator as it was.
class GaussianSumsNode : public torch::autograd::Function<GaussianSumsNode> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& mean,
                            const at::Tensor& log_sigma) {
    auto sigma = log_sigma.exp();
    ctx->save_for_backward({mean, sigma});
    return sums_of(mean, log_sigma, sigma);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return term_and_sums_backward(GaussianTerm::kDraw, at::Tensor(), at::Tensor(), saved[0],
                                  saved[1], grads[0]);
  }
};

}  // namespace

TermWithSums gaussian_term_with_sums(GaussianTerm kind, const at::Tensor& mean,
                                     const at::Tensor& log_sigma) {
#if BAYESNN_HAVE_AVX2_NOISE
  if (avx2_noise_available() && mean.scalar_type() == at::kFloat && fusable(mean, log_sigma)) {
    return avx2_term_with_sums(kind, mean, log_sigma);
  }
#endif
  return portable_term_with_sums(kind, mean, log_sigma);
}

FusedTerm fused_gaussian_term(GaussianTerm kind, const at::Tensor& mean,
                              const at::Tensor& log_sigma) {
  TORCH_CHECK(mean.sizes() == log_sigma.sizes() && mean.scalar_type() == log_sigma.scalar_type(),
              "bayesnn: a mean of shape ", mean.sizes(), " and ", mean.scalar_type(),
              " with a log_sigma of shape ", log_sigma.sizes(), " and ", log_sigma.scalar_type(),
              ": expected the same shape and dtype");
  auto backward_ran = c10::make_intrusive<BackwardRan>();
  auto outputs = GaussianTermNode::apply(mean, log_sigma, static_cast<int64_t>(kind), backward_ran);
  return {outputs[0], outputs[1], std::move(backward_ran)};
}

at::Tensor fused_gaussian_sums(const at::Tensor& mean, const at::Tensor& log_sigma) {
  // The node's backward wants one shape; broadcasting ones differentiate through ATen.
  if (mean.sizes() != log_sigma.sizes()) return aten_sums(mean, log_sigma, log_sigma.exp());
  return GaussianSumsNode::apply(mean, log_sigma);
}

}  // namespace bayesnn
