#include "bayesnn/export.h"

#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <variant>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/script.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>

#include "bayesnn/atomic_file.h"
#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/bayes_module.h"
#include "bayesnn/version.h"
#include "error_text.h"

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

// --- The table from module type to emitter -------------------------------------------------

using Module = torch::nn::Module;

// One row: a module type (matched with dynamic_cast, so subclasses match too) and the
// TorchScript statements it exports as.
struct Exporter {
  std::string name;
  std::function<bool(const Module&)> matches;
  std::function<void(const Module&, ExportContext&)> emit;
};

template <typename T>
Exporter row(std::string name, std::function<void(const T&, ExportContext&)> emit) {
  return {std::move(name), [](const Module& m) { return dynamic_cast<const T*>(&m) != nullptr; },
          [emit = std::move(emit)](const Module& m, ExportContext& ctx) {
            emit(dynamic_cast<const T&>(m), ctx);
          }};
}

// A row for a module whose export is one fixed statement.
template <typename T>
Exporter statement(std::string name, std::string code) {
  return row<T>(std::move(name),
                [code = std::move(code)](const T&, ExportContext& ctx) { ctx.emit(code); });
}

template <typename Layer>
void describe_bayes_layer(const Layer& layer, ExportContext& ctx) {
  ctx.describe("prior", to_string(layer.options.prior()));
  ctx.describe("estimator", to_string(layer.options.estimator()));
}

void emit_bayes_linear(const BayesLinearImpl& layer, ExportContext& ctx) {
  describe_bayes_layer(layer, ctx);
  const std::string weight = ctx.variational("weight", layer.weight);
  const std::string bias = ctx.variational("bias", layer.bias);
  ctx.emit("x = torch.linear(x, " + weight + ", " + bias + ")");
}

void emit_bayes_conv2d(const BayesConv2dImpl& layer, ExportContext& ctx) {
  describe_bayes_layer(layer, ctx);
  const auto& o = layer.options;
  const std::string weight = ctx.variational("weight", layer.weight);
  const std::string bias = ctx.variational("bias", layer.bias);
  ctx.emit(fmt::format("x = torch.conv2d(x, {}, {}, {}, {}, {}, {})", weight, bias,
                       list_literal(*o.stride()), list_literal(*o.padding()),
                       list_literal(*o.dilation()), o.groups()));
}

void emit_linear(const torch::nn::LinearImpl& linear, ExportContext& ctx) {
  const std::string weight = ctx.tensor("weight", linear.weight);
  const std::string bias = ctx.tensor("bias", linear.bias);
  ctx.emit("x = torch.linear(x, " + weight + ", " + bias + ")");
}

void emit_conv2d(const torch::nn::Conv2dImpl& conv, ExportContext& ctx) {
  using std::get_if;  // with ADL: c10::get_if for LibTorch 1.x's c10::variant options
  const auto& options = conv.options;
  if (!get_if<torch::enumtype::kZeros>(&options.padding_mode())) {
    ctx.unsupported("(only zero padding_mode is supported)");
  }
  std::string padding = "\"valid\"";
  if (const auto* values = get_if<torch::ExpandingArray<2>>(&options.padding())) {
    padding = list_literal(**values);
  } else if (get_if<torch::enumtype::kSame>(&options.padding())) {
    padding = "\"same\"";
  }
  const std::string weight = ctx.tensor("weight", conv.weight);
  const std::string bias = ctx.tensor("bias", conv.bias);
  ctx.emit(fmt::format("x = torch.conv2d(x, {}, {}, {}, {}, {}, {})", weight, bias,
                       list_literal(*options.stride()), padding, list_literal(*options.dilation()),
                       options.groups()));
}

void emit_max_pool2d(const torch::nn::MaxPool2dImpl& pool, ExportContext& ctx) {
  const auto& o = pool.options;
  ctx.emit(fmt::format("x = torch.max_pool2d(x, {}, {}, {}, {}, {})",
                       list_literal(*o.kernel_size()), list_literal(*o.stride()),
                       list_literal(*o.padding()), list_literal(*o.dilation()),
                       bool_literal(o.ceil_mode())));
}

