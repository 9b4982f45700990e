#include "bayesnn/export.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <variant>

#include <torch/script.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>

#include "bayesnn/atomic_file.h"
#include "bayesnn/version.h"

namespace bayesnn {
namespace detail {
namespace {

const char* function_name(ExportKind kind) {
  return kind == ExportKind::kPosteriorMean ? "export_posterior_mean" : "export_predictive";
}

// "bayesnn::BayesLinearImpl" -> "bayesnn::BayesLinear": the name users write.
std::string type_name(const torch::nn::Module& module) {
  std::string name = module.name();
  const std::string impl = "Impl";
  if (name.size() > impl.size() &&
      name.compare(name.size() - impl.size(), impl.size(), impl) == 0) {
    name.resize(name.size() - impl.size());
  }
  return name;
}

std::string join_path(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "." + child;
}

// A double as a TorchScript float literal (always with a '.' or an exponent, so that it is
// never parsed as an int).
std::string float_literal(double value) {
  if (std::isnan(value)) return "float(\"nan\")";
  if (std::isinf(value)) return value > 0 ? "float(\"inf\")" : "-float(\"inf\")";
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string bool_literal(bool value) { return value ? "True" : "False"; }

std::string list_literal(c10::ArrayRef<int64_t> values) {
  return fmt::format("[{}]", fmt::join(values.begin(), values.end(), ", "));
}

}  // namespace

// Builds one torch::jit::Module: the tensors as attributes, the forward as TorchScript source.
class ExportWriter {
 public:
  explicit ExportWriter(ExportKind kind)
      : kind_(kind), module_(kind == ExportKind::kPosteriorMean ? "PosteriorMean" : "Predictive") {}

