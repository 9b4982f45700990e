#include "bayesnn/export.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/script.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>

#include "bayesnn/atomic_file.h"
#include "bayesnn/bayes_module.h"
#include "bayesnn/variational_tensor.h"
#include "bayesnn/version.h"
#include "error_text.h"
#include "export/torch_exporters.h"
#include "module_name.h"
#include "serialize/trained_tensors.h"

namespace bayesnn {
namespace detail {
namespace {
// A module's export hook: every BayesModule's (first, so that a module that also lists
// ScriptExportable among its bases, an ambiguous base then, still finds it) or a
// ScriptExportable's.
const ScriptExportable* hook_of(const torch::nn::Module& module) {
  if (const auto* bayes = dynamic_cast<const BayesModule*>(&module)) return bayes;
  return dynamic_cast<const ScriptExportable*>(&module);
}
}  // namespace

namespace {

const char* function_name(ExportKind kind) {
  return kind == ExportKind::kPosteriorMean ? "export_posterior_mean" : "export_predictive";
}

}  // namespace

// Builds one torch::jit::Module: the tensors as attributes, the forward as TorchScript source.
class ExportWriter {
 public:
  explicit ExportWriter(ExportKind kind, std::map<std::string, WeightStorage> storage = {})
      : kind_(kind),
        module_(kind == ExportKind::kPosteriorMean ? "PosteriorMean" : "Predictive"),
        storage_(std::move(storage)) {}

  // How the weight of the layer at `path` is stored (nullptr: as it is).
  const WeightStorage* storage(const std::string& path) const {
    const auto found = storage_.find(path);
    return found == storage_.end() ? nullptr : &found->second;
  }

  // Writes `module` at `path`: through its hook (a ScriptExportable, every BayesModule), its
  // children (a Sequential), or the exporter of its torch type.
  void write(const torch::nn::Module& module, const std::string& path) {
    const auto* sequential = dynamic_cast<const torch::nn::SequentialImpl*>(&module);
    if (sequential != nullptr && !exported_by_hook(module)) {
      for (const auto& child : sequential->named_children()) {
        write(*child.value(), module_path(path, child.key()));
      }
      return;
    }
    ExportContext ctx(*this, kind_, path, holder_name(module));
    if (const auto* hook = hook_of(module)) {
      hook->export_torchscript(ctx);
    } else if (const auto* exporter = find_torch_exporter(module)) {
      exporter->emit(module, ctx);
    } else {
      ctx.unsupported();
    }
    store_in_trained_order(module);
    record_layer(ctx);
  }

  std::string add_tensor(const std::string& path, const std::string& name, const at::Tensor& value,
                         bool is_buffer) {
    if (!value.defined()) return "None";
    std::string base;
    for (char c : (path.empty() ? name : path + "__" + name)) {
      base += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    }
    if (std::isdigit(static_cast<unsigned char>(base.front()))) base = "l" + base;
    std::string unique = base;
    for (int suffix = 2; names_.count(unique) || module_.hasattr(unique); ++suffix) {
      unique = base + "_" + std::to_string(suffix);
    }
    names_.insert(unique);
    pending_.push_back(
        {unique, value.detach().to(torch::kCPU).clone(), is_buffer, value.unsafeGetTensorImpl()});
    return "self." + unique;
  }

  std::string local(const std::string& hint) {
    std::string name = "_l" + std::to_string(next_local_++) + "_";
    for (char c : hint) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return name;
  }

  void emit(const std::string& statements) {
    std::istringstream lines(statements);
    std::string line;
    while (std::getline(lines, line)) body_.push_back(line);
  }

