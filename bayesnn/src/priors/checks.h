// Internal: what the prior families' files share.
#pragma once

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace bayesnn::detail {

// Throws "Prior: <what> must be positive and finite, got <value>" where it is not.
inline void check_positive_finite(const char* what, double value) {
  TORCH_CHECK(std::isfinite(value) && value > 0, "Prior: ", what,
              " must be positive and finite, got ", value);
}

// A float scalar tensor: a hyper-parameter's initial value.
inline at::Tensor scalar(double value) { return at::full({}, value, at::kFloat); }

// Whether every tensor is on the CPU: the closed-form KLs then compute in doubles.
inline bool all_cpu(std::initializer_list<at::Tensor> tensors) {
  return std::all_of(tensors.begin(), tensors.end(),
                     [](const at::Tensor& t) { return t.device().is_cpu(); });
}

}  // namespace bayesnn::detail