void emit_avg_pool2d(const torch::nn::AvgPool2dImpl& pool, ExportContext& ctx) {
  const auto& o = pool.options;
  ctx.emit(fmt::format("x = torch.avg_pool2d(x, {}, {}, {}, {}, {}, {})",
                       list_literal(*o.kernel_size()), list_literal(*o.stride()),
                       list_literal(*o.padding()), bool_literal(o.ceil_mode()),
                       bool_literal(o.count_include_pad()),
                       o.divisor_override() ? std::to_string(*o.divisor_override()) : "None"));
}

// Evaluation: the running statistics, as the C++ module in eval(). (Every emitter stores its
// tensors in separate statements, in the order the module registers them: the file's tensors are
// then in the network's order, which `load_trained` relies on; a function's arguments are
// evaluated in no fixed order.)
template <typename BatchNorm>
void emit_batch_norm(const BatchNorm& module, ExportContext& ctx) {
  const auto& o = module.options;
  const std::string weight = o.affine() ? ctx.tensor("weight", module.weight) : "None";
  const std::string bias = o.affine() ? ctx.tensor("bias", module.bias) : "None";
  if (o.track_running_stats()) {
    const std::string running_mean = ctx.buffer("running_mean", module.running_mean);
    const std::string running_var = ctx.buffer("running_var", module.running_var);
    ctx.emit(fmt::format("x = torch.batch_norm(x, {}, {}, {}, {}, False, 0.0, {}, False)", weight,
                         bias, running_mean, running_var, float_literal(o.eps())));
  } else {
    ctx.emit(fmt::format("x = torch.batch_norm(x, {}, {}, None, None, True, 0.0, {}, False)",
                         weight, bias, float_literal(o.eps())));
  }
}

const std::vector<Exporter>& exporters() {
  using namespace torch::nn;
  static const std::vector<Exporter> table = {
      row<BayesLinearImpl>("BayesLinear", emit_bayes_linear),
      row<BayesConv2dImpl>("BayesConv2d", emit_bayes_conv2d),
      row<LinearImpl>("Linear", emit_linear),
      row<Conv2dImpl>("Conv2d", emit_conv2d),
      row<MaxPool2dImpl>("MaxPool2d", emit_max_pool2d),
      row<AvgPool2dImpl>("AvgPool2d", emit_avg_pool2d),
      row<BatchNorm1dImpl>("BatchNorm1d", emit_batch_norm<BatchNorm1dImpl>),
      row<BatchNorm2dImpl>("BatchNorm2d", emit_batch_norm<BatchNorm2dImpl>),
      row<FlattenImpl>("Flatten",
                       [](const FlattenImpl& flatten, ExportContext& ctx) {
                         ctx.emit(fmt::format("x = torch.flatten(x, {}, {})",
                                              flatten.options.start_dim(),
                                              flatten.options.end_dim()));
                       }),
      // The identity: dropout is not part of the variational posterior.
      statement<DropoutImpl>("Dropout", ""),
      statement<Dropout2dImpl>("Dropout2d", ""),
      statement<IdentityImpl>("Identity", ""),
      statement<ReLUImpl>("ReLU", "x = torch.relu(x)"),
      statement<ReLU6Impl>("ReLU6", "x = torch.hardtanh(x, 0.0, 6.0)"),
      row<LeakyReLUImpl>("LeakyReLU",
                         [](const LeakyReLUImpl& m, ExportContext& ctx) {
                           ctx.emit("x = torch.leaky_relu(x, " +
                                    float_literal(m.options.negative_slope()) + ")");
                         }),
      row<ELUImpl>("ELU",
                   [](const ELUImpl& m, ExportContext& ctx) {
                     ctx.emit("x = torch.elu(x, " + float_literal(m.options.alpha()) + ")");
                   }),
      statement<SELUImpl>("SELU", "x = torch.selu(x)"),
      row<GELUImpl>("GELU",
                    [](const GELUImpl& m, ExportContext& ctx) {
                      ctx.emit("x = torch.gelu(x, approximate=\"" + m.options.approximate() +
                               "\")");
                    }),
      statement<SiLUImpl>("SiLU", "x = torch.silu(x)"),
      statement<TanhImpl>("Tanh", "x = torch.tanh(x)"),
      statement<SigmoidImpl>("Sigmoid", "x = torch.sigmoid(x)"),
      row<SoftplusImpl>("Softplus",
                        [](const SoftplusImpl& m, ExportContext& ctx) {
                          ctx.emit("x = torch.softplus(x, " + float_literal(m.options.beta()) +
                                   ", " + float_literal(m.options.threshold()) + ")");
                        }),
      row<SoftmaxImpl>("Softmax",
                       [](const SoftmaxImpl& m, ExportContext& ctx) {
                         ctx.emit(fmt::format("x = torch.softmax(x, {})", m.options.dim()));
                       }),
      row<LogSoftmaxImpl>("LogSoftmax",
                          [](const LogSoftmaxImpl& m, ExportContext& ctx) {
                            ctx.emit(fmt::format("x = torch.log_softmax(x, {})", m.options.dim()));
                          }),
  };
  return table;
}

