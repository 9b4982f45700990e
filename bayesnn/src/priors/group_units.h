// Internal: which tensors the group priors give scales to.
#pragma once

#include <ATen/ATen.h>

namespace bayesnn::detail {

// The units of a tensor of `shape` that a group prior scales: its dimension 1; none below two
// dimensions.
inline bool has_units(at::IntArrayRef shape) { return shape.size() >= 2; }

}  // namespace bayesnn::detail
