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

#include "bayesnn/errors.h"
#include "bayesnn/export_context.h"

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
