#include "compression.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "bayesnn/compress.h"
#include "bayesnn/metrics.h"
#include "bayesnn/model.h"
#include "bayesnn/precision.h"
#include "bayesnn/predictive.h"
#include "evaluation.h"
#include "exports.h"
#include "training.h"

namespace bayesnn::experiment {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The best of three timed forwards of a TorchScript file over `images`, in seconds.
double scripted_forward_seconds(const std::string& path, const torch::Tensor& images,
                                int64_t batch) {
  auto module = torch::jit::load(path);
  torch::NoGradGuard no_grad;
  double best = INFINITY;
  for (int repeat = 0; repeat < 3; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < images.size(0); i += batch) {
      module.forward({images.slice(0, i, std::min(i + batch, images.size(0)))});
    }
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// The rule --compress applies: with --validation, the per-layer thresholds chosen on the
// held-out images within --compress-budget (and the search's record); else
// --compress-max-log-alpha.
std::pair<CompressOptions, json> compression_rule(const torch::nn::Sequential& net,
                                                  const Data& data,
                                                  const ExperimentOptions& options) {
  auto rule = CompressOptions()
                  .max_log_alpha(options.compress_max_log_alpha)
                  .min_scale(options.compress_min_scale);
  if (data.validation.size() == 0) {
    return {rule,
            {{"max_log_alpha", options.compress_max_log_alpha},
             {"min_scale", options.compress_min_scale},
             {"chosen_on", "none: the default rule"}}};
  }
  const auto choice = choose_thresholds(net, data.validation.inputs, data.validation.targets,
                                        ThresholdSearchOptions()
                                            .budget(options.compress_budget)
                                            .nll_tolerance(options.compress_nll_tolerance)
                                            .min_scale(options.compress_min_scale));
  json trials = json::array();
  for (const auto& trial : choice.trials) {
    trials.push_back({{"thresholds", trial.thresholds},
                      {"ratio", trial.ratio},
                      {"validation_accuracy", trial.accuracy / 100},
                      {"validation_nll", trial.nll},
                      {"within_budget", trial.within_budget},
                      {"taken", trial.taken}});
  }
  fmt::print(
      "compress: thresholds {} chosen on {} validation images: {:.2f} % against the full "
      "network's {:.2f} % (budget {:g} points), {:.1f}x fewer weights\n",
      json(choice.options.layer_max_log_alpha()).dump(), data.validation.size(), choice.accuracy,
      choice.full_accuracy, options.compress_budget, choice.ratio);
  return {choice.options,
          {{"thresholds", choice.options.layer_max_log_alpha()},
           {"min_scale", options.compress_min_scale},
           {"chosen_on", "validation"},
           {"validation_images", data.validation.size()},
           {"budget_points", options.compress_budget},
           {"validation_accuracy_full", choice.full_accuracy / 100},
           {"validation_accuracy", choice.accuracy / 100},
           {"nll_tolerance", options.compress_nll_tolerance},
           {"validation_nll_full", choice.full_nll},
           {"validation_nll", choice.nll},
           {"trials", trials}}};
}

// Precision reduction of the compressed network, in place (after its full-precision metrics):
// the bits per layer its posterior variances allow, the compression ratio after it against the
// full network's float32 weights, the rounded network's posterior-mean test accuracy, and
// compressed_reduced.pt, each layer's weight stored as int8 or float16.
json precision_metrics(const Compressed& compressed, const Data& data, const OutputFiles& files,
                       const ExportMetadata& metadata, const PredictOptions& predict) {
  const auto& reduced = compressed.network;
  const auto reduction = reduce_precision(reduced, compressed.report.weights());
  const double accuracy = accuracy_and_ece(Model(reduced), data.test, 0, predict).first;
  const std::string path = files.dir + "/compressed_reduced.pt";
  export_posterior_mean(reduced, path, with_accuracy(metadata, accuracy), reduction.storage());
  json layers = json::array();
  for (const auto& layer : reduction.layers) {
    layers.push_back({{"layer", layer.path},
                      {"significand_bits", layer.significand_bits},
                      {"exponent_bits", layer.exponent_bits},
                      {"bits", layer.bits()},
                      {"storage", c10::toString(layer.storage.dtype)},
                      {"max_abs_weight", layer.max_abs_weight}});
  }
  return {{"ratio", reduction.ratio()},
          {"layers", layers},
          {"accuracy_posterior_mean", accuracy},
          {"bytes", fs::file_size(path)}};
}

// The posterior mean's test accuracy and ECE, and with --validation its validation accuracy
// (where a budget for --fine-tune can be chosen without the test set).
json posterior_mean_metrics(const torch::nn::Sequential& net, const Data& data,
                            const PredictOptions& predict) {
  const auto [accuracy, ece] = accuracy_and_ece(Model(net), data.test, 0, predict);
  json record = {{"accuracy_posterior_mean", accuracy}, {"ece_posterior_mean", ece}};
  if (data.validation.size() > 0) {
    record["validation_accuracy_posterior_mean"] =
        accuracy_and_ece(Model(net), data.validation, 0, predict).first;
  }
  return record;
}

// --fine-tune: the compressed network trained on, in place; what its posterior mean measured
// before and after, and what the training took.
json fine_tune_metrics(const torch::nn::Sequential& network, const Data& data,
                       const ExperimentOptions& options, const OutputFiles& files,
                       const PredictOptions& predict) {
  const auto before = posterior_mean_metrics(network, data, predict);
  const auto log = files.dir + "/fine_tune_log.jsonl";
  const auto training = fine_tune(network, data, log, options, data.train.inputs.device());
  return {{"epochs", training.epochs},
          {"max_log_sigma", options.fine_tune_max_log_sigma},
          {"train_seconds", training.seconds},
          {"log", "fine_tune_log.jsonl"},
          {"before", before},
          {"after", posterior_mean_metrics(network, data, predict)}};
}

}  // namespace

json compression_metrics(const torch::nn::Sequential& net, const Data& data,
                         const ExperimentOptions& options, const OutputFiles& files,
                         const ExportMetadata& metadata) {
  net.ptr()->to(torch::kCPU);
  const auto [rule, rule_record] = compression_rule(net, data, options);
  auto compressed = compress(net, rule);
  compressed.network->to(torch::kCPU);
  const auto predict = predict_options(options, torch::kCPU);
  const auto images = data.test.inputs.cpu();
  const auto labels = data.test.targets.cpu();
  json fine_tuning;
  if (options.fine_tune > 0) {
    fine_tuning = fine_tune_metrics(compressed.network, data, options, files, predict);
  }
  const auto test = evaluate(Model(compressed.network), images, test_samples(options),
                             options.prediction == "mode", predict);
  const double accuracy = test.predicted.eq(labels).to(torch::kFloat64).mean().item<double>();
  const std::string path = files.dir + "/compressed.pt";
  export_posterior_mean(compressed.network, path, with_accuracy(metadata, accuracy));
  json units = json::array(), layers = json::array();
  for (const auto& layer : compressed.report.layers) {
    units.push_back(layer.units_kept);
    layers.push_back({{"layer", layer.path},
                      {"unit_dim", layer.unit_dim},
                      {"units", layer.units},
                      {"units_kept", layer.units_kept},
                      {"weights", layer.weights},
                      {"weights_kept", layer.weights_kept},
                      {"max_log_alpha", layer.max_log_alpha}});
  }
  const auto example = images.slice(0, 0, 1);
  const auto full = files.dir + "/posterior_mean.pt";
  json record = {
      {"units_kept", units},
      {"weights_kept", compressed.report.kept_fraction()},
      {"ratio", compressed.report.ratio()},
      {"multiply_adds", multiply_adds(net, example)},
      {"multiply_adds_kept", multiply_adds(compressed.network, example)},
      {"accuracy", accuracy},
      {"nll", metrics::nll(test.probs, labels)},
      {"ece", metrics::expected_calibration_error(test.probs, labels, kCalibrationBins)},
      {"layers", layers},
      {"rule", rule_record},
      {"export",
       {{"posterior_mean_bytes", fs::file_size(full)},
        {"compressed_bytes", fs::file_size(path)},
        {"posterior_mean_forward_seconds",
         scripted_forward_seconds(full, images, predict.batch_size())},
        {"compressed_forward_seconds",
         scripted_forward_seconds(path, images, predict.batch_size())}}},
  };
  if (options.fine_tune > 0) record["fine_tune"] = fine_tuning;
  record["precision"] = precision_metrics(compressed, data, files, metadata, predict);
  return record;
}

void print_compression(const json& compression, const std::string& dir) {
  fmt::print(
      "compressed: units kept {} per layer, {:.2f} % of the weights ({:.1f}x fewer), "
      "{} of {} multiply-adds, accuracy {:.2f} %, ECE {:.2f} %; after precision reduction "
      "{:.0f}x fewer bits, posterior-mean accuracy {:.2f} %; wrote {}/compressed.pt\n",
      compression.at("units_kept").dump(), 100 * compression.at("weights_kept").get<double>(),
      compression.at("ratio").get<double>(), compression.at("multiply_adds_kept").get<int64_t>(),
      compression.at("multiply_adds").get<int64_t>(),
      100 * compression.at("accuracy").get<double>(), 100 * compression.at("ece").get<double>(),
      compression.at("precision").at("ratio").get<double>(),
      100 * compression.at("precision").at("accuracy_posterior_mean").get<double>(), dir);
}

}  // namespace bayesnn::experiment
