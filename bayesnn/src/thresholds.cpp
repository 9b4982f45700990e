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
// How far the compressed posterior mean's validation NLL may rise above the full network's, as
// a fraction: removing units whose means still carry signal shrinks the logits, which the
// accuracy hardly sees and the predictive's calibration does (an ECE of 9 % on the article's MLP
// at an accuracy within 0.1 points, docs/results.md).
constexpr double kNllTolerance = 0.1;

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
}  // namespace

ThresholdChoice choose_thresholds(const torch::nn::Sequential& model, const at::Tensor& inputs,
                                  const at::Tensor& targets,
                                  const ThresholdSearchOptions& options) {
  TORCH_CHECK(std::isfinite(options.budget()) && options.budget() >= 0,
              "choose_thresholds: the budget must be non-negative and finite (accuracy points), "
              "got ",
              options.budget());
  TORCH_CHECK(!options.candidates().empty(), "choose_thresholds: no candidate thresholds");
  TORCH_CHECK(inputs.size(0) > 0 && inputs.size(0) == targets.size(0),
              "choose_thresholds: the validation set needs as many targets as inputs (at least "
              "one), got ",
              inputs.size(0), " inputs and ", targets.size(0), " targets");
  TORCH_CHECK(options.batch_size() > 0, "choose_thresholds: batch_size must be positive, got ",
              options.batch_size());
  auto candidates = options.candidates();
  std::sort(candidates.rbegin(), candidates.rend());
  ThresholdChoice choice;
  const auto [full_accuracy, full_nll] =
      posterior_mean_fit(model, inputs, targets, options.batch_size());
  choice.full_accuracy = full_accuracy;
  const double floor = full_accuracy - options.budget();
  const double nll_ceiling = full_nll * (1 + kNllTolerance);

  // Every layer with group scales starts at the largest candidate.
  std::vector<std::string> paths;
  std::map<std::string, GroupScales> scales_of;
  std::map<std::string, size_t> at;
  auto current = CompressOptions().min_scale(options.min_scale());
  for (const auto& item : model->named_children()) {
    const auto* bayes = dynamic_cast<const BayesModule*>(item.value().get());
    if (bayes == nullptr) continue;
    for (const auto& [name, tensor] : bayes->variational_tensors()) {
      if (name != "weight" || !tensor.group_scales()) continue;
      paths.push_back(item.key());
      scales_of.emplace(item.key(), *tensor.group_scales());
      at[item.key()] = 0;
      current.layer_max_log_alpha()[item.key()] = candidates.front();
    }
  }
  TORCH_CHECK(!paths.empty(), "choose_thresholds: the model has no layer with group scales");
  const auto try_options = [&](const CompressOptions& tried) {
    const auto compressed = compress(model, tried);
    const auto [accuracy, nll] =
        posterior_mean_fit(compressed.network, inputs, targets, options.batch_size());
    ThresholdTrial trial{tried.layer_max_log_alpha(), compressed.report.ratio(), accuracy};
    trial.within_budget = accuracy >= floor && nll <= nll_ceiling;
    return trial;
  };
  choice.trials.push_back(try_options(current));
  choice.trials.back().taken = true;  // the start, within the budget or not
  size_t best = 0;
  for (;;) {
    std::optional<size_t> step;
    std::string step_path;
    size_t step_at = 0;
    for (const auto& path : paths) {
      // The next candidate that switches another unit off (one that changes nothing is no step).
      const auto& scales = scales_of.at(path);
      const auto now = kept_units(scales, candidates[at[path]], options.min_scale());
      size_t next = at[path] + 1;
      while (next < candidates.size() &&
             kept_units(scales, candidates[next], options.min_scale()).equal(now)) {
        ++next;
      }
      // A layer left without units is no network: the search stops lowering it there.
      if (next >= candidates.size() ||
          !kept_units(scales, candidates[next], options.min_scale()).any().item<bool>()) {
        continue;
      }
      auto tried = current;
      tried.layer_max_log_alpha()[path] = candidates[next];
      choice.trials.push_back(try_options(tried));
      const auto& trial = choice.trials.back();
      if (trial.within_budget && (!step || trial.ratio > choice.trials[*step].ratio)) {
        step = choice.trials.size() - 1;
        step_path = path;
        step_at = next;
      }
    }
    if (!step) break;
    at[step_path] = step_at;
    current.layer_max_log_alpha()[step_path] = candidates[step_at];
    choice.trials[*step].taken = true;
    best = *step;
  }
  choice.options = current;
  choice.accuracy = choice.trials[best].accuracy;
  choice.ratio = choice.trials[best].ratio;
  return choice;
}

}  // namespace bayesnn
