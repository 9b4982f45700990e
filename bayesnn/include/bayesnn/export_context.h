// The export hook's side: what a module's `export_torchscript` writes into (`ExportContext`) and
// the interface a deterministic module implements to have one (`ScriptExportable`). The export
// functions themselves are bayesnn/export.h.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace bayesnn {

class VariationalTensor;  // bayesnn/variational_tensor.h

/// Which of the two exported forms is being written.
enum class ExportKind {
  kPosteriorMean,  ///< forward(x) -> logits with every variational tensor at its mean.
  kPredictive,     ///< forward(x, samples) samples the posterior inside the scripted code.
};

namespace detail {
class ExportWriter;
}  // namespace detail

class ExportContext;

/// The export hook: a module that writes its own TorchScript forward when the model is exported
/// (`export_posterior_mean`, `export_predictive`). A user's deterministic module opts in by
/// deriving from this class as well; every `BayesModule` derives from it (and every bayesnn layer
/// overrides the hook); torch's common layers the exporter knows itself.
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

/// What a module's export hook (`ScriptExportable::export_torchscript`) writes into: one module's
/// part of the exported forward.
///
/// The exported forward is one flat TorchScript function. A module's statements read its
/// input from the variable `x` and assign its output to `x`. Tensors live in the exported
/// module under names derived from the module's path, so two modules never collide, and in the
/// order the module registers them (the order `load_trained` reads a file in), whatever order
/// the hook stores them in; names that start with `_` are reserved for the exporter (use
/// `local()` for temporaries). In the
/// predictive the statements run once per posterior sample, so `variational()` draws anew each
/// sample.
///
/// Example (the hook of a user layer y = x * s, q(s) = N(scale_mean, exp(scale_log_sigma)²)):
/// ```
/// void export_torchscript(bayesnn::ExportContext& ctx) const override {
///   ctx.describe("prior", "fixed(1)");
///   ctx.emit("x = x * " + ctx.variational("scale", scale_mean, scale_log_sigma));
/// }
/// ```
class ExportContext {
 public:
  ExportContext(const ExportContext&) = delete;
  ExportContext& operator=(const ExportContext&) = delete;

  /// The form being written.
  ExportKind kind() const { return kind_; }
  /// Whether the statements are part of the predictive's sampling loop.
  bool sampling() const { return kind_ == ExportKind::kPredictive; }
  /// The module's path in the model ("features.3"; "" for the model itself).
  const std::string& path() const { return path_; }

  /// Stores `value` (detached, copied to the CPU) in the exported module and returns the
  /// TorchScript expression that reads it, e.g. "self.features_3__weight". An undefined
  /// `value` returns "None" (for an optional bias).
  std::string tensor(const std::string& name, const at::Tensor& value);

  /// A variational tensor q = N(mean, exp(log_sigma)²): in the posterior-mean export the
  /// stored mean; in the predictive, stores mean and log_sigma, emits
  /// `_v = mean + exp(log_sigma) * randn_like(mean)` and returns `_v`, one fresh draw per
  /// posterior sample. Undefined tensors (no bias) return "None".
  std::string variational(const std::string& name, const at::Tensor& mean,
                          const at::Tensor& log_sigma);

  /// `variational(name, tensor.mean(), tensor.log_sigma())` of a variational tensor, which also
  /// records its prior's scale as `<name>_prior_scale` in the metadata; "None" if undefined. A
  /// product tensor w = z ∘ v: E[z] ∘ mean, or a draw of v times a draw of z along its units'
  /// dimension, one z per posterior sample for the tensors that share it (a weight and its
  /// bias).
  std::string variational(const std::string& name, const VariationalTensor& tensor);

  /// Stores `value` as a buffer (running statistics) and returns its expression, as `tensor`.
  std::string buffer(const std::string& name, const at::Tensor& value);

  /// A fresh local variable name for temporaries ("_l3_hint").
  std::string local(const std::string& hint);

  /// Appends TorchScript statements (one or more lines, unindented) to the forward.
  void emit(const std::string& statements);

  /// Records `key: value` in this module's entry of the metadata's "layers" list (prior,
  /// estimator, ...).
  void describe(const std::string& key, const std::string& value);

  /// Throws the exporter's error: "<function>: unsupported module <type> at '<path>'" followed
  /// by `reason` when given.
  [[noreturn]] void unsupported(const std::string& reason = "") const;

 private:
  friend class detail::ExportWriter;
  ExportContext(detail::ExportWriter& writer, ExportKind kind, std::string path,
                std::string type_name);

  detail::ExportWriter& writer_;
  ExportKind kind_;
  std::string path_;
  std::string type_name_;
  std::vector<std::pair<std::string, std::string>> description_;
  std::map<const void*, std::string> scale_draws_;  // this sample's z, by its prior module
  // The posterior mean `mean` of the tensor `name`, at the storage the export gives it.
  std::string stored_mean(const std::string& name, const at::Tensor& mean);
};

}  // namespace bayesnn
