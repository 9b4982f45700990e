#include "bayesnn/convert.h"

#include <cmath>
#include <utility>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "bayesnn/bayes_module.h"
#include "convert/builtin_conversions.h"
#include "error_text.h"
#include "module_name.h"

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

}  // namespace

ConvertError::ConvertError(ConvertReport report)
    : std::runtime_error([&report] {
        std::string message = fmt::format(
            "to_bayesian: {} module(s) cannot be converted (ConvertOptions().strict(false) keeps "
            "them deterministic):",
            report.deterministic.size());
        for (const auto& entry : report.deterministic) message += "\n  " + entry.to_string();
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
