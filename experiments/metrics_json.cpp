#include "metrics_json.h"

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "bayesnn/atomic_file.h"
#include "bayesnn/blas_threads.h"
#include "bayesnn/metrics.h"
#include "bayesnn/prior.h"
#include "bayesnn/rendezvous.h"
#include "networks.h"
#include "priors.h"

namespace bayesnn::experiment {
namespace {

using json = nlohmann::json;

// OpenBLAS's thread count, or null where torch's BLAS is not OpenBLAS.
json blas_threads() {
  const auto threads = openblas_threads();
  return threads ? json(*threads) : json(nullptr);
}

// OMP_WAIT_POLICY as the run had it (PASSIVE unless the caller set another: main's
// bnn::wait_passively), or null.
json omp_wait_policy() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  return policy != nullptr ? json(policy) : json(nullptr);
}

// What metrics.json says of the job: null for one process.
json distributed_record(const std::optional<ProcessGroup>& group,
                        const ExperimentOptions& options) {
  if (!group) return nullptr;
  return {{"world_size", group->world_size()},
          {"backend", group->backend()},
          {"launcher", rendezvous_from_environment().launcher},
          {"batch_size_per_rank", options.batch_size},
          {"global_batch_size", options.batch_size * group->world_size()}};
}

// Accuracy and calibration of the posterior predictive and of the posterior-mean network.
json accuracy_metrics(const Results& results, const torch::Tensor& labels) {
  const auto& probs = results.test.probs;
  const auto& mean_probs = results.mean_probs;
  auto fraction = [](const torch::Tensor& hits) { return hits.to(torch::kFloat64).mean(); };
  return {
      {"accuracy", fraction(results.test.predicted.eq(labels)).item<double>()},
      {"accuracy_posterior_mean", metrics::accuracy(mean_probs, labels)},
      {"accuracy_mean_probabilities", metrics::accuracy(probs, labels)},
      {"accuracy_modal", fraction(results.test.modal_class.eq(labels)).item<double>()},
      {"nll", metrics::nll(probs, labels)},
      {"brier", metrics::brier(probs, labels)},
      {"ece", metrics::expected_calibration_error(probs, labels, kCalibrationBins)},
      {"nll_posterior_mean", metrics::nll(mean_probs, labels)},
      {"ece_posterior_mean",
       metrics::expected_calibration_error(mean_probs, labels, kCalibrationBins)},
      {"reliability", reliability(probs, labels, kCalibrationBins)},
  };
}

// How well each uncertainty score detects the misclassified test images and the OOD images.
json uncertainty_metrics(const Results& results, const Data& data) {
  const auto scores = uncertainty_scores(results.test);
  const auto ood_scores = uncertainty_scores(results.ood);
  std::map<std::string, torch::Tensor> joint_scores;
  for (const auto& [name, score] : scores) {
    joint_scores[name] = torch::cat({score, ood_scores.at(name)});
  }
  const auto is_ood = torch::cat({torch::zeros({data.test.size()}, torch::kBool),
                                  torch::ones({data.ood.size()}, torch::kBool)});
  const auto& labels = data.test.targets;
  return {
      {"misclassification_auroc", aurocs(scores, results.test.predicted.ne(labels))},
      {"ood_auroc", aurocs(joint_scores, is_ood)},
      {"uncertainty", uncertainty_summary(results.test, labels, results.ood)},
      {"score_orientation",
       "AUROCs score higher = more uncertain: chi_square as -X^2, max_probability as 1 - p"},
  };
}

// The prior of every weight and bias: its family, its name with its settings, and its
// parameters ("none" for a deterministic twin; MOPED's is centred on the trained weights).
json prior_record(const ExperimentOptions& options) {
  if (options.moped_prior) {
    return {{"family", "moped"},
            {"name", fmt::format("moped(delta={:g})", options.moped_delta)},
            {"parameters",
             {{"delta", options.moped_delta}, {"sigma_floor", options.moped_sigma_floor}}}};
  }
  const auto& family = options.prior;
  if (family == "none") {
    return {{"family", family}, {"name", family}, {"parameters", json::object()}};
  }
  const auto& choice = prior_choice(family);
  json parameters = json::object();
  for (const auto& [key, name] : choice.parameters) {
    parameters[key] = setting(options.prior_settings, name);
  }
  return {{"family", family},
          {"name", to_string(choice.build(options.prior_settings))},
          {"parameters", parameters}};
}

// A report tensor (`PriorFamily::report`: CPU, double) as a list.
std::vector<double> values(const at::Tensor& tensor) {
  const auto flat = tensor.contiguous();
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

// The prior, the learned prior scales, and each prior family's report: q(log s) of each
// hierarchical prior; the per-unit scales' summary (how many units, their spread, how many the
// prior has switched off: E_q[s_j] below 0.01); each group prior's E_q[z_j] and log α_j in unit
// order, what --compress decides by (tools/plot draws them sorted, group_scales.png).
json prior_metrics(const torch::nn::Sequential& net, const ExperimentOptions& options) {
  json posteriors = json::object();
  json unit_scales = json::object();
  json group_scales = json::object();
  for (const auto& item : named_priors(*net)) {
    const auto report = item.value()->report();
    const auto has = [&](const char* key) { return report.count(key) != 0; };
    if (has("log_scale_mean")) {
      posteriors[item.key()] = {{"log_scale_mean", report.at("log_scale_mean").item<double>()},
                                {"log_scale_sd", report.at("log_scale_sd").item<double>()}};
    }
    if (has("unit_scales")) {
      const auto& scales = report.at("unit_scales");
      unit_scales[item.key()] = {{"units", scales.numel()},
                                 {"min", scales.min().item<double>()},
                                 {"median", scales.median().item<double>()},
                                 {"max", scales.max().item<double>()},
                                 {"below_0.01", scales.lt(0.01).sum().item<int64_t>()}};
    }
    if (has("log_alpha")) {
      group_scales[item.key()] = {{"units", report.at("mean").numel()},
                                  {"mean", values(report.at("mean"))},
                                  {"log_alpha", values(report.at("log_alpha"))}};
    }
  }
  return {{"prior", prior_record(options)},
          {"prior_scales", prior_scales(*net)},
          {"prior_scale_posteriors", posteriors},
          {"unit_scales", unit_scales},
          {"group_scales", group_scales}};
}

// What was run, on what, how long it took: enough to reproduce and compare runs.
json run_record(const ExperimentOptions& options, const Data& data, const TrainingSummary& training,
                const Results& results, const OutputFiles& files, torch::Device device,
                const std::optional<ProcessGroup>& group) {
  return {
      {"model", options.model},
      {"prediction", options.prediction},
      {"train_seconds", training.seconds},
      {"images_per_second", training.images_per_second},
      {"predict_seconds", results.test.seconds},
      {"ood_predict_seconds", results.ood.seconds},
      {"epochs", training.epochs},
      {"test_samples", test_samples(options)},
      {"train_images", data.train.size()},
      {"test_images", data.test.size()},
      {"ood_images", data.ood.size()},
      {"data", data.dir},
      {"ood_data", data.ood_dir},
      {"tempered", options.kl_weight != 1.0},
      {"command", options.command},
      {"seed", options.seed},
      {"device", device.str()},
      {"distributed", distributed_record(group, options)},
      {"threads", options.threads},
      {"blas_threads", blas_threads()},
      {"omp_wait_policy", omp_wait_policy()},
      {"torch_version", TORCH_VERSION},
      {"options", options_json(options)},
      {"curve", read_json_lines(files.curve)},
  };
}

}  // namespace

json run_metrics(const torch::nn::Sequential& net, const Data& data,
                 const TrainingSummary& training, const Results& results, const OutputFiles& files,
                 const ExperimentOptions& options, torch::Device device,
                 const std::optional<ProcessGroup>& group) {
  json record = accuracy_metrics(results, data.test.targets);
  record.update(uncertainty_metrics(results, data));
  record.update(prior_metrics(net, options));
  record.update(run_record(options, data, training, results, files, device, group));
  return record;
}

void write_metrics(const std::string& dir, const json& record) {
  write_text_atomically(dir + "/metrics.json", record.dump(2) + "\n", "the metrics");
}

}  // namespace bayesnn::experiment
