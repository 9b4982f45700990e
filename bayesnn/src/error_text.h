// Internal: the line of an exception's message that bayesnn's own one-line errors quote.
#pragma once

#include <exception>
#include <string>

#include <c10/util/Exception.h>

namespace bayesnn::detail {

/// The first non-empty line of what `error` says: c10::Error's message without its backtrace
/// (LibTorch's TorchScript errors start with a newline).
inline std::string first_line(const std::exception& error) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&error);
  const std::string text = c10_error ? c10_error->what_without_backtrace() : error.what();
  const auto start = text.find_first_not_of(" \n");
  if (start == std::string::npos) return {};
  const auto end = text.find('\n', start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace bayesnn::detail