  // Defines the forward around the emitted body, and saves it with the metadata to `path`.
  void save(const torch::nn::Module& model, const std::string& path, int64_t samples,
            const ExportMetadata& metadata) {
    const char* function = function_name(kind_);
    const std::string source = forward_source(samples);
    try {
      module_.define(source);
    } catch (const std::exception& error) {
      TORCH_CHECK(false, function, ": the generated TorchScript does not compile (an export hook ",
                  "emitted invalid code?): ", error.what(), "\nsource:\n", source);
    }
    module_.eval();
    torch::jit::ExtraFilesMap extra_files{
        {kExportMetadataFile, metadata_json(model, samples, metadata).dump(2)}};
    try {
      write_file_atomically(path, [&](std::ostream& out) { module_.save(out, extra_files); });
    } catch (const WriteError& error) {
      throw WriteError(std::string(function) + ": " + error.what());
    }
  }

 private:
  // The TorchScript forward: the body once (posterior mean), or once per posterior sample with
  // the predictive's summary (predictive).
  std::string forward_source(int64_t samples) const {
    if (kind_ == ExportKind::kPosteriorMean) {
      std::string source = "def forward(self, x: Tensor) -> Tensor:\n";
      for (const auto& line : body_) source += "    " + line + "\n";
      return source + "    return x\n";
    }
    std::string source = fmt::format(
        "def forward(self, x: Tensor, samples: int = {}) -> Dict[str, Tensor]:\n"
        "    assert samples >= 1, \"predictive: samples must be positive\"\n"
        "    _input = x\n"
        "    _probs_sum = torch.zeros([0])\n"
        "    _entropy_sum = torch.zeros([0])\n"
        "    for _sample in range(samples):\n"
        "        x = _input\n",
        samples);
    for (const auto& line : body_) source += "        " + line + "\n";
    // log_softmax then exp: the per-sample entropy stays finite where a probability underflows
    // to zero.
    return source +
           "        _log_probs = torch.log_softmax(x, -1)\n"
           "        _probs = torch.exp(_log_probs)\n"
           "        _entropy = -(_probs * _log_probs).sum(-1)\n"
           "        if _sample == 0:\n"
           "            _probs_sum = _probs\n"
           "            _entropy_sum = _entropy\n"
           "        else:\n"
           "            _probs_sum = _probs_sum + _probs\n"
           "            _entropy_sum = _entropy_sum + _entropy\n"
           "    _probs_mean = _probs_sum / samples\n"
           "    _entropy_of_mean = -torch.xlogy(_probs_mean, _probs_mean).sum(-1)\n"
           "    _mutual_information = torch.clamp(_entropy_of_mean - _entropy_sum / samples, "
           "min=0.0)\n"
           "    return {\"probs\": _probs_mean, \"entropy\": _entropy_of_mean, "
           "\"mutual_information\": _mutual_information}\n";
  }

  // What `kExportMetadataFile` holds.
  nlohmann::json metadata_json(const torch::nn::Module& model, int64_t samples,
                               const ExportMetadata& metadata) const {
    nlohmann::json json;
    json["format"] =
        kind_ == ExportKind::kPosteriorMean ? "bayesnn.posterior_mean" : "bayesnn.predictive";
    json["bayesnn_version"] = kVersion;
    json["torch_version"] = TORCH_VERSION;
    std::ostringstream architecture;
    architecture << model;
    json["architecture"] = architecture.str();
    json["layers"] = layers_;
    json["training_command"] = metadata.training_command;
    json["extra"] = metadata.extra;
    if (kind_ == ExportKind::kPosteriorMean) {
      json["outputs"] = "the posterior-mean network's output (logits)";
      return json;
    }
    json["samples"] = samples;
    json["sampling"] =
        "one weight draw mean + exp(log_sigma) * eps per posterior sample, shared by the batch "
        "(a group prior's weight: that draw times one draw of its unit scales z)";
    json["outputs"] = {{"probs", "[N, C] mean class probabilities over the samples"},
                       {"entropy", "[N] predictive entropy of probs, nats"},
                       {"mutual_information",
                        "[N] entropy minus the mean per-sample entropy, nats, clamped at 0"}};
    return json;
  }

  static bool exported_by_hook(const torch::nn::Module& module) {
    return hook_of(module) != nullptr;
  }

