#pragma once

#include <functional>
#include <memory>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace bayesnn {

/// A network as the trainer and the predictive see it: the module that owns the parameters
/// and its forward. Built implicitly from any module holder with a `forward(Tensor)`
/// (`torch::nn::Sequential`, `bayesnn::BayesLinear`, a user's `TORCH_MODULE`), or explicitly
/// from a module and a function.
///
/// Example:
/// ```
/// torch::nn::Sequential net(bayesnn::BayesLinear(4, 2));
/// bayesnn::Model model = net;  // captures net->forward
/// ```
struct Model {
  using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

  Model(std::shared_ptr<torch::nn::Module> module_, Forward forward_)
      : module(std::move(module_)), forward(std::move(forward_)) {}

  template <typename Contained>
  /* implicit */ Model(const torch::nn::ModuleHolder<Contained>& holder)  // NOLINT
      : module(holder.ptr()), forward([impl = holder.ptr()](const torch::Tensor& input) {
          return impl->forward(input);
        }) {}

  std::shared_ptr<torch::nn::Module> module;
  Forward forward;
};

}  // namespace bayesnn
