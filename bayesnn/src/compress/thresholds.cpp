#include "bayesnn/compress.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include "bayesnn/bayes_module.h"
#include "bayesnn/mode.h"

namespace bayesnn {
// choose_thresholds: the per-layer thresholds of `compress`, chosen on held-out data.

namespace {

// The posterior-mean network's accuracy (percent) and mean NLL on (inputs, targets).
std::pair<double, double> posterior_mean_fit(const torch::nn::Sequential& model,
                                             const at::Tensor& inputs, const at::Tensor& targets,
                                             int64_t batch_size) {
  auto& net = *model.ptr();
  ModeGuard guard(net);
  set_mode(net, Mode::kMean);
  net.eval();
  at::NoGradGuard no_grad;
  const auto device = net.parameters().front().device();
  int64_t correct = 0;
  double nll = 0;
  for (int64_t start = 0; start < inputs.size(0); start += batch_size) {
    const int64_t end = std::min(inputs.size(0), start + batch_size);
    const auto logits = net.forward(inputs.slice(0, start, end).to(device)).cpu();
    const auto labels = targets.slice(0, start, end).cpu();
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    nll += at::nll_loss(at::log_softmax(logits.to(at::kDouble), 1), labels, {}, at::Reduction::Sum)
               .item<double>();
  }
  const auto n = static_cast<double>(inputs.size(0));
  return {100.0 * static_cast<double>(correct) / n, nll / n};
}
void check_search(const at::Tensor& inputs, const at::Tensor& targets,
                  const ThresholdSearchOptions& options) {
  TORCH_CHECK(std::isfinite(options.budget()) && options.budget() >= 0,
              "choose_thresholds: the budget must be non-negative and finite (accuracy points), "
              "got ",
              options.budget());
  TORCH_CHECK(!std::isnan(options.nll_tolerance()) && options.nll_tolerance() >= 0,
              "choose_thresholds: the NLL tolerance must be non-negative (a fraction, or inf), "
              "got ",
              options.nll_tolerance());
  TORCH_CHECK(!options.reference_accuracy() || std::isfinite(*options.reference_accuracy()),
              "choose_thresholds: the reference accuracy must be finite (percent), got ",
              options.reference_accuracy().value_or(0));
  TORCH_CHECK(!options.reference_nll() ||
                  (std::isfinite(*options.reference_nll()) && *options.reference_nll() >= 0),
              "choose_thresholds: the reference NLL must be non-negative and finite, got ",
              options.reference_nll().value_or(0));
  TORCH_CHECK(!options.candidates().empty(), "choose_thresholds: no candidate thresholds");
  TORCH_CHECK(inputs.size(0) > 0 && inputs.size(0) == targets.size(0),
              "choose_thresholds: the validation set needs as many targets as inputs (at least "
              "one), got ",
              inputs.size(0), " inputs and ", targets.size(0), " targets");
  TORCH_CHECK(options.batch_size() > 0, "choose_thresholds: batch_size must be positive, got ",
              options.batch_size());
}

// The model's layers with group scales, by path, in order: each with its weight's scales and the
// index of its current candidate threshold.
struct SearchLayer {
  std::string path;
  GroupScales scales;
  size_t at = 0;
};

std::vector<SearchLayer> search_layers(const torch::nn::Sequential& model) {
  std::vector<SearchLayer> layers;
  for (const auto& item : model->named_children()) {
    const auto* bayes = dynamic_cast<const BayesModule*>(item.value().get());
    if (bayes == nullptr) continue;
    for (const auto& [name, tensor] : bayes->variational_tensors()) {
      if (name == "weight" && tensor.group_scales()) {
        layers.push_back({item.key(), *tensor.group_scales()});
      }
    }
  }
  TORCH_CHECK(!layers.empty(), "choose_thresholds: the model has no layer with group scales");
  return layers;
}

// The next candidate after the layer's current one that switches another unit off (one that
// changes nothing is no step), unless it would leave the layer without units.
std::optional<size_t> next_candidate(const SearchLayer& layer,
                                     const std::vector<double>& candidates, double min_scale) {
  const auto now = kept_units(layer.scales, candidates[layer.at], min_scale);
  size_t next = layer.at + 1;
  while (next < candidates.size() &&
         kept_units(layer.scales, candidates[next], min_scale).equal(now)) {
    ++next;
  }
  if (next >= candidates.size() ||
      !kept_units(layer.scales, candidates[next], min_scale).any().item<bool>()) {
    return std::nullopt;
  }
  return next;
}
}  // namespace

ThresholdChoice choose_thresholds(const torch::nn::Sequential& model, const at::Tensor& inputs,
                                  const at::Tensor& targets,
                                  const ThresholdSearchOptions& options) {
  check_search(inputs, targets, options);
  auto candidates = options.candidates();
  std::sort(candidates.rbegin(), candidates.rend());
  ThresholdChoice choice;
  const auto [full_accuracy, full_nll] =
      posterior_mean_fit(model, inputs, targets, options.batch_size());
  choice.full_accuracy = full_accuracy;
  choice.full_nll = full_nll;
  const double floor = options.reference_accuracy().value_or(full_accuracy) - options.budget();
  const double nll_ceiling =
      options.reference_nll().value_or(full_nll) * (1 + options.nll_tolerance());
  const auto try_options = [&](const CompressOptions& tried) {
    const auto compressed = compress(model, tried);
    const auto [accuracy, nll] =
        posterior_mean_fit(compressed.network, inputs, targets, options.batch_size());
    ThresholdTrial trial{tried.layer_max_log_alpha(), compressed.report.ratio(), accuracy};
    trial.nll = nll;
    // inf: no limit (a full network whose NLL rounds to 0 would otherwise make the ceiling nan).
    trial.within_budget =
        accuracy >= floor && (std::isinf(options.nll_tolerance()) || nll <= nll_ceiling);
    return trial;
  };

  // Every layer with group scales starts at the largest candidate; each round lowers the one
  // layer whose next step keeps the most within the budget.
  auto layers = search_layers(model);
  auto current = CompressOptions().min_scale(options.min_scale());
  for (const auto& layer : layers) {
    const auto kept = kept_units(layer.scales, candidates.front(), options.min_scale());
    TORCH_CHECK(kept.any().item<bool>(), "choose_thresholds: '", layer.path, "' keeps none of its ",
                kept.numel(), " units at the largest candidate threshold ", candidates.front(),
                " (min_scale ", options.min_scale(),
                "): its scales have switched it off, and no network is left to search");
    current.layer_max_log_alpha()[layer.path] = candidates.front();
  }
  choice.trials.push_back(try_options(current));
  choice.trials.back().taken = true;  // the start, within the budget or not
  size_t best = 0;
  for (;;) {
    std::optional<size_t> step;
    SearchLayer* step_layer = nullptr;
    size_t step_at = 0;
    for (auto& layer : layers) {
      const auto next = next_candidate(layer, candidates, options.min_scale());
      if (!next) continue;
      auto tried = current;
      tried.layer_max_log_alpha()[layer.path] = candidates[*next];
      choice.trials.push_back(try_options(tried));
      const auto& trial = choice.trials.back();
      if (trial.within_budget && (!step || trial.ratio > choice.trials[*step].ratio)) {
        step = choice.trials.size() - 1;
        step_layer = &layer;
        step_at = *next;
      }
    }
    if (!step) break;
    step_layer->at = step_at;
    current.layer_max_log_alpha()[step_layer->path] = candidates[step_at];
    choice.trials[*step].taken = true;
    best = *step;
  }
  choice.options = current;
  choice.accuracy = choice.trials[best].accuracy;
  choice.nll = choice.trials[best].nll;
  choice.ratio = choice.trials[best].ratio;
  return choice;
}

}  // namespace bayesnn
