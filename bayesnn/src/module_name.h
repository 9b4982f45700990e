// Internal: how messages name a module: its type as users write it, its path in a model.
#pragma once

#include <string>

#include <torch/nn/module.h>

namespace bayesnn::detail {

// `parent` + "." + `name`, or `name` at the top (`parent` empty): the dotted path of a module's
// child, parameter or buffer, as torch's named_parameters writes it ("1.weight").
inline std::string module_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

// "bayesnn::BayesLinearImpl" -> "bayesnn::BayesLinear": the name users write.
inline std::string holder_name(const torch::nn::Module& module) {
  std::string name = module.name();
  const std::string impl = "Impl";
  if (name.size() > impl.size() &&
      name.compare(name.size() - impl.size(), impl.size(), impl) == 0) {
    name.resize(name.size() - impl.size());
  }
  return name;
}

}  // namespace bayesnn::detail
