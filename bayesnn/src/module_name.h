#pragma once

#include <string>

#include <torch/nn/module.h>

namespace bayesnn::detail {

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
