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
  /// The forward: a batch of inputs to the network's output.
  using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

  /// The network `module_` with the forward `forward_`.
  Model(std::shared_ptr<torch::nn::Module> module_, Forward forward_)
      : module(std::move(module_)), forward(std::move(forward_)) {}

  /// The network a module holder holds, with its `forward`; implicit.
  template <typename Contained>
  /* implicit */ Model(const torch::nn::ModuleHolder<Contained>& holder)  // NOLINT
      : module(holder.ptr()), forward([impl = holder.ptr()](const torch::Tensor& input) {
          return impl->forward(input);
        }) {}

  std::shared_ptr<torch::nn::Module> module;  ///< the module that owns the parameters
  Forward forward;                            ///< the network's forward
};

}  // namespace bayesnn
