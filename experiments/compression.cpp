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
// held-out images within --compress-budget of the full network's accuracy (and the search's
// record); else --compress-max-log-alpha. A later round of --compress-rounds passes the first
// round's record as `full`: its budget counts from the full network's accuracy and NLL there.
std::pair<CompressOptions, json> compression_rule(const torch::nn::Sequential& net,
                                                  const Data& data,
                                                  const ExperimentOptions& options,
                                                  const json& full = nullptr) {
  auto rule = CompressOptions()
                  .max_log_alpha(options.compress_max_log_alpha)
                  .min_scale(options.compress_min_scale);
  if (data.validation.size() == 0) {
    return {rule,
            {{"max_log_alpha", options.compress_max_log_alpha},
             {"min_scale", options.compress_min_scale},
             {"chosen_on", "none: the default rule"}}};
  }
  auto search = ThresholdSearchOptions()
                    .budget(options.compress_budget)
                    .nll_tolerance(options.compress_nll_tolerance)
                    .min_scale(options.compress_min_scale);
  if (!full.is_null()) {
    search.reference_accuracy(100 * full.at("validation_accuracy_full").get<double>())
        .reference_nll(full.at("validation_nll_full").get<double>());
  }
  const auto choice =
      choose_thresholds(net, data.validation.inputs, data.validation.targets, search);
  const double full_accuracy = search.reference_accuracy().value_or(choice.full_accuracy);
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
      "network's {:.2f} % (budget {:g} points), {:.1f}x fewer weights{}\n",
      json(choice.options.layer_max_log_alpha()).dump(), data.validation.size(), choice.accuracy,
      full_accuracy, options.compress_budget, choice.ratio,
      full.is_null() ? "" : " than the round's start");
  json record = {{"thresholds", choice.options.layer_max_log_alpha()},
                 {"min_scale", options.compress_min_scale},
                 {"chosen_on", "validation"},
                 {"validation_images", data.validation.size()},
                 {"budget_points", options.compress_budget},
                 {"validation_accuracy_full", full_accuracy / 100},
                 {"validation_accuracy", choice.accuracy / 100},
                 {"nll_tolerance", options.compress_nll_tolerance},
                 {"validation_nll_full", search.reference_nll().value_or(choice.full_nll)},
                 {"validation_nll", choice.nll},
                 {"trials", trials}};
  if (!full.is_null()) {  // where this round started: the network the last round fine-tuned
    record["validation_accuracy_start"] = choice.full_accuracy / 100;
    record["validation_nll_start"] = choice.full_nll;
  }
  return {choice.options, record};
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

// --fine-tune: the compressed network trained on, in place, logging to `log` in the run's
// directory; what its posterior mean measured before and after, and what the training took.
json fine_tune_metrics(const torch::nn::Sequential& network, const Data& data,
                       const ExperimentOptions& options, const OutputFiles& files,
                       const PredictOptions& predict, const std::string& log) {
  const auto before = posterior_mean_metrics(network, data, predict);
  const auto training =
      fine_tune(network, data, files.dir + "/" + log, options, data.train.inputs.device());
  return {{"epochs", training.epochs},
          {"max_log_sigma", options.fine_tune_max_log_sigma},
          {"train_seconds", training.seconds},
          {"log", log},
          {"before", before},
          {"after", posterior_mean_metrics(network, data, predict)}};
}

json units_kept(const CompressionReport& report) {
  json units = json::array();
  for (const auto& layer : report.layers) units.push_back(layer.units_kept);
  return units;
}

