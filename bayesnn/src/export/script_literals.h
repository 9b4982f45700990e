#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include <c10/util/ArrayRef.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace bayesnn::detail {

// A double as a TorchScript float literal (always with a '.' or an exponent, so that it is
// never parsed as an int).
inline std::string float_literal(double value) {
  if (std::isnan(value)) return "float(\"nan\")";
  if (std::isinf(value)) return value > 0 ? "float(\"inf\")" : "-float(\"inf\")";
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

inline std::string bool_literal(bool value) { return value ? "True" : "False"; }

inline std::string list_literal(c10::ArrayRef<int64_t> values) {
  return fmt::format("[{}]", fmt::join(values.begin(), values.end(), ", "));
}

}  // namespace bayesnn::detail