  void write(const torch::nn::Module& module, const std::string& path) {
    if (const auto* hook = dynamic_cast<const ScriptExportable*>(&module)) {
      ExportContext ctx(*this, kind_, path, type_name(module));
      hook->export_torchscript(ctx);
      record_layer(ctx);
      return;
    }
    if (const auto* sequential = dynamic_cast<const torch::nn::SequentialImpl*>(&module)) {
      for (const auto& child : sequential->named_children()) {
        write(*child.value(), join_path(path, child.key()));
      }
      return;
    }
    ExportContext ctx(*this, kind_, path, type_name(module));
    write_standard(module, ctx);
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
    module_.register_parameter(unique, value.detach().to(torch::kCPU).clone(), is_buffer);
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

  // Writes the forward around the emitted body, the metadata, and saves to `path`.
  void save(const torch::nn::Module& model, const std::string& path, int64_t samples,
            const ExportMetadata& metadata) {
    const char* function = function_name(kind_);
    std::string source;
    if (kind_ == ExportKind::kPosteriorMean) {
      source = "def forward(self, x: Tensor) -> Tensor:\n";
      for (const auto& line : body_) source += "    " + line + "\n";
      source += "    return x\n";
    } else {
      source = fmt::format(
          "def forward(self, x: Tensor, samples: int = {}) -> Dict[str, Tensor]:\n"
          "    assert samples >= 1, \"predictive: samples must be positive\"\n"
          "    _input = x\n"
          "    _probs_sum = torch.zeros([0])\n"
          "    _entropy_sum = torch.zeros([0])\n"
          "    for _sample in range(samples):\n"
          "        x = _input\n",
          samples);
      for (const auto& line : body_) source += "        " + line + "\n";
      // log_softmax then exp: the per-sample entropy stays finite where a probability
      // underflows to zero.
      source +=
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
    try {
      module_.define(source);
    } catch (const std::exception& error) {
      TORCH_CHECK(false, function, ": the generated TorchScript does not compile (an export hook ",
                  "emitted invalid code?): ", error.what(), "\nsource:\n", source);
    }
    module_.eval();

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
    if (kind_ == ExportKind::kPredictive) {
      json["samples"] = samples;
      json["sampling"] =
          "one weight draw mean + exp(log_sigma) * eps per posterior sample, shared by the batch";
      json["outputs"] = {{"probs", "[N, C] mean class probabilities over the samples"},
                         {"entropy", "[N] predictive entropy of probs, nats"},
                         {"mutual_information",
                          "[N] entropy minus the mean per-sample entropy, nats, clamped at 0"}};
    } else {
      json["outputs"] = "the posterior-mean network's output (logits)";
    }
    torch::jit::ExtraFilesMap extra_files{{kExportMetadataFile, json.dump(2)}};

    try {
      write_file_atomically(path, [&](std::ostream& out) { module_.save(out, extra_files); });
    } catch (const WriteError& error) {
      throw WriteError(std::string(function) + ": " + error.what());
    }
  }

 private:
  void record_layer(const ExportContext& ctx) {
    nlohmann::json layer;
    layer["path"] = ctx.path_;
    layer["type"] = ctx.type_name_;
    for (const auto& [key, value] : ctx.description_) layer[key] = value;
    layers_.push_back(layer);
  }

  void write_standard(const torch::nn::Module& module, ExportContext& ctx) {
    using namespace torch::nn;
    using std::get_if;  // with ADL: c10::get_if for LibTorch 1.x's c10::variant options
    if (const auto* linear = dynamic_cast<const LinearImpl*>(&module)) {
      ctx.emit("x = torch.linear(x, " + ctx.tensor("weight", linear->weight) + ", " +
               ctx.tensor("bias", linear->bias) + ")");
    } else if (const auto* conv = dynamic_cast<const Conv2dImpl*>(&module)) {
      const auto& options = conv->options;
      if (!get_if<torch::enumtype::kZeros>(&options.padding_mode())) {
        ctx.unsupported("(only zero padding_mode is supported)");
      }
      std::string padding;
      if (const auto* values = get_if<torch::ExpandingArray<2>>(&options.padding())) {
        padding = list_literal(**values);
      } else if (get_if<torch::enumtype::kSame>(&options.padding())) {
        padding = "\"same\"";
      } else {
        padding = "\"valid\"";
      }
      ctx.emit(fmt::format("x = torch.conv2d(x, {}, {}, {}, {}, {}, {})",
                           ctx.tensor("weight", conv->weight), ctx.tensor("bias", conv->bias),
                           list_literal(*options.stride()), padding,
                           list_literal(*options.dilation()), options.groups()));
    } else if (const auto* max_pool = dynamic_cast<const MaxPool2dImpl*>(&module)) {
      const auto& o = max_pool->options;
      ctx.emit(fmt::format("x = torch.max_pool2d(x, {}, {}, {}, {}, {})",
                           list_literal(*o.kernel_size()), list_literal(*o.stride()),
                           list_literal(*o.padding()), list_literal(*o.dilation()),
                           bool_literal(o.ceil_mode())));
    } else if (const auto* avg_pool = dynamic_cast<const AvgPool2dImpl*>(&module)) {
      const auto& o = avg_pool->options;
      ctx.emit(fmt::format("x = torch.avg_pool2d(x, {}, {}, {}, {}, {}, {})",
                           list_literal(*o.kernel_size()), list_literal(*o.stride()),
                           list_literal(*o.padding()), bool_literal(o.ceil_mode()),
                           bool_literal(o.count_include_pad()),
                           o.divisor_override() ? std::to_string(*o.divisor_override()) : "None"));
    } else if (const auto* flatten = dynamic_cast<const FlattenImpl*>(&module)) {
      ctx.emit(fmt::format("x = torch.flatten(x, {}, {})", flatten->options.start_dim(),
                           flatten->options.end_dim()));
    } else if (const auto* batch_norm_2d = dynamic_cast<const BatchNorm2dImpl*>(&module)) {
      write_batch_norm(*batch_norm_2d, ctx);
    } else if (const auto* batch_norm_1d = dynamic_cast<const BatchNorm1dImpl*>(&module)) {
      write_batch_norm(*batch_norm_1d, ctx);
    } else if (dynamic_cast<const DropoutImpl*>(&module) ||
               dynamic_cast<const Dropout2dImpl*>(&module) ||
               dynamic_cast<const IdentityImpl*>(&module)) {
      // The identity: dropout is not part of the variational posterior.
    } else if (dynamic_cast<const ReLUImpl*>(&module)) {
      ctx.emit("x = torch.relu(x)");
    } else if (dynamic_cast<const ReLU6Impl*>(&module)) {
      ctx.emit("x = torch.hardtanh(x, 0.0, 6.0)");
    } else if (const auto* leaky = dynamic_cast<const LeakyReLUImpl*>(&module)) {
      ctx.emit("x = torch.leaky_relu(x, " + float_literal(leaky->options.negative_slope()) + ")");
    } else if (const auto* elu = dynamic_cast<const ELUImpl*>(&module)) {
      ctx.emit("x = torch.elu(x, " + float_literal(elu->options.alpha()) + ")");
    } else if (dynamic_cast<const SELUImpl*>(&module)) {
      ctx.emit("x = torch.selu(x)");
    } else if (const auto* gelu = dynamic_cast<const GELUImpl*>(&module)) {
      ctx.emit("x = torch.gelu(x, approximate=\"" + gelu->options.approximate() + "\")");
    } else if (dynamic_cast<const SiLUImpl*>(&module)) {
      ctx.emit("x = torch.silu(x)");
    } else if (dynamic_cast<const TanhImpl*>(&module)) {
      ctx.emit("x = torch.tanh(x)");
    } else if (dynamic_cast<const SigmoidImpl*>(&module)) {
      ctx.emit("x = torch.sigmoid(x)");
    } else if (const auto* softplus = dynamic_cast<const SoftplusImpl*>(&module)) {
      ctx.emit("x = torch.softplus(x, " + float_literal(softplus->options.beta()) + ", " +
               float_literal(softplus->options.threshold()) + ")");
    } else if (const auto* softmax = dynamic_cast<const SoftmaxImpl*>(&module)) {
      ctx.emit(fmt::format("x = torch.softmax(x, {})", softmax->options.dim()));
    } else if (const auto* log_softmax = dynamic_cast<const LogSoftmaxImpl*>(&module)) {
      ctx.emit(fmt::format("x = torch.log_softmax(x, {})", log_softmax->options.dim()));
    } else {
      ctx.unsupported();
    }
  }

  template <typename BatchNorm>
  void write_batch_norm(const BatchNorm& module, ExportContext& ctx) {
    const auto& o = module.options;
    const std::string weight = o.affine() ? ctx.tensor("weight", module.weight) : "None";
    const std::string bias = o.affine() ? ctx.tensor("bias", module.bias) : "None";
    if (o.track_running_stats()) {
      // Evaluation: the running statistics, as the C++ module in eval().
      ctx.emit(fmt::format("x = torch.batch_norm(x, {}, {}, {}, {}, False, 0.0, {}, False)", weight,
                           bias, add_tensor(ctx.path(), "running_mean", module.running_mean, true),
                           add_tensor(ctx.path(), "running_var", module.running_var, true),
                           float_literal(o.eps())));
    } else {
      ctx.emit(fmt::format("x = torch.batch_norm(x, {}, {}, None, None, True, 0.0, {}, False)",
                           weight, bias, float_literal(o.eps())));
    }
  }

  ExportKind kind_;
  torch::jit::Module module_;
  std::set<std::string> names_;
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

std::string ExportContext::local(const std::string& hint) { return writer_.local(hint); }

void ExportContext::emit(const std::string& statements) { writer_.emit(statements); }

void ExportContext::describe(const std::string& key, const std::string& value) {
  description_.emplace_back(key, value);
}

void ExportContext::unsupported(const std::string& reason) const {
  C10_THROW_ERROR(
      Error,
      c10::str(detail::function_name(kind_), ": unsupported module ", type_name_, " at '", path_,
               "'", reason.empty() ? "" : " " + reason,
               "; supported are torch::nn::Sequential of BayesLinear, BayesConv2d, Linear, Conv2d, "
               "pooling, Flatten, Dropout, BatchNorm, the common activations, and modules that "
               "implement bayesnn::ScriptExportable (see bayesnn/export.h)"));
}

void export_posterior_mean(const torch::nn::Module& model, const std::string& path,
                           const ExportMetadata& metadata) {
  detail::ExportWriter writer(ExportKind::kPosteriorMean);
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
