#pragma once

#include <memory>
#include <stdexcept>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include "bayesnn/conversion.h"
#include "bayesnn/load_trained.h"  // load_trained was here until 0.2: it stays reachable

namespace bayesnn {

/// `to_bayesian` met modules it cannot convert in strict mode; the message lists each, the
/// report has them all.
class ConvertError : public std::runtime_error {
 public:
  /// The error of a strict `to_bayesian` call's `report`; the message lists its `deterministic`.
  explicit ConvertError(ConvertReport report);
  /// The call's whole report: the modules converted and those that could not be.
  const ConvertReport& report() const { return report_; }

 private:
  ConvertReport report_;
};

/// A Bayesian copy of a trained network: every module in a `torch::nn::Sequential` (at any depth,
/// also inside a user's module) that a conversion hook matches becomes its Bayesian layer, with
/// the options' prior and estimator and its posterior means at the trained weights (sigmas by
/// `log_sigma_init` or MOPED): bayesnn's hooks make `torch::nn::Linear`, `Conv1d` and `Conv2d` a
/// `BayesLinear`, `BayesConv1d` and `BayesConv2d` (shapes, stride, padding, dilation, groups and
/// bias carried over), the options' `conversions` add a user's. Every other module is deep-copied
/// (`clone()`), so `model` is untouched. The copy is on the device, and has the dtype, of `model`.
///
/// What cannot be converted is never skipped silently: in strict mode (the default) it throws
/// `ConvertError` listing each by path and type; with `strict(false)` it stays deterministic and
/// `report` lists it. These are: a layer without a conversion that holds parameters (Conv3d,
/// ConvTranspose2d, BatchNorm, Embedding, ...); a user's module with parameters of its own (its
/// forward computes with them); a convertible layer held by a module other than a Sequential (a
/// user's module, ModuleList, ModuleDict): C++ calls such a child through its static type, so
/// only a Sequential's layers can be replaced; what a hook refuses (a Conv1d or Conv2d padding
/// otherwise than with zeros or asymmetrically). Bayesian modules already in `model` are copied as
/// they are.
///
/// Example:
/// ```
/// torch::nn::Sequential net(torch::nn::Linear(784, 100), torch::nn::ReLU(),
///                           torch::nn::Linear(100, 10));
/// // ... train net ...
/// auto bnn = bayesnn::to_bayesian(net, bayesnn::ConvertOptions().moped_delta(0.1));
/// bayesnn::set_mode(*bnn, bayesnn::Mode::kMean);  // bnn(x) == net(x) before fine-tuning
/// ```
torch::nn::Sequential to_bayesian(const torch::nn::Sequential& model,
                                  const ConvertOptions& options = {},
                                  ConvertReport* report = nullptr);

/// The same for any module (it must be clonable: derived from `torch::nn::Cloneable`); a
/// module a conversion matches (a `Linear`, `Conv2d`, ...) itself becomes its Bayesian layer.
std::shared_ptr<torch::nn::Module> to_bayesian(const torch::nn::Module& model,
                                               const ConvertOptions& options = {},
                                               ConvertReport* report = nullptr);

}  // namespace bayesnn
