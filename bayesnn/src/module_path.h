// Internal: the dotted path of a module's child, parameter or buffer, as torch's named_parameters
// writes it ("1.weight"), for messages that name one.
#pragma once

#include <string>

namespace bayesnn::detail {

/// `parent` + "." + `name`, or `name` at the top (`parent` empty).
inline std::string module_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

}  // namespace bayesnn::detail
