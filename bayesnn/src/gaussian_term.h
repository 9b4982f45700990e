// Internal: what a variational tensor takes from q(w) in one pass with its KL's sums.
#pragma once

#include <atomic>

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>

#include "noise.h"

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

}  // namespace bayesnn