  // A module's tensors go into the file in `trained_tensors` order, the order `load_trained`
  // reads them in, whatever order its hook stored them in; tensors that are not the module's
  // own follow in the hook's order.
  void store_in_trained_order(const torch::nn::Module& module) {
    const TrainedTensors order = trained_tensors(module);
    const auto rank = [&order](const PendingTensor& tensor) {
      const auto& list = tensor.is_buffer ? order.buffers : order.parameters;
      const auto found = std::find_if(list.begin(), list.end(), [&](const at::Tensor& own) {
        return own.unsafeGetTensorImpl() == tensor.source;
      });
      return found - list.begin();
    };
    std::stable_sort(pending_.begin(), pending_.end(),
                     [&rank](const auto& a, const auto& b) { return rank(a) < rank(b); });
    for (const auto& tensor : pending_) {
      module_.register_parameter(tensor.name, tensor.value, tensor.is_buffer);
    }
    pending_.clear();
  }

  void record_layer(const ExportContext& ctx) {
    nlohmann::json layer;
    layer["path"] = ctx.path_;
    layer["type"] = ctx.type_name_;
    for (const auto& [key, value] : ctx.description_) layer[key] = value;
    layers_.push_back(layer);
  }

  // A tensor a hook stored, registered once its module's hook has run.
  struct PendingTensor {
    std::string name;
    at::Tensor value;
    bool is_buffer;
    const c10::TensorImpl* source;  // the module's own tensor it copies
  };

