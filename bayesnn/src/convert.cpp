#include "bayesnn/convert.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/script.h>
#include <torch/serialize/input-archive.h>

#include "bayesnn/bayes_module.h"
#include "builtin_conversions.h"
#include "checkpoint_file.h"
#include "error_text.h"
#include "module_name.h"
#include "trained_tensors.h"

namespace bayesnn {
namespace detail {

// The hook that converts `module`: the options' first, then bayesnn's; nullptr if none does.
const Conversion* find_conversion(const ConvertOptions& options, const torch::nn::Module& module) {
  for (const auto* list : {&options.conversions(), &builtin_conversions()}) {
    for (const auto& conversion : *list) {
      if (conversion.matches(module)) return &conversion;
    }
  }
  return nullptr;
}

// The conversion of one model's copy, in place: its Sequentials' layers are replaced.
class Converter {
 public:
  Converter(const ConvertOptions& options, ConvertReport& report)
      : options_(options), report_(report) {}

  // The Bayesian layer for `module` at `path` (a conversion matches it), its means at the trained
  // weights; nothing (and the reason in the report) where the hook cannot convert it.
  std::optional<torch::nn::AnyModule> convert_layer(const torch::nn::Module& module,
                                                    const std::string& path) {
    ConvertContext ctx(options_, report_, module, path);
    auto layer = find_conversion(options_, module)->convert(module, ctx);
    if (layer) report_.converted.push_back({path, module.name(), holder_name(*layer->ptr())});
    return layer;
  }

  // Converts what `module` (a part of the copy, at `path`) holds in Sequentials, and reports
  // what it cannot.
  void walk(torch::nn::Module& module, const std::string& path) {
    if (dynamic_cast<const BayesModule*>(&module) != nullptr) return;  // Bayesian already
    if (auto* sequential = dynamic_cast<torch::nn::SequentialImpl*>(&module)) {
      walk_sequential(*sequential, path);
      return;
    }
    if (!module.named_parameters(/*recurse=*/false).is_empty()) {
      keep(path, module,
           "has parameters of its own and no Bayesian counterpart in bayesnn (no conversion "
           "matches it); they stay point estimates");
    }
    for (const auto& child : module.named_children()) {
      const std::string child_path = detail::module_path(path, child.key());
      if (find_conversion(options_, *child.value()) != nullptr) {
        keep(child_path, *child.value(),
             fmt::format("a child of {}, which calls it through its C++ type: only a "
                         "torch::nn::Sequential's layers can be replaced (hold it in a Sequential)",
                         module.name()));
      } else {
        walk(*child.value(), child_path);
      }
    }
  }

 private:
  void walk_sequential(torch::nn::SequentialImpl& sequential, const std::string& path) {
    const auto children = sequential.named_children();  // in the order of its modules
    size_t index = 0;
    for (auto it = sequential.begin(); it != sequential.end(); ++it, ++index) {
      const std::string& name = children[index].key();
      const std::string child_path = detail::module_path(path, name);
      if (find_conversion(options_, *it->ptr()) == nullptr) {
        walk(*it->ptr(), child_path);
      } else if (auto layer = convert_layer(*it->ptr(), child_path)) {
        sequential.replace_module(name, layer->ptr());
        *it = std::move(*layer);
      }
    }
  }

  void keep(const std::string& path, const torch::nn::Module& module, std::string why) {
    report_.deterministic.push_back({path, module.name(), std::move(why)});
  }

