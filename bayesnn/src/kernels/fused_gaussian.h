// Internal: the fused Gaussian term, what a variational tensor takes from q(w) in one pass with
// its KL's sums: the forward kernels (portable here, AVX2 in fused_gaussian_avx2.h), the autograd
// node and its backward, all in fused_gaussian.cpp.
#pragma once

#include <atomic>

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>

#include "kernels/gaussian_term.h"

namespace bayesnn {

/// Set once the backward of a fused term's node has run: the node's saved tensors are released
/// then, so its sums must no longer enter a graph.
struct BackwardRan : torch::CustomClassHolder {
  std::atomic<bool> ran{false};
};

/// A term of q = N(mean, exp(log_sigma)²) (a draw, a perturbation or the variance) and the sums
/// [sum log_sigma, sum (sigma² + mean²)] of the closed-form KLs, outputs of one autograd node:
/// one pass forward, one backward for both.
struct FusedTerm {
  at::Tensor term;
  at::Tensor sums;
  c10::intrusive_ptr<BackwardRan> backward_ran;
};

/// The fused term of `kind`; `mean` and `log_sigma` have the same shape and dtype.
FusedTerm fused_gaussian_term(GaussianTerm kind, const at::Tensor& mean,
                              const at::Tensor& log_sigma);

/// The sums alone, [sum log_sigma, sum sigma² + sum mean²], as a node of their own (no term for a
/// layer to use); of different shapes, each tensor is summed over its own elements.
at::Tensor fused_gaussian_sums(const at::Tensor& mean, const at::Tensor& log_sigma);

/// The forward pass of both, outside autograd: the term, sigma (undefined for kVariance, whose
/// term is sigma² already) and the sums ([2], on the device and in the dtype of `mean`). The sums
/// accumulate in double on every path; on the CPU one partial sum per block of kCpuBlock
/// (noise.h), added in block order: the same sums for any thread count, and within a float's
/// rounding of the exact sums of the terms.
struct TermWithSums {
  at::Tensor term, sigma, sums;
};
TermWithSums gaussian_term_with_sums(GaussianTerm kind, const at::Tensor& mean,
                                     const at::Tensor& log_sigma);

}  // namespace bayesnn