// --compress-rounds: the fine-tuned network compressed again, its thresholds chosen within the
// budget of the full network's validation accuracy (the first round's `first_rule`), and
// fine-tuned again, until a round removes nothing, its fine-tuned network falls out of the
// budget (that round is dropped), or the rounds run out. `compressed` ends as the last round
// kept, its report counted against the full network. Each round's record, in order.
json further_rounds(Compressed& compressed, const json& first_rule, const Data& data,
                    const ExperimentOptions& options, const OutputFiles& files,
                    const PredictOptions& predict) {
  // In fractions, as the metrics; a hair below, so that an accuracy exactly at the floor, which
  // the search (in percent) accepts, is kept here too.
  const double floor = first_rule.at("validation_accuracy_full").get<double>() -
                       options.compress_budget / 100 - 1e-9;
  json rounds = json::array();
  for (int64_t round = 2; round <= options.compress_rounds; ++round) {
    fmt::print("compress round {}: ", round);
    std::pair<CompressOptions, json> chosen;
    try {
      chosen = compression_rule(compressed.network, data, options, first_rule);
    } catch (const c10::Error& error) {  // the fine-tuning switched a whole layer off
      fmt::print("{}\n", error.what_without_backtrace());
      rounds.push_back(
          {{"round", round}, {"kept", false}, {"stopped", error.what_without_backtrace()}});
      break;
    }
    const auto& [rule, rule_record] = chosen;
    auto next = compress(compressed.network, rule);
    json record = {{"round", round}, {"rule", rule_record}};
    if (next.report.weights_kept() == next.report.weights()) {
      record["kept"] = false;
      record["stopped"] = "the thresholds remove nothing more";
      rounds.push_back(record);
      break;
    }
    next.network->to(torch::kCPU);
    const auto log = fmt::format("fine_tune_log_round{}.jsonl", round);
    record["fine_tune"] = fine_tune_metrics(next.network, data, options, files, predict, log);
    const auto both = compressed.report.then(next.report);
    record["units_kept"] = units_kept(both);
    record["ratio"] = both.ratio();
    const double validation =
        record["fine_tune"]["after"]["validation_accuracy_posterior_mean"].get<double>();
    const bool kept = validation >= floor;
    record["kept"] = kept;
    if (!kept) record["stopped"] = "fine-tuned, its validation accuracy is out of the budget";
    rounds.push_back(record);
    if (!kept) break;  // the round is dropped
    compressed = {next.network, both};
  }
  return rounds;
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
  json fine_tuning, rounds;
  if (options.fine_tune > 0) {
    fine_tuning =
        fine_tune_metrics(compressed.network, data, options, files, predict, "fine_tune_log.jsonl");
  }
  if (options.compress_rounds > 1) {
    rounds = further_rounds(compressed, rule_record, data, options, files, predict);
  }
  const auto test = evaluate(Model(compressed.network), images, test_samples(options),
                             options.prediction == "mode", predict);
  const double accuracy = test.predicted.eq(labels).to(torch::kFloat64).mean().item<double>();
  const std::string path = files.dir + "/compressed.pt";
  export_posterior_mean(compressed.network, path, with_accuracy(metadata, accuracy));
  json layers = json::array();
  for (const auto& layer : compressed.report.layers) {
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
      {"units_kept", units_kept(compressed.report)},
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
  if (options.compress_rounds > 1) record["rounds"] = rounds;
  record["precision"] = precision_metrics(compressed, data, files, metadata, predict);
  return record;
}

void print_compression(const json& compression, const std::string& dir) {
  int64_t rounds = 1;
  for (const auto& round : compression.value("rounds", json::array())) {
    if (round.at("kept").get<bool>()) rounds = round.at("round").get<int64_t>();
  }
  fmt::print(
      "compressed{}: units kept {} per layer, {:.2f} % of the weights ({:.1f}x fewer), "
      "{} of {} multiply-adds, accuracy {:.2f} %, ECE {:.2f} %; after precision reduction "
      "{:.0f}x fewer bits, posterior-mean accuracy {:.2f} %; wrote {}/compressed.pt\n",
      rounds > 1 ? fmt::format(" in {} rounds", rounds) : "", compression.at("units_kept").dump(),
      100 * compression.at("weights_kept").get<double>(), compression.at("ratio").get<double>(),
      compression.at("multiply_adds_kept").get<int64_t>(),
      compression.at("multiply_adds").get<int64_t>(),
      100 * compression.at("accuracy").get<double>(), 100 * compression.at("ece").get<double>(),
      compression.at("precision").at("ratio").get<double>(),
      100 * compression.at("precision").at("accuracy_posterior_mean").get<double>(), dir);
}

}  // namespace bayesnn::experiment
