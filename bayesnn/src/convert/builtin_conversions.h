#pragma once

#include <vector>

#include "bayesnn/conversion.h"

namespace bayesnn::detail {

// bayesnn's own conversion hooks, one per layer type it makes Bayesian; `to_bayesian` tries
// them after the options' `conversions`.
const std::vector<Conversion>& builtin_conversions();

}  // namespace bayesnn::detail