  ExportKind kind_;
  torch::jit::Module module_;
  std::map<std::string, WeightStorage> storage_;
  std::set<std::string> names_;
  std::vector<PendingTensor> pending_;
  std::vector<std::string> body_;
  nlohmann::json layers_ = nlohmann::json::array();
  int64_t next_local_ = 0;
};

}  // namespace detail

ExportContext::ExportContext(detail::ExportWriter& writer, ExportKind kind, std::string path,
                             std::string type_name)
    : writer_(writer), kind_(kind), path_(std::move(path)), type_name_(std::move(type_name)) {}

std::string ExportContext::tensor(const std::string& name, const at::Tensor& value) {
  return writer_.add_tensor(path_, name, value, /*is_buffer=*/false);
}

std::string ExportContext::variational(const std::string& name, const at::Tensor& mean,
                                       const at::Tensor& log_sigma) {
  if (!mean.defined()) return "None";
  TORCH_CHECK(log_sigma.defined() && log_sigma.sizes() == mean.sizes(),
              detail::function_name(kind_), ": variational tensor '", name, "' of '", path_,
              "' has mean of shape ", mean.sizes(), " but log_sigma of shape ",
              log_sigma.defined() ? fmt::format("{}", fmt::streamed(log_sigma.sizes()))
                                  : std::string("(undefined)"));
  if (!sampling()) return tensor(name + "_mean", mean);
  const std::string mean_name = tensor(name + "_mean", mean);
  const std::string log_sigma_name = tensor(name + "_log_sigma", log_sigma);
  const std::string draw = local(name);
  emit(fmt::format("{} = {} + torch.exp({}) * torch.randn_like({})", draw, mean_name,
                   log_sigma_name, mean_name));
  return draw;
}

std::string ExportContext::variational(const std::string& name, const VariationalTensor& tensor) {
  if (!tensor.defined()) return "None";
  if (!tensor.prior().is_empty()) {
    describe(name + "_prior_scale", fmt::format("{}", tensor.prior()->scale()));
  }
  const auto scales = tensor.group_scales();
  if (!scales && sampling()) return variational(name, tensor.mean(), tensor.log_sigma());
  if (!sampling()) return stored_mean(name, tensor.value(Mode::kMean));
  // A product tensor w = z ∘ v: a draw of each factor.
  const auto v = variational(name, tensor.mean(), tensor.log_sigma());
  auto& z = scale_draws_[tensor.scales_prior().get()];
  if (z.empty()) {
    const auto loc = this->tensor(name + "_scale_loc", scales->loc);
    auto u = fmt::format("{} + torch.exp({}) * torch.randn_like({})", loc,
                         this->tensor(name + "_scale_log_sd", scales->log_sd), loc);
    if (scales->shared_log_sd.defined()) {
      u +=
          fmt::format(" + torch.exp({}) * torch.randn(1, dtype={}.dtype, device={}.device)",
                      this->tensor(name + "_scale_shared_log_sd", scales->shared_log_sd), loc, loc);
    }
    z = local(name + "_scales");
    emit(fmt::format("{} = {}", z, scales->log_normal ? "torch.exp(" + u + ")" : "(" + u + ")"));
  }
  std::vector<std::string> shape(static_cast<size_t>(tensor.mean().dim()), "1");
  shape[static_cast<size_t>(scales->dim)] = "-1";
  const auto draw = local(name);
  emit(fmt::format("{} = {} * {}.reshape([{}])", draw, v, z, fmt::join(shape, ", ")));
  return draw;
}

std::string ExportContext::stored_mean(const std::string& name, const at::Tensor& mean) {
  const auto* storage = name == "weight" ? writer_.storage(path_) : nullptr;
  if (storage == nullptr || storage->dtype == at::kFloat) return tensor(name + "_mean", mean);
  const auto weight = local(name);
  if (storage->dtype == at::kHalf) {
    emit(fmt::format("{} = {}.float()", weight, buffer(name + "_mean", mean.to(at::kHalf))));
  } else {
    TORCH_CHECK(storage->dtype == at::kChar && storage->scale > 0, detail::function_name(kind_),
                ": the weight of '", path_, "' is to be stored as ", storage->dtype, " with scale ",
                storage->scale,
                "; expected float32, float16, or int8 with a "
                "positive scale");
    const auto steps = (mean / storage->scale).round();
    TORCH_CHECK(steps.abs().max().item<double>() <= 127, detail::function_name(kind_),
                ": the weight of '", path_, "' needs ", steps.abs().max().item<double>(),
                " steps of ", storage->scale, ", more than int8 holds (127)");
    emit(fmt::format("{} = {}.float() * {}", weight, buffer(name + "_steps", steps.to(at::kChar)),
                     buffer(name + "_scale", at::full({}, storage->scale, at::kFloat))));
  }
  describe(name + "_storage", c10::toString(storage->dtype));
  return weight;
}

std::string ExportContext::buffer(const std::string& name, const at::Tensor& value) {
  return writer_.add_tensor(path_, name, value, /*is_buffer=*/true);
}

std::string ExportContext::local(const std::string& hint) { return writer_.local(hint); }

void ExportContext::emit(const std::string& statements) { writer_.emit(statements); }

void ExportContext::describe(const std::string& key, const std::string& value) {
  description_.emplace_back(key, value);
}

void ExportContext::unsupported(const std::string& reason) const {
  C10_THROW_ERROR(
      Error, c10::str(detail::function_name(kind_), ": unsupported module ", type_name_, " at '",
                      path_, "'", reason.empty() ? "" : " " + reason,
                      "; supported are torch::nn::Sequential of ", detail::torch_exported_modules(),
                      ", bayesnn::BayesModules that override export_torchscript (every bayesnn "
                      "layer does), and modules that implement bayesnn::ScriptExportable (see "
                      "bayesnn/export_context.h)"));
}

void export_posterior_mean(const torch::nn::Module& model, const std::string& path,
                           const ExportMetadata& metadata,
                           const std::map<std::string, WeightStorage>& storage) {
  detail::ExportWriter writer(ExportKind::kPosteriorMean, storage);
  writer.write(model, "");
  writer.save(model, path, 0, metadata);
}

void export_predictive(const torch::nn::Module& model, const std::string& path, int64_t samples,
                       const ExportMetadata& metadata) {
  TORCH_CHECK(samples > 0, "export_predictive: samples must be positive, got ", samples);
  detail::ExportWriter writer(ExportKind::kPredictive);
  writer.write(model, "");
  writer.save(model, path, samples, metadata);
}

}  // namespace bayesnn
