#pragma once

#include <torch/nn/module.h>

#include "bayesnn/mode.h"

namespace bayesnn {

class ExportContext;  // bayesnn/export.h

/// A module that writes its own TorchScript forward when the model is exported
/// (`export_posterior_mean`, `export_predictive`): the export hook. Every `BayesModule` is one;
/// a deterministic custom module opts in by deriving from this class as well.
///
/// Example:
/// ```
/// struct ShiftImpl : torch::nn::Cloneable<ShiftImpl>, bayesnn::ScriptExportable {
///   ShiftImpl() { reset(); }
///   void reset() override { shift = register_buffer("shift", torch::ones({1})); }
///   torch::Tensor forward(const torch::Tensor& x) { return x + shift; }
///   void export_torchscript(bayesnn::ExportContext& ctx) const override {
///     ctx.emit("x = x + " + ctx.tensor("shift", shift));
///   }
///   torch::Tensor shift;
/// };
/// ```
class ScriptExportable {
 public:
  virtual ~ScriptExportable() = default;

  /// Writes TorchScript statements that read this module's input from the variable `x` and
  /// assign its output to `x`, storing its tensors with `ctx.tensor(...)` (posterior mean) or
  /// drawing them with `ctx.variational(...)` (a fresh posterior sample in the predictive).
  virtual void export_torchscript(ExportContext& ctx) const = 0;
};

/// The interface every Bayesian module implements: the extension point of bayesnn.
///
/// A Bayesian layer derives from both a torch module and this class. `kl_divergence(model)`
/// and `set_mode(model, mode)` find it anywhere in a model through `torch::nn::Module::modules()`,
/// so a user's own layer trains alongside the built-in ones without any registration:
///
/// Example:
/// ```
/// struct MyBayesScaleImpl : torch::nn::Cloneable<MyBayesScaleImpl>, bayesnn::BayesModule {
///   MyBayesScaleImpl() { reset(); }
///   void reset() override {
///     scale_mean = register_parameter("scale_mean", torch::ones({1}));
///     scale_log_sigma = register_parameter("scale_log_sigma", torch::full({1}, -3.0));
///   }
///   torch::Tensor forward(const torch::Tensor& x) {
///     if (mode() == bayesnn::Mode::kMean) return x * scale_mean;
///     return x * bayesnn::sample_normal(scale_mean, scale_log_sigma);
///   }
///   torch::Tensor kl() override {
///     return bayesnn::kl_normal_zero_mean(scale_mean, scale_log_sigma, torch::zeros({}));
///   }
///   torch::Tensor scale_mean, scale_log_sigma;
/// };
/// ```
class BayesModule : public ScriptExportable {
 public:
  /// KL(q || p) of this module's own variational parameters (children report their own):
  /// a scalar tensor on the parameters' device, differentiable.
  virtual torch::Tensor kl() = 0;

  /// Switches between sampling and the posterior mean; override to propagate extra state.
  virtual void set_mode(Mode mode) { mode_ = mode; }

  /// The current mode (`Mode::kSample` after construction).
  Mode mode() const { return mode_; }

  /// The export hook (see `ScriptExportable`). The default throws the exporter's
  /// "unsupported module" error naming the type and path: a custom Bayesian layer overrides it
  /// to be exportable, e.g. `ctx.emit("x = x * " + ctx.variational("scale", scale_mean,
  /// scale_log_sigma));`.
  void export_torchscript(ExportContext& ctx) const override;

 private:
  Mode mode_ = Mode::kSample;
};

/// Sum of `kl()` over `model` and every module below it that is a `BayesModule`:
/// the KL term of the ELBO. A scalar on the model's device (zero if there is none).
torch::Tensor kl_divergence(torch::nn::Module& model);

/// Sets `mode` on `model` and every `BayesModule` below it.
void set_mode(torch::nn::Module& model, Mode mode);

/// The number of `BayesModule`s in `model` (itself included).
int64_t count_bayes_modules(torch::nn::Module& model);

}  // namespace bayesnn
