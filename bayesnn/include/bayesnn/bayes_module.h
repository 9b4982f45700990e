#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>

#include "bayesnn/export_context.h"
#include "bayesnn/mode.h"
#include "bayesnn/prior.h"
#include "bayesnn/variational_tensor.h"

namespace bayesnn {

/// The interface every Bayesian module implements: the extension point of bayesnn.
///
/// A Bayesian module derives from a torch module and this class. `kl_divergence(model)` and
/// `set_mode(model, mode)` find it anywhere in a model through `torch::nn::Module::modules()`,
/// so a user's own module trains alongside the built-in layers without any registration. A
/// module that registers its variational tensors with `register_variational` gets `kl()` and
/// `set_mode()` from this class; one with other stochastic state overrides them. The exporter
/// reaches every Bayesian module, built-in or a user's, through `export_torchscript` (the
/// `ScriptExportable` hook), `compress` through `with_units`.
///
/// Example:
/// ```
/// struct MyBayesScaleImpl : torch::nn::Cloneable<MyBayesScaleImpl>, bayesnn::BayesModule {
///   MyBayesScaleImpl() { reset(); }
///   void reset() override {
///     scale = register_variational("scale", {1}, bayesnn::Prior::fixed(1.0));
///     torch::NoGradGuard no_grad;
///     scale.mean().fill_(1.0);
///     scale.log_sigma().fill_(-3.0);
///   }
///   torch::Tensor forward(const torch::Tensor& x) {
///     return x * (mode() == bayesnn::Mode::kSample ? scale.draw() : scale.value(mode()));
///   }
///   bayesnn::VariationalTensor scale;
/// };
/// ```
class BayesModule : public ScriptExportable {
 public:
  /// KL(q || p) of this module's own variational tensors (children report their own): a
  /// differentiable scalar on the parameters' device. The default sums `kl()` of the tensors
  /// registered with `register_variational` (zero if there are none).
  virtual torch::Tensor kl();

  /// Switches between sampling, a held draw and the posterior mean. The default also lets
  /// each registered variational tensor take (`Mode::kFrozen`) or release its held draw;
  /// override to propagate other state.
  virtual void set_mode(Mode mode);

  /// The export hook (`export_posterior_mean`, `export_predictive`; see `ScriptExportable`):
  /// writes TorchScript statements that read this module's input from `x` and assign its output
  /// to `x`, its variational tensors drawn with `ctx.variational(...)`. The default throws the
  /// exporter's "unsupported module" error: a module that is to be exported overrides it.
  void export_torchscript(ExportContext& ctx) const override;

  /// The compression hook (`compress`, bayesnn/compress.h): a new module of this kind and
  /// settings with `in` input units and `out` output units (a dense layer's features, a
  /// convolution's channels), its variational tensors registered under the same names, into
  /// which `compress` copies the kept slices. `compress` treats a module as a layer when it has a
  /// variational tensor "weight" of two or more dimensions [out, in, ...] (and optionally
  /// "bias" [out]); the weight's prior says where its group scales sit
  /// (`PriorModuleImpl::unit_dim`). It calls the hook only where units are removed. The default
  /// throws "compress: <type> has no compression hook ...": a layer that is to shrink overrides
  /// it, and throws where it cannot take the sizes asked (a grouped convolution).
  ///
  /// Example (a user's convolution layer; the holder `UserConv1d` must be complete where the hook
  /// is defined, so the definition follows `TORCH_MODULE`, as in tests/extension_test.cpp):
  /// ```
  /// // in class UserConv1dImpl:
  /// torch::nn::AnyModule with_units(int64_t in, int64_t out) const override;
  /// // after TORCH_MODULE(UserConv1d):
  /// torch::nn::AnyModule UserConv1dImpl::with_units(int64_t in, int64_t out) const {
  ///   return torch::nn::AnyModule(UserConv1d(in, out, kernel_, estimator_, prior_));
  /// }
  /// ```
  virtual torch::nn::AnyModule with_units(int64_t in, int64_t out) const;

  /// The current mode (`Mode::kSample` after construction).
  Mode mode() const { return mode_; }

  /// The variational tensors registered on this module, by name, in registration order.
  const std::vector<std::pair<std::string, VariationalTensor>>& variational_tensors() const {
    return variational_;
  }

 protected:
  /// Registers `<name>_mean` and `<name>_log_sigma` of `shape` (uninitialised: write them in
  /// `reset_parameters()`) and the prior module `<name>_prior` on this module, which must also
  /// be a `torch::nn::Module`; the tensor joins `kl()` and `set_mode()`. Call it from
  /// `reset()` (a clone registers the same names again, replacing those tensors). A group
  /// prior's unit scales lie along `unit_dim` (1: input units; 0: output units).
  VariationalTensor register_variational(const std::string& name, at::IntArrayRef shape,
                                         const Prior& prior, int64_t unit_dim = 1);

 private:
  Mode mode_ = Mode::kSample;
  std::vector<std::pair<std::string, VariationalTensor>> variational_;
};

/// Sum of `kl()` over `model` and every module below it that is a `BayesModule`:
/// the KL term of the ELBO. A scalar on the model's device (zero if there is none).
torch::Tensor kl_divergence(torch::nn::Module& model);

/// Sets `mode` on `model` and every `BayesModule` below it.
void set_mode(torch::nn::Module& model, Mode mode);

/// The number of `BayesModule`s in `model` (itself included).
int64_t count_bayes_modules(torch::nn::Module& model);

/// Keeps the mode of every `BayesModule` in `model` (itself included) and the model's training
/// flag, and restores them when it goes out of scope, also by an exception: `predict` sets the
/// modes it needs and leaves the model as it found it. A module found in `Mode::kFrozen` holds a
/// fresh draw afterwards (the draw it held is not kept).
class ModeGuard {
 public:
  /// Records the mode of every `BayesModule` in `model` and the model's training flag.
  explicit ModeGuard(torch::nn::Module& model);
  ~ModeGuard();
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  torch::nn::Module& model_;
  bool training_;
  std::vector<std::pair<BayesModule*, Mode>> modes_;
};

}  // namespace bayesnn