  const ConvertOptions& options_;
  ConvertReport& report_;
};

}  // namespace detail

namespace {

void check(const ConvertOptions& options) {
  if (const auto delta = options.moped_delta()) {
    TORCH_CHECK(std::isfinite(*delta) && *delta > 0,
                "to_bayesian: moped_delta must be positive and finite, got ", *delta);
  }
  TORCH_CHECK(std::isfinite(options.moped_sigma_floor()) && options.moped_sigma_floor() > 0,
              "to_bayesian: moped_sigma_floor must be positive and finite, got ",
              options.moped_sigma_floor());
  TORCH_CHECK(!options.moped_prior() || options.moped_delta(),
              "to_bayesian: moped_prior(true) needs moped_delta(delta): the prior's sds are "
              "delta·|w|");
  TORCH_CHECK(std::isfinite(options.log_sigma_init()),
              "to_bayesian: log_sigma_init must be finite, got ", options.log_sigma_init());
}

// A deep copy of `model`, or an error that says how to make its type clonable.
std::shared_ptr<torch::nn::Module> copy_of(const torch::nn::Module& model) {
  try {
    return model.clone();
  } catch (const std::exception& error) {
    TORCH_CHECK(false, "to_bayesian: cannot copy ", model.name(),
                " (derive it from torch::nn::Cloneable<", model.name(),
                ">): ", detail::first_line(error));
  }
}

// Converts `copy` (a deep copy of the model) in place, or the model itself where it is one layer,
// fills `report` (if given) and throws in strict mode where something was not converted.
std::shared_ptr<torch::nn::Module> convert(const torch::nn::Module& model,
                                           std::shared_ptr<torch::nn::Module> copy,
                                           const ConvertOptions& options, ConvertReport* report) {
  ConvertReport local;
  ConvertReport& out = report != nullptr ? *report : local;
  out = ConvertReport();
  detail::Converter converter(options, out);
  if (copy == nullptr) {  // the model is one layer: it becomes its Bayesian layer
    auto layer = converter.convert_layer(model, "");
    copy = layer ? layer->ptr() : copy_of(model);
  } else {
    converter.walk(*copy, "");
  }
  if (options.strict() && !out.deterministic.empty()) throw ConvertError(out);
  return copy;
}

// Copies `from` into `to` in order (what = "parameter" or "buffer"), every count and shape
// checked.
void copy_in_order(const std::vector<at::Tensor>& from, const std::vector<at::Tensor>& to,
                   const char* what, const std::string& path) {
  TORCH_CHECK(from.size() == to.size(), "load_trained: '", path, "' holds ", from.size(), " ", what,
              "s, the network ", to.size());
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < from.size(); ++i) {
    TORCH_CHECK(from[i].sizes() == to[i].sizes(), "load_trained: '", path, "': ", what, " ", i,
                " has shape ", from[i].sizes(), ", the network's ", to[i].sizes());
    to[i].copy_(from[i]);
  }
}

// A bayesnn checkpoint's network, by name.
void load_checkpoint(const std::string& bytes, const std::string& path, torch::nn::Module& model) {
  detail::check_checkpoint(bytes, path, "load_trained");
  torch::serialize::InputArchive archive, network;
  try {
    archive.load_from(bytes.data(), bytes.size(), torch::kCPU);
    archive.read("model", network);
  } catch (const std::exception& error) {
    TORCH_CHECK(false, "load_trained: '", path,
                "' is not a readable bayesnn checkpoint: ", detail::first_line(error));
  }
  try {
    detail::load_module(network, model);
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, "load_trained: '", path,
                "' is a bayesnn checkpoint of another network: ", error.msg());
  }
}

// A TorchScript file's tensors, in the order an export stores each module's.
void load_script(const std::string& bytes, const std::string& path, torch::nn::Module& model) {
  torch::jit::Module script;
  try {
    std::istringstream stream(bytes);
    script = torch::jit::load(stream, torch::kCPU);
  } catch (const std::exception& error) {
    TORCH_CHECK(
        false, "load_trained: '", path,
        "' is neither a bayesnn checkpoint nor a TorchScript file: ", detail::first_line(error));
  }
  const auto from = detail::trained_tensors(script);
  const auto to = detail::trained_tensors(model);
  copy_in_order(from.parameters, to.parameters, "parameter", path);
  copy_in_order(from.buffers, to.buffers, "buffer", path);
}

}  // namespace

