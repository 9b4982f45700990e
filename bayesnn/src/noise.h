// Internal: noise terms the estimators share (not part of the public headers).
#pragma once

#include <ATen/ATen.h>

namespace bayesnn {

/// eps ~ N(0, I) with the shape, device and dtype of `like`. On the CPU the draws come in fixed
/// blocks, each from its own generator seeded from the default one, filled in parallel: the
/// same numbers for any thread count, and a step's noise no longer waits on one thread.
at::Tensor standard_normal_like(const at::Tensor& like);

/// exp(log_sigma) * eps, eps ~ N(0, I) with the shape, device and dtype of `log_sigma`: a
/// zero-mean weight perturbation as one autograd node whose backward needs only its output
/// (d/d log_sigma = the perturbation itself), so no noise or sigma is kept for the backward.
at::Tensor scaled_noise(const at::Tensor& log_sigma);

}  // namespace bayesnn