const Exporter* find_exporter(const Module& module) {
  for (const auto& exporter : exporters()) {
    if (exporter.matches(module)) return &exporter;
  }
  return nullptr;
}

}  // namespace

// "BayesLinear, BayesConv2d, Linear, ...": the table's rows, for error messages.
std::string supported_modules() {
  std::string names;
  for (const auto& exporter : exporters()) names += (names.empty() ? "" : ", ") + exporter.name;
  return names;
}

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
    const Exporter* exporter = find_exporter(module);
    if (exporter == nullptr && dynamic_cast<const BayesModule*>(&module) != nullptr) {
      ctx.unsupported("(a BayesModule that does not override export_torchscript)");
    }
    if (exporter == nullptr) ctx.unsupported();
    exporter->emit(module, ctx);
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
        "one weight draw mean + exp(log_sigma) * eps per posterior sample, shared by the batch";
    json["outputs"] = {{"probs", "[N, C] mean class probabilities over the samples"},
                       {"entropy", "[N] predictive entropy of probs, nats"},
                       {"mutual_information",
                        "[N] entropy minus the mean per-sample entropy, nats, clamped at 0"}};
    return json;
  }

  void record_layer(const ExportContext& ctx) {
    nlohmann::json layer;
    layer["path"] = ctx.path_;
    layer["type"] = ctx.type_name_;
    for (const auto& [key, value] : ctx.description_) layer[key] = value;
    layers_.push_back(layer);
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

std::string ExportContext::variational(const std::string& name, const VariationalTensor& tensor) {
  if (!tensor.defined()) return "None";
  if (!tensor.prior().is_empty()) {
    describe(name + "_prior_scale", fmt::format("{}", tensor.prior()->scale()));
  }
  return variational(name, tensor.mean(), tensor.log_sigma());
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
                      "; supported are torch::nn::Sequential of ", detail::supported_modules(),
                      ", and modules that implement bayesnn::ScriptExportable (see "
                      "bayesnn/export.h)"));
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

ExportInfo read_export_info(const std::string& path) {
  const std::string record = std::string("extra/") + kExportMetadataFile;
  auto fail = [&path](const std::string& what) {
    return ExportReadError(fmt::format("'{}' is not a readable bayesnn export: {}", path, what));
  };
  if (!std::filesystem::is_regular_file(path)) throw fail("no such file");
  std::string text;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord(record)) throw fail("it holds no " + record);
    auto [data, size] = reader.getRecord(record);
    text.assign(static_cast<const char*>(data.get()), size);
  } catch (const ExportReadError&) {
    throw;
  } catch (const std::exception& error) {  // c10::Error, or the importer's own
    throw fail("not a TorchScript archive (" + detail::first_line(error) + ")");
  }
  ExportInfo info;
  info.json = text;
  try {
    const auto json = nlohmann::json::parse(text);
    info.format = json.at("format").get<std::string>();
    if (info.format != "bayesnn.posterior_mean" && info.format != "bayesnn.predictive") {
      throw fail("its format is '" + info.format +
                 "', expected bayesnn.posterior_mean or bayesnn.predictive");
    }
    info.bayesnn_version = json.at("bayesnn_version").get<std::string>();
    info.torch_version = json.at("torch_version").get<std::string>();
    info.samples = json.value("samples", int64_t{0});
    info.metadata.training_command = json.at("training_command").get<std::string>();
    info.metadata.extra = json.at("extra").get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& error) {
    throw fail(std::string("its ") + kExportMetadataFile + " is not bayesnn's metadata (" +
               error.what() + ")");
  }
  return info;
}

}  // namespace bayesnn