void load_trained(const std::string& path, torch::nn::Module& model) {
  std::ifstream file(path, std::ios::binary);
  TORCH_CHECK(file.good() && std::filesystem::is_regular_file(path), "load_trained: cannot read '",
              path, "'");
  const std::string bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  if (detail::is_sealed(bytes)) {
    load_checkpoint(bytes, path, model);
  } else {
    load_script(bytes, path, model);
  }
}

ConvertContext::ConvertContext(const ConvertOptions& options, ConvertReport& report,
                               const torch::nn::Module& module, std::string path)
    : options_(options), report_(report), module_(module), path_(std::move(path)) {}

// MOPED's prior is centred on each tensor's trained values by `start_at`.
Prior ConvertContext::prior() const {
  if (!options_.moped_prior()) return options_.prior();
  return Prior(std::make_shared<GaussianPrior>(
      0.0, 1.0, fmt::format("moped(delta={:g})", *options_.moped_delta())));
}

void ConvertContext::start_at(const VariationalTensor& q, const at::Tensor& trained) const {
  if (!q.defined()) return;
  at::NoGradGuard no_grad;
  // A product tensor w = z ∘ v starts with its posterior mean E[z] ∘ mean at the trained values.
  const auto scales = q.group_scales();
  q.mean().copy_(scales ? trained / along_units(scales->mean(), trained.dim(), scales->dim)
                        : trained);
  if (!options_.moped_delta()) return;
  const auto sd = (trained.detach().abs() * *options_.moped_delta())
                      .clamp_min(options_.moped_sigma_floor())
                      .to(q.mean().scalar_type());
  q.log_sigma().copy_(sd.log());
  if (options_.moped_prior()) {
    q.prior()->buffer("mean").copy_(trained);
    q.prior()->buffer("sd").copy_(sd);
  }
}

std::nullopt_t ConvertContext::keep(std::string why) {
  report_.deterministic.push_back({path_, module_.name(), std::move(why)});
  return std::nullopt;
}

namespace {
// "fc1 (torch::nn::LinearImpl): bayesnn::BayesLinear": one entry, as the report and the error say.
std::string describe(const ConvertReport::Entry& entry) {
  return fmt::format("{} ({}): {}", entry.path.empty() ? "(the model)" : entry.path, entry.type,
                     entry.what);
}
}  // namespace

std::string ConvertReport::to_string() const {
  std::string text;
  for (const auto& entry : converted) text += "converted " + describe(entry) + "\n";
  for (const auto& entry : deterministic) text += "kept deterministic " + describe(entry) + "\n";
  return text;
}

ConvertError::ConvertError(ConvertReport report)
    : std::runtime_error([&report] {
        std::string message = fmt::format(
            "to_bayesian: {} module(s) cannot be converted (ConvertOptions().strict(false) keeps "
            "them deterministic):",
            report.deterministic.size());
        for (const auto& entry : report.deterministic) message += "\n  " + describe(entry);
        return message;
      }()),
      report_(std::move(report)) {}

torch::nn::Sequential to_bayesian(const torch::nn::Sequential& model, const ConvertOptions& options,
                                  ConvertReport* report) {
  TORCH_CHECK(!model.is_empty(), "to_bayesian: the Sequential is empty (nullptr)");
  check(options);
  // Module by module, under their names (SequentialImpl::clone numbers them afresh).
  torch::nn::Sequential copy;
  const auto names = model->named_children();
  size_t index = 0;
  for (const auto& module : *model) copy->push_back(names[index++].key(), module.clone());
  convert(*model, copy.ptr(), options, report);
  return copy;
}

std::shared_ptr<torch::nn::Module> to_bayesian(const torch::nn::Module& model,
                                               const ConvertOptions& options,
                                               ConvertReport* report) {
  check(options);
  const bool is_layer = detail::find_conversion(options, model) != nullptr;
  return convert(model, is_layer ? nullptr : copy_of(model), options, report);
}

}  // namespace bayesnn
