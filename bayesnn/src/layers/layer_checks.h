#pragma once

#include <cmath>
#include <cstdint>

#include <c10/util/Exception.h>

namespace bayesnn::detail {

// The option checks every built-in layer's `reset()` shares; `layer` names it in the message
// ("BayesConv2d").

inline void check_positive(const char* layer, const char* option, int64_t value) {
  TORCH_CHECK(value > 0, layer, ": ", option, " must be positive, got ", value);
}

inline void check_log_sigma_init(const char* layer, double value) {
  TORCH_CHECK(std::isfinite(value), layer, ": log_sigma_init must be finite, got ", value);
}

}  // namespace bayesnn::detail
