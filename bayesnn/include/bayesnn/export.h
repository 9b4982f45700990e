#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "bayesnn/variational_tensor.h"

namespace bayesnn {

/// The name of the JSON metadata file stored inside every exported TorchScript file; read it
/// with `torch::jit::load(path, device, extra_files)` (C++) or
/// `torch.jit.load(path, _extra_files=...)` (Python).
inline constexpr const char* kExportMetadataFile = "bayesnn.json";

/// The number of posterior samples an exported predictive draws by default.
inline constexpr int64_t kDefaultPredictiveSamples = 100;

/// What an export records besides the network: written to `kExportMetadataFile`.
///
/// Example:
/// ```
/// bayesnn::ExportMetadata metadata;
/// metadata.training_command = "mnist_mlp --epochs 50 --prior hierarchical";
/// metadata.extra["dataset"] = "mnist";
/// ```
struct ExportMetadata {
  /// The command that trained the model, recorded verbatim (empty: not recorded).
  std::string training_command;
  /// Further key/value strings, stored under "extra".
  std::map<std::string, std::string> extra;
};

/// How `export_posterior_mean` stores a layer's weight (`reduce_precision` chooses): float32 as
/// trained, float16, or int8 steps q with w = q · scale; the exported forward casts it back to
/// float32 before its operator.
struct WeightStorage {
  at::ScalarType dtype = at::kFloat;  ///< kFloat, kHalf or kChar
  double scale = 1.0;                 ///< kChar: the weight one step stands for
};

/// What an exported file says of itself: its metadata file, read back by `read_export_info`.
struct ExportInfo {
  std::string format;           ///< "bayesnn.posterior_mean" or "bayesnn.predictive"
  std::string bayesnn_version;  ///< the bayesnn that wrote the file
  std::string torch_version;    ///< the LibTorch it was written with
  int64_t samples = 0;          ///< the predictive's default samples; 0 for a posterior mean
  ExportMetadata metadata;      ///< the training command and the extra strings
  std::string json;             ///< the whole metadata file, as written
};

/// A file that is not a readable bayesnn export; the message names the file and what is wrong.
class ExportReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads the metadata of a file that `export_posterior_mean` or `export_predictive` wrote,
/// without loading its network (only the archive's directory and its metadata record are read).
/// Throws `ExportReadError` where the file is missing, is not a TorchScript archive, has no
/// bayesnn metadata, or its metadata is not what bayesnn writes.
///
/// Example:
/// ```
/// auto info = bayesnn::read_export_info("runs/mlp/predictive.pt");
/// std::cout << info.format << " trained by: " << info.metadata.training_command << "\n";
/// ```
ExportInfo read_export_info(const std::string& path);

/// Which of the two exported forms is being written.
enum class ExportKind {
  kPosteriorMean,  ///< forward(x) -> logits with every variational tensor at its mean.
  kPredictive,     ///< forward(x, samples) samples the posterior inside the scripted code.
};

namespace detail {
class ExportWriter;
}  // namespace detail

class ExportContext;

/// A deterministic module that writes its own TorchScript forward when the model is exported
/// (`export_posterior_mean`, `export_predictive`). A user's module opts in by deriving from this
/// class as well. Bayesian modules have the same hook already, `BayesModule::export_torchscript`
/// (every bayesnn layer overrides it); torch's common layers the exporter knows itself.
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

/// What a module's export hook (`BayesModule::export_torchscript`,
/// `ScriptExportable::export_torchscript`) writes into: one module's part of the exported
/// forward.
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

/// Writes the posterior-mean network of `model` as a TorchScript file at `path`: its
/// `forward(x)` returns the model's output in `Mode::kMean` (logits), taking the same input
/// layout as the C++ model. `model` is a `torch::nn::Sequential` (nested ones too) of
/// Bayesian modules that override `BayesModule::export_torchscript` (every bayesnn layer, and a
/// user's), `ScriptExportable` modules, and torch's Linear, Conv1d, Conv2d, MaxPool2d,
/// AvgPool2d, Flatten, Dropout (identity), BatchNorm1d/2d (running statistics), Identity and
/// common activations (ReLU, ReLU6, LeakyReLU, ELU, SELU, GELU, SiLU, Tanh, Sigmoid, Softplus,
/// Softmax, LogSoftmax); anything else throws an error naming the module's type and path.
/// The tensors are stored on the CPU (a layer's weight at the precision `storage` names for its
/// path, else float32); metadata goes to `kExportMetadataFile`. The file is
/// written to a temporary name and renamed, so a failure leaves no partial file.
///
/// Example:
/// ```
/// torch::nn::Sequential model(bayesnn::BayesLinear(784, 64), torch::nn::ReLU(),
///                             bayesnn::BayesLinear(64, 10));
/// bayesnn::export_posterior_mean(*model, "posterior_mean.pt");
/// ```
void export_posterior_mean(const torch::nn::Module& model, const std::string& path,
                           const ExportMetadata& metadata = {},
                           const std::map<std::string, WeightStorage>& storage = {});

/// Writes a predictive TorchScript file at `path` that keeps the posterior's uncertainty: it
/// stores the mean and log_sigma of every variational tensor and its
/// `forward(x, samples: int = samples)` draws `samples` weight samples inside the scripted code
/// (W = mean + exp(log_sigma) ∘ eps, one draw per sample shared by the batch, whatever
/// estimator the layer trained with: the per-example predictive is the same) and returns a
/// `Dict[str, Tensor]`:
///   "probs": [N, C] mean class probabilities p̄ = (1/S) Σ_s softmax(f_s(x)),
///   "entropy": [N] predictive entropy H[p̄] = -Σ_c p̄_c log p̄_c (nats),
///   "mutual_information": [N] H[p̄] - (1/S) Σ_s H[softmax(f_s(x))] (nats, clamped at 0).
/// Supports the modules `export_posterior_mean` does; `samples` must be positive.
///
/// Example:
/// ```
/// torch::nn::Sequential model(bayesnn::BayesLinear(784, 64), torch::nn::ReLU(),
///                             bayesnn::BayesLinear(64, 10));
/// bayesnn::export_predictive(*model, "predictive.pt", 200);
/// ```
void export_predictive(const torch::nn::Module& model, const std::string& path,
                       int64_t samples = kDefaultPredictiveSamples,
                       const ExportMetadata& metadata = {});

/// `export_posterior_mean` of a module holder (`torch::nn::Sequential`, `bayesnn::BayesLinear`).
template <typename ModuleType>
void export_posterior_mean(const torch::nn::ModuleHolder<ModuleType>& model,
                           const std::string& path, const ExportMetadata& metadata = {},
                           const std::map<std::string, WeightStorage>& storage = {}) {
  export_posterior_mean(*model, path, metadata, storage);
}

/// `export_predictive` of a module holder (`torch::nn::Sequential`, `bayesnn::BayesLinear`).
template <typename ModuleType>
void export_predictive(const torch::nn::ModuleHolder<ModuleType>& model, const std::string& path,
                       int64_t samples = kDefaultPredictiveSamples,
                       const ExportMetadata& metadata = {}) {
  export_predictive(*model, path, samples, metadata);
}

}  // namespace bayesnn
