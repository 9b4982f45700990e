// bayesnn-experiment: one of the article's four Bayesian networks (Wiecki 2017, "Bayesian Deep
// Learning Part II"), under any of the built-in priors, or its deterministic twin, trained on
// MNIST by minibatch ADVI (plain maximum likelihood for a twin), then its posterior predictive
// measured: accuracy, calibration, the uncertainty of each prediction, and out-of-distribution
// detection.
//
//   bayesnn-experiment --model cnn --epochs 10 --out runs/cnn
//   bayesnn-experiment --model mlp --prior scale-mixture --out runs/mlp-scale-mixture
//   bayesnn-experiment --model det-mlp --out runs/det-mlp
//   bayesnn-experiment --model hier-mlp --preset article --epochs 20
//   tools/launch -n 2 -- bayesnn-experiment --model mlp --out runs/mlp-2ranks
//
// Reads top to bottom: main (the process-wide choices), then run: the data-parallel group,
// output directory, data, network, training, evaluation, report, exports.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bayesnn/atomic_file.h"
#include "bayesnn/blas_threads.h"
#include "bayesnn/compress.h"
#include "bayesnn/convert.h"
#include "bayesnn/dataset.h"
#include "bayesnn/estimator.h"
#include "bayesnn/export.h"
#include "bayesnn/memory.h"
#include "bayesnn/metrics.h"
#include "bayesnn/mnist.h"
#include "bayesnn/model.h"
#include "bayesnn/precision.h"
#include "bayesnn/predictive.h"
#include "bayesnn/prior.h"
#include "bayesnn/process_group.h"
#include "bayesnn/rendezvous.h"
#include "bayesnn/trainer.h"
#include "networks.h"
#include "options.h"
#include "priors.h"
#include "report.h"

namespace fs = std::filesystem;
namespace bnn = bayesnn;
using bayesnn::experiment::Evaluation;
using bayesnn::experiment::ExperimentOptions;
using nlohmann::json;

namespace {

// OpenBLAS threads where neither --blas-threads nor OPENBLAS_NUM_THREADS says: one under the
// LibTorch intra-op threads, since with OpenMP's default spinning both pools at 2 oversubscribe
// a two-core machine (tools/run sets passive waiting and two of each, the fastest there; see
// docs/speed.md).
constexpr int kOpenBlasThreads = 1;
// Images per forward while predicting: bounds memory, not the result.
constexpr int64_t kPredictBatchMlp = 10000;
constexpr int64_t kPredictBatchCnn = 100;
// Bins of the reliability diagram and of the ECE.
constexpr int64_t kCalibrationBins = 15;
// Posterior samples of the predictive on --eval-every's learning curve (the final one takes
// --test-samples).
constexpr int64_t kCurveSamples = 10;

// --- The process-wide choices main makes -------------------------------------------------------

// OpenBLAS's threads (blas_threads.h): `threads` of them, or with 0 what OPENBLAS_NUM_THREADS set
// when OpenBLAS loaded, else kOpenBlasThreads.
void set_blas_threads(int threads) {
  if (threads == 0 && std::getenv("OPENBLAS_NUM_THREADS") != nullptr) return;
  bnn::set_openblas_threads(threads == 0 ? kOpenBlasThreads : threads);
}

// OpenBLAS's thread count, or null where torch's BLAS is not OpenBLAS.
json blas_threads() {
  const auto threads = bnn::openblas_threads();
  return threads ? json(*threads) : json(nullptr);
}

// The first SIGINT or SIGTERM asks training to stop before its next step (the last checkpoint
// intact); the handler then steps aside, so a second one ends the program at once.
std::atomic<int> interrupting_signal{0};

extern "C" void request_stop(int signal) {
  interrupting_signal.store(signal);
  ::signal(signal, SIG_DFL);
}

// And a peer of a data-parallel job that is gone makes the collective fail with a message, not
// SIGPIPE end this process (process_group.h).
void stop_on_interrupt() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

// One line, whatever the message holds: a failure is one line on stderr.
void print_error(const std::string& message) {
  std::string line = message;
  for (auto position = line.find('\n'); position != std::string::npos;
       position = line.find('\n', position)) {
    line.replace(position, 1, "; ");
  }
  std::fprintf(stderr, "bayesnn-experiment: %s\n", line.c_str());
}

// --- The data-parallel group ------------------------------------------------------------------

// The job this process is a rank of, where the launcher's environment says WORLD_SIZE > 1 or
// --distributed asks; on CUDA, rank r trains on GPU LOCAL_RANK. Ranks other than 0 print
// nothing but their errors.
std::optional<bnn::ProcessGroup> join_group(const ExperimentOptions& options,
                                            torch::Device& device) {
  const auto rendezvous = bnn::rendezvous_from_environment();
  if (!options.distributed && rendezvous.world_size <= 1) return std::nullopt;
  if (device.is_cuda()) {
    const auto gpus = static_cast<int64_t>(torch::cuda::device_count());
    device =
        torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(rendezvous.local_rank % gpus));
  }
  const auto timeout = std::chrono::milliseconds(std::llround(options.dist_timeout * 1000));
  auto group = bnn::ProcessGroup::join(rendezvous, device, timeout);
  if (group.rank() == 0) {
    fmt::print("distributed: {} ranks ({}, {}), {} images per step ({} per rank)\n",
               group.world_size(), rendezvous.launcher, group.backend(),
               options.batch_size * group.world_size(), options.batch_size);
  } else if (std::freopen("/dev/null", "w", stdout) == nullptr) {
    throw bnn::WriteError("rank " + std::to_string(group.rank()) + ": cannot silence stdout");
  }
  return group;
}

// What metrics.json says of the job: null for one process.
json distributed_record(const std::optional<bnn::ProcessGroup>& group,
                        const ExperimentOptions& options) {
  if (!group) return nullptr;
  return {{"world_size", group->world_size()},
          {"backend", group->backend()},
          {"launcher", bnn::rendezvous_from_environment().launcher},
          {"batch_size_per_rank", options.batch_size},
          {"global_batch_size", options.batch_size * group->world_size()}};
}

// --- Output directory --------------------------------------------------------------------------

// Where a run's files go.
struct OutputFiles {
  std::string dir, log, curve, checkpoint;
  bool resuming = false;  // --resume and a checkpoint to resume from
};

// Creates --out (default runs/<model>) and checks that it takes files; a fresh run removes the
// logs of an earlier one. In a data-parallel job rank 0 alone touches the directory and decides
// whether to resume.
OutputFiles prepare_output(const ExperimentOptions& options,
                           const std::optional<bnn::ProcessGroup>& group) {
  OutputFiles files;
  files.dir = options.out.empty() ? "runs/" + options.model : options.out;
  files.log = files.dir + "/log.jsonl";
  files.curve = files.dir + "/curve.jsonl";
  files.checkpoint = files.dir + "/checkpoint.pt";
  if (group && group->rank() != 0) {
    files.resuming = group->any(false, "rank 0's decision to resume");
    return files;
  }
  std::error_code error;
  fs::create_directories(files.dir, error);
  TORCH_CHECK(!error && fs::is_directory(files.dir), "--out: cannot create the directory '",
              files.dir, "': ", error ? error.message() : "not a directory");
  files.resuming = options.resume && fs::exists(files.checkpoint);
  if (options.resume && !files.resuming) {
    fmt::print("--resume: no checkpoint at {}, starting afresh\n", files.checkpoint);
  }
  if (!files.resuming) {
    fs::remove(files.log, error);
    fs::remove(files.curve, error);
  }
  TORCH_CHECK(std::ofstream(files.dir + "/.writable").good(), "--out: the directory '", files.dir,
              "' is not writable");
  fs::remove(files.dir + "/.writable", error);
  if (group) files.resuming = group->any(files.resuming, "rank 0's decision to resume");
  return files;
}

// --- Data --------------------------------------------------------------------------------------

// The images a run trains on, tests on, and detects as out-of-distribution.
struct Data {
  bnn::Dataset train, validation, test, ood;
  std::string dir, ood_dir;
};

// MNIST's training and test splits from --data and Fashion-MNIST's test split from --ood-data,
// cut to --train-limit and --test-limit; the training images on `device`.
Data load_data(const ExperimentOptions& options, torch::Device device) {
  Data data;
  data.dir = options.data.empty() ? bnn::data_dir("mnist") : options.data;
  data.ood_dir = options.ood_data.empty() ? bnn::data_dir("fashion-mnist") : options.ood_data;
  data.train = bnn::load_mnist(data.dir, bnn::Split::kTrain);
  data.test = bnn::load_mnist(data.dir, bnn::Split::kTest);
  data.ood = bnn::load_mnist(data.ood_dir, bnn::Split::kTest);
  TORCH_CHECK(options.train_limit <= data.train.size(), "--train-limit ", options.train_limit,
              " exceeds the ", data.train.size(), " training images in ", data.dir);
  if (options.train_limit > 0) data.train = data.train.head(options.train_limit);
  TORCH_CHECK(options.validation<data.train.size(), "--validation ", options.validation,
                                 " leaves no training images: there are ", data.train.size(),
                                 " in ", data.dir, options.train_limit> 0
                  ? " (after --train-limit)"
                  : "");
  if (options.validation > 0) {
    const int64_t kept = data.train.size() - options.validation;
    data.validation = data.train.slice(kept, data.train.size());
    data.train = data.train.head(kept);
  }
  if (options.test_limit > 0) {
    data.test = data.test.head(std::min(options.test_limit, data.test.size()));
    data.ood = data.ood.head(std::min(options.test_limit, data.ood.size()));
  }
  TORCH_CHECK(options.batch_size <= data.train.size(), "--batch-size ", options.batch_size,
              " exceeds the ", data.train.size(), " training images");
  data.train = data.train.to(device);
  fmt::print(
      "data: {} training images from {} ({} held out for validation), {} test images, {} OOD "
      "images from {}\n",
      data.train.size(), data.dir, options.validation, data.test.size(), data.ood.size(),
      data.ood_dir);
  return data;
}

// --- Network -----------------------------------------------------------------------------------

// What --model and the prior options make.
bnn::experiment::NetworkSpec network_spec(const ExperimentOptions& options) {
  bnn::experiment::NetworkSpec spec;
  spec.model = options.model;
  spec.prior = options.prior;
  spec.activation = options.activation;
  spec.estimator = bnn::parse_estimator(options.estimator);
  spec.prior_sd = options.prior_sd;
  spec.tau = options.tau;
  spec.mixture_pi = options.mixture_pi;
  spec.mixture_sigma1 = options.mixture_sigma1;
  spec.mixture_sigma2 = options.mixture_sigma2;
  spec.init_log_sigma = options.init_log_sigma;
  spec.group_tau0 = options.group_tau0;
  spec.group_init_log_sd = options.group_init_log_sd;
  return spec;
}

// --from-deterministic: the trained twin of --model's architecture, read from its file, and
// converted (to_bayesian) with the options' prior (or MOPED's), estimator and initial sigmas.
torch::nn::Sequential convert_twin(const ExperimentOptions& options) {
  auto spec = network_spec(options);
  spec.model = bnn::experiment::twin_of(options.model);
  auto twin = bnn::experiment::build_network(spec);
  bnn::load_trained(options.from_deterministic, *twin);
  auto convert = bnn::ConvertOptions()
                     .estimator(spec.estimator)
                     .log_sigma_init(options.init_log_sigma)
                     .moped_prior(options.moped_prior)
                     .moped_sigma_floor(options.moped_sigma_floor);
  if (options.moped_delta > 0) convert.moped_delta(options.moped_delta);
  if (!options.moped_prior) convert.prior(bnn::experiment::prior_of(network_spec(options)));
  bnn::ConvertReport report;
  auto net = bnn::to_bayesian(twin, convert, &report);
  fmt::print("converted the trained {} of {}:\n{}", spec.model, options.from_deterministic,
             report.to_string());
  return net;
}

// The network --model names, its priors, estimator and initial values from the options (or the
// converted twin of --from-deterministic).
torch::nn::Sequential make_network(const ExperimentOptions& options) {
  auto net = options.from_deterministic.empty()
                 ? bnn::experiment::build_network(network_spec(options))
                 : convert_twin(options);
  if (options.init_mean_sd > 0) bnn::experiment::init_means_normal(net, options.init_mean_sd);
  std::cout << net << '\n';
  return net;
}

// --- Training ----------------------------------------------------------------------------------

bnn::TrainerOptions trainer_options(const ExperimentOptions& options, const OutputFiles& files,
                                    int64_t train_images, torch::Device device,
                                    const std::optional<bnn::ProcessGroup>& group) {
  const int64_t shard = train_images / (group ? group->world_size() : 1);
  const int64_t batches_per_epoch = (shard + options.batch_size - 1) / options.batch_size;
  return bnn::TrainerOptions()
      .epochs(options.epochs)
      .batch_size(options.batch_size)
      .lr(options.lr)
      .scale_lr(options.scale_lr)
      .max_log_sigma(options.max_log_sigma)
      .lr_final_fraction(options.lr_final)
      .train_samples(options.train_samples)
      .kl_weight(options.kl_weight)
      .kl_warmup_steps(static_cast<int64_t>(std::llround(options.kl_warmup * batches_per_epoch)))
      .seed(options.seed)
      .device(device)
      .log_path(files.log)
      .checkpoint_path(files.checkpoint)
      .process_group(group);
}

bnn::PredictOptions predict_options(const ExperimentOptions& options, torch::Device device) {
  const bool is_cnn = bnn::experiment::is_cnn(options.model);
  const int64_t batch = options.predict_batch > 0 ? options.predict_batch
                        : is_cnn                  ? kPredictBatchCnn
                                                  : kPredictBatchMlp;
  return bnn::PredictOptions().batch_size(batch).device(device);
}

void print_epoch(const bnn::EpochStats& stats, int64_t epochs) {
  fmt::print(
      "epoch {:>3}/{}  elbo {:9.4f}  nll {:.4f}  kl {:10.1f}  kl_weight {:.2f}  "
      "train acc {:.4f}  lr {:.2e}  {:.1f} s  {:.0f} img/s\n",
      stats.epoch, epochs, stats.elbo, stats.nll, stats.kl, stats.kl_weight, stats.accuracy,
      stats.lr, stats.seconds, stats.images_per_second);
}

// Appends one JSON line to the learning curve: appended as training goes, not rewritten.
void append_json_line(const std::string& path, const json& line) {
  std::ofstream file(path, std::ios::app);
  file << line.dump() << '\n' << std::flush;
  if (!file) throw bnn::WriteError("cannot append to '" + path + "': " + std::strerror(errno));
}

// The test accuracy and ECE after `epoch` of the posterior-mean network and of the predictive
// of kCurveSamples draws, printed and added to the curve.
void record_test_accuracy(const bnn::Model& model, const bnn::Dataset& test,
                          const bnn::PredictOptions& predict, const std::string& curve,
                          int64_t epoch) {
  namespace metrics = bnn::metrics;
  const auto mean = bnn::predict(model, test.inputs, 0, predict).probs;
  const auto sampled = bnn::predict(model, test.inputs, kCurveSamples, predict).probs;
  const json line = {
      {"epoch", epoch},
      {"accuracy_posterior_mean", metrics::accuracy(mean, test.targets)},
      {"ece_posterior_mean",
       metrics::expected_calibration_error(mean, test.targets, kCalibrationBins)},
      {"accuracy", metrics::accuracy(sampled, test.targets)},
      {"ece", metrics::expected_calibration_error(sampled, test.targets, kCalibrationBins)},
      {"samples", kCurveSamples}};
  fmt::print(
      "            test accuracy {:.4f} (posterior mean), {:.4f} (S = {}); ECE {:.4f}, {:.4f}\n",
      line["accuracy_posterior_mean"].get<double>(), line["accuracy"].get<double>(), kCurveSamples,
      line["ece_posterior_mean"].get<double>(), line["ece"].get<double>());
  append_json_line(curve, line);
}

std::vector<json> read_json_lines(const std::string& path) {
  std::vector<json> lines;
  std::ifstream file(path);
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

// What training did, over every run that led to this one's network.
struct TrainingSummary {
  int64_t epochs = 0;
  double seconds = 0;
  double images_per_second = 0;
};

// Sums the log's epochs; an epoch logged twice (its checkpoint failed, and a resumed run trained
// it again) counts once, as its last line.
TrainingSummary summarise_log(const std::string& log, int64_t epochs) {
  std::map<int64_t, json> by_epoch;
  for (auto& line : read_json_lines(log)) by_epoch[line.at("epoch").get<int64_t>()] = line;
  TrainingSummary summary;
  summary.epochs = epochs;
  double images = 0;
  for (const auto& [epoch, line] : by_epoch) {
    summary.seconds += line.at("seconds").get<double>();
    images += line.at("seconds").get<double>() * line.at("images_per_second").get<double>();
  }
  summary.images_per_second = summary.seconds > 0 ? images / summary.seconds : 0.0;
  return summary;
}

// Minibatch ADVI to --epochs, from the checkpoint with --resume; a line per epoch, and with
// --eval-every the posterior-mean test accuracy on the learning curve (rank 0's, in a group).
TrainingSummary train(const torch::nn::Sequential& net, const Data& data, const OutputFiles& files,
                      const ExperimentOptions& options, torch::Device device,
                      const std::optional<bnn::ProcessGroup>& group) {
  const bnn::Model model = net;
  bnn::Trainer trainer(model, trainer_options(options, files, data.train.size(), device, group));
  if (files.resuming) {
    trainer.load_checkpoint(files.checkpoint);
    fmt::print("resumed from {} at epoch {}\n", files.checkpoint, trainer.epoch());
  }
  const auto predict = predict_options(options, device);
  trainer.stop_requested = [] { return interrupting_signal.load() != 0; };
  trainer.on_epoch = [&](const bnn::EpochStats& stats) {
    print_epoch(stats, options.epochs);
    if (options.eval_every > 0 && stats.epoch % options.eval_every == 0 &&
        (!group || group->rank() == 0)) {
      record_test_accuracy(model, data.test, predict, files.curve, stats.epoch);
    }
    std::fflush(stdout);
  };
  trainer.fit(data.train);
  if (group && group->rank() != 0) return {};
  return summarise_log(files.log, trainer.epoch());
}

// --- Evaluation --------------------------------------------------------------------------------

// S = --test-samples for a Bayesian network; one for a deterministic twin, whose every sample is
// the same.
int64_t test_samples(const ExperimentOptions& options) {
  return bnn::experiment::is_deterministic(options.model) ? 1 : options.test_samples;
}

// The posterior predictive of S = --test-samples draws on the test and the OOD images, and the
// posterior-mean network's test probabilities.
struct Results {
  Evaluation test, ood;
  torch::Tensor mean_probs;
};

Results evaluate(const torch::nn::Sequential& net, const Data& data,
                 const ExperimentOptions& options, torch::Device device) {
  const bnn::Model model = net;
  const auto predict = predict_options(options, device);
  const bool modal = options.prediction == "mode";
  const int64_t samples = test_samples(options);
  Results results;
  results.mean_probs = bnn::predict(model, data.test.inputs, 0, predict).probs;
  results.test = bnn::experiment::evaluate(model, data.test.inputs, samples, modal, predict);
  results.ood = bnn::experiment::evaluate(model, data.ood.inputs, samples, modal, predict);
  return results;
}

// --- Report: metrics.json ----------------------------------------------------------------------

// Accuracy and calibration of the posterior predictive and of the posterior-mean network.
json accuracy_metrics(const Results& results, const torch::Tensor& labels) {
  namespace metrics = bnn::metrics;
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
      {"reliability", bnn::experiment::reliability(probs, labels, kCalibrationBins)},
  };
}

// How well each uncertainty score detects the misclassified test images and the OOD images.
json uncertainty_metrics(const Results& results, const Data& data) {
  const auto scores = bnn::experiment::uncertainty_scores(results.test);
  const auto ood_scores = bnn::experiment::uncertainty_scores(results.ood);
  std::map<std::string, torch::Tensor> joint_scores;
  for (const auto& [name, score] : scores) {
    joint_scores[name] = torch::cat({score, ood_scores.at(name)});
  }
  const auto is_ood = torch::cat({torch::zeros({data.test.size()}, torch::kBool),
                                  torch::ones({data.ood.size()}, torch::kBool)});
  const auto& labels = data.test.targets;
  return {
      {"misclassification_auroc",
       bnn::experiment::aurocs(scores, results.test.predicted.ne(labels))},
      {"ood_auroc", bnn::experiment::aurocs(joint_scores, is_ood)},
      {"uncertainty", bnn::experiment::uncertainty_summary(results.test, labels, results.ood)},
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
  const auto spec = network_spec(options);
  const auto& choice = bnn::experiment::prior_choice(family);
  return {{"family", family},
          {"name", bnn::to_string(choice.build(spec))},
          {"parameters", choice.parameters(spec)}};
}

// The learned per-unit scales E_q[s_j] of each per-unit hierarchical prior: how many units, their
// spread, and how many the prior has switched off (E_q[s_j] below 0.01).
json unit_scale_metrics(const torch::nn::Sequential& net) {
  json result = json::object();
  for (const auto& item : net->named_modules("", /*include_self=*/false)) {
    const auto* prior = dynamic_cast<const bnn::PriorModuleImpl*>(item.value().get());
    const auto* family =
        prior == nullptr
            ? nullptr
            : dynamic_cast<const bnn::UnitHierarchicalPrior*>(&prior->prior().family());
    if (family == nullptr) continue;
    const auto scales = family->unit_scales(*prior).to(torch::kCPU, torch::kFloat64);
    result[item.key()] = {{"units", scales.numel()},
                          {"min", scales.min().item<double>()},
                          {"median", scales.median().item<double>()},
                          {"max", scales.max().item<double>()},
                          {"below_0.01", scales.lt(0.01).sum().item<int64_t>()}};
  }
  return result;
}

// The learned scales of each group prior (per input unit): E_q[z_j] and log α_j, in unit order,
// what --compress decides by (tools/plot draws them sorted, group_scales.png).
json group_scale_metrics(const torch::nn::Sequential& net) {
  json result = json::object();
  for (const auto& item : net->named_modules("", /*include_self=*/false)) {
    const auto* prior = dynamic_cast<const bnn::PriorModuleImpl*>(item.value().get());
    const auto scales = prior == nullptr ? std::nullopt : prior->group_scales();
    if (!scales) continue;
    torch::NoGradGuard no_grad;
    const auto mean = scales->mean().to(torch::kCPU, torch::kFloat64).contiguous();
    const auto log_alpha = scales->log_alpha().to(torch::kCPU, torch::kFloat64).contiguous();
    result[item.key()] = {
        {"units", mean.numel()},
        {"mean",
         std::vector<double>(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel())},
        {"log_alpha", std::vector<double>(log_alpha.data_ptr<double>(),
                                          log_alpha.data_ptr<double>() + log_alpha.numel())}};
  }
  return result;
}

// The prior, the learned prior scales: their point values, q(log s) of each hierarchical one,
// and the per-unit scales' summary.
json prior_metrics(const torch::nn::Sequential& net, const ExperimentOptions& options) {
  json posteriors = json::object();
  for (const auto& [name, moments] : bnn::experiment::log_scale_posteriors(net)) {
    posteriors[name] = {{"log_scale_mean", moments.first}, {"log_scale_sd", moments.second}};
  }
  return {{"prior", prior_record(options)},
          {"prior_scales", bnn::prior_scales(*net)},
          {"prior_scale_posteriors", posteriors},
          {"unit_scales", unit_scale_metrics(net)},
          {"group_scales", group_scale_metrics(net)}};
}

// What was run, on what, how long it took: enough to reproduce and compare runs.
json run_record(const ExperimentOptions& options, const Data& data, const TrainingSummary& training,
                const Results& results, const OutputFiles& files, torch::Device device,
                const json& distributed) {
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
      {"distributed", distributed},
      {"threads", options.threads},
      {"blas_threads", blas_threads()},
      {"torch_version", TORCH_VERSION},
      {"options", options},
      {"curve", read_json_lines(files.curve)},
  };
}

// Writes metrics.json and the two per-example tables, each whole or not at all.
json write_report(const torch::nn::Sequential& net, const Data& data,
                  const TrainingSummary& training, const Results& results, const OutputFiles& files,
                  const ExperimentOptions& options, torch::Device device, const json& distributed) {
  json metrics = accuracy_metrics(results, data.test.targets);
  metrics.update(uncertainty_metrics(results, data));
  metrics.update(prior_metrics(net, options));
  metrics.update(run_record(options, data, training, results, files, device, distributed));
  bnn::write_text_atomically(files.dir + "/metrics.json", metrics.dump(2) + "\n", "the metrics");
  bnn::experiment::write_predictions_csv(files.dir + "/predictions.csv", results.test,
                                         data.test.targets);
  bnn::experiment::write_predictions_csv(files.dir + "/ood_predictions.csv", results.ood,
                                         data.ood.targets);
  return metrics;
}

// --- Exports -----------------------------------------------------------------------------------

// The metadata of the exported files.
bnn::ExportMetadata export_metadata(const json& metrics, const ExperimentOptions& options) {
  bnn::ExportMetadata metadata;
  metadata.training_command = options.command;
  metadata.extra["model"] = options.model;
  metadata.extra["data"] = metrics.at("data").get<std::string>();
  metadata.extra["accuracy"] = fmt::format("{:.4f}", metrics.at("accuracy").get<double>());
  return metadata;
}

// The posterior-mean network and the sampling predictive as TorchScript files (on the CPU).
void export_networks(torch::nn::Sequential net, const json& metrics, const OutputFiles& files,
                     const ExperimentOptions& options) {
  const auto metadata = export_metadata(metrics, options);
  net->to(torch::kCPU);
  bnn::export_posterior_mean(net, files.dir + "/posterior_mean.pt", metadata);
  bnn::export_predictive(net, files.dir + "/predictive.pt", test_samples(options), metadata);
}

// --- Compression -------------------------------------------------------------------------------

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
std::pair<bnn::CompressOptions, json> compression_rule(const torch::nn::Sequential& net,
                                                       const Data& data,
                                                       const ExperimentOptions& options) {
  auto rule = bnn::CompressOptions()
                  .max_log_alpha(options.compress_max_log_alpha)
                  .min_scale(options.compress_min_scale);
  if (data.validation.size() == 0) {
    return {rule,
            {{"max_log_alpha", options.compress_max_log_alpha},
             {"min_scale", options.compress_min_scale},
             {"chosen_on", "none: the default rule"}}};
  }
  const auto choice = bnn::choose_thresholds(net, data.validation.inputs, data.validation.targets,
                                             bnn::ThresholdSearchOptions()
                                                 .budget(options.compress_budget)
                                                 .min_scale(options.compress_min_scale));
  json trials = json::array();
  for (const auto& trial : choice.trials) {
    trials.push_back({{"thresholds", trial.thresholds},
                      {"ratio", trial.ratio},
                      {"validation_accuracy", trial.accuracy / 100},
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
           {"trials", trials}}};
}

// Precision reduction of the compressed network, in place (after its full-precision metrics):
// the bits per layer its posterior variances allow, the compression ratio after it against the
// full network's float32 weights, the rounded network's posterior-mean test accuracy, and
// compressed_reduced.pt, each layer's weight stored as int8 or float16.
json precision_metrics(const bnn::Compressed& compressed, const Data& data,
                       const OutputFiles& files, const bnn::ExportMetadata& metadata,
                       const bnn::PredictOptions& predict) {
  const auto& reduced = compressed.network;
  const auto reduction = bnn::reduce_precision(reduced, compressed.report.weights());
  const std::string path = files.dir + "/compressed_reduced.pt";
  bnn::export_posterior_mean(reduced, path, metadata, reduction.storage());
  json layers = json::array();
  for (const auto& layer : reduction.layers) {
    layers.push_back({{"layer", layer.path},
                      {"significand_bits", layer.significand_bits},
                      {"exponent_bits", layer.exponent_bits},
                      {"bits", layer.bits()},
                      {"storage", c10::toString(layer.storage.dtype)},
                      {"max_abs_weight", layer.max_abs_weight}});
  }
  const auto probs = bnn::predict(bnn::Model(reduced), data.test.inputs.cpu(), 0, predict).probs;
  return {{"ratio", reduction.ratio()},
          {"layers", layers},
          {"accuracy_posterior_mean", bnn::metrics::accuracy(probs, data.test.targets.cpu())},
          {"bytes", fs::file_size(path)}};
}

// --compress: the network without the units its group scales switch off, exported as
// compressed.pt (its posterior mean, the same input as posterior_mean.pt), and metrics.json's
// "compression": the rule, the units and weights kept, the forward multiply-adds, the compressed
// predictive's accuracy, NLL and ECE on the test set, and both exports' size and forward time.
json compression_metrics(const torch::nn::Sequential& net, const Data& data,
                         const ExperimentOptions& options, const OutputFiles& files,
                         const bnn::ExportMetadata& metadata) {
  namespace metrics = bnn::metrics;
  net.ptr()->to(torch::kCPU);
  const auto [rule, rule_record] = compression_rule(net, data, options);
  auto compressed = bnn::compress(net, rule);
  compressed.network->to(torch::kCPU);
  const std::string path = files.dir + "/compressed.pt";
  bnn::export_posterior_mean(compressed.network, path, metadata);

  const auto predict = predict_options(options, torch::kCPU);
  const auto images = data.test.inputs.cpu();
  const auto test =
      bnn::experiment::evaluate(bnn::Model(compressed.network), images, test_samples(options),
                                options.prediction == "mode", predict);
  const auto labels = data.test.targets.cpu();
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
      {"multiply_adds", bnn::multiply_adds(net, example)},
      {"multiply_adds_kept", bnn::multiply_adds(compressed.network, example)},
      {"accuracy", test.predicted.eq(labels).to(torch::kFloat64).mean().item<double>()},
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
  record["precision"] = precision_metrics(compressed, data, files, metadata, predict);
  return record;
}

void print_summary(const json& metrics, const ExperimentOptions& options, const std::string& out) {
  fmt::print(
      "{}: accuracy {:.2f} % (posterior predictive, S = {}), {:.2f} % (posterior mean), "
      "NLL {:.4f}, ECE {:.2f} %, misclassification AUROC (entropy) {}, OOD AUROC (entropy) {}; "
      "train {:.0f} s; wrote {}\n",
      options.model, 100 * metrics.at("accuracy").get<double>(), test_samples(options),
      100 * metrics.at("accuracy_posterior_mean").get<double>(), metrics.at("nll").get<double>(),
      100 * metrics.at("ece").get<double>(),
      metrics.at("misclassification_auroc").value("predictive_entropy", std::nan("")),
      metrics.at("ood_auroc").value("predictive_entropy", std::nan("")),
      metrics.at("train_seconds").get<double>(), out);
}

// --- The run, top to bottom --------------------------------------------------------------------

int run(const ExperimentOptions& options) {
  TORCH_CHECK(options.device != "cuda" || torch::cuda::is_available(),
              "--device cuda: no CUDA device is available to this LibTorch");
  torch::Device device = options.device == "cuda" ? torch::kCUDA : torch::kCPU;
  const auto group = join_group(options, device);
  const OutputFiles files = prepare_output(options, group);
  const Data data = load_data(options, device);

  torch::manual_seed(options.seed);
  auto net = make_network(options);
  // Seeded again, so that the training noise and the posterior samples do not depend on how many
  // numbers the initialisation drew (--init-mean-sd); a resumed run restores the checkpoint's.
  // Each rank of a group draws its own noise (rank 0 a single process's).
  torch::manual_seed(bnn::rank_seed(options.seed, group ? group->rank() : 0));
  const TrainingSummary training = train(net, data, files, options, device, group);
  if (group && group->rank() != 0) return 0;  // rank 0 evaluates and writes

  const Results results = evaluate(net, data, options, device);
  const json metrics = write_report(net, data, training, results, files, options, device,
                                    distributed_record(group, options));
  export_networks(net, metrics, files, options);
  print_summary(metrics, options, files.dir);
  if (options.compress) {
    json with_compression = metrics;
    const auto& compression = with_compression["compression"] =
        compression_metrics(net, data, options, files, export_metadata(metrics, options));
    bnn::write_text_atomically(files.dir + "/metrics.json", with_compression.dump(2) + "\n",
                               "the metrics");
    fmt::print(
        "compressed: units kept {} per layer, {:.2f} % of the weights ({:.1f}x fewer), "
        "{} of {} multiply-adds, accuracy {:.2f} %, ECE {:.2f} %; after precision reduction "
        "{:.0f}x fewer bits, posterior-mean accuracy {:.2f} %; wrote {}/compressed.pt\n",
        compression.at("units_kept").dump(), 100 * compression.at("weights_kept").get<double>(),
        compression.at("ratio").get<double>(), compression.at("multiply_adds_kept").get<int64_t>(),
        compression.at("multiply_adds").get<int64_t>(),
        100 * compression.at("accuracy").get<double>(), 100 * compression.at("ece").get<double>(),
        compression.at("precision").at("ratio").get<double>(),
        100 * compression.at("precision").at("accuracy_posterior_mean").get<double>(), files.dir);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  const auto options = bnn::experiment::parse_command_line(argc, argv, exit_code);
  if (!options) return exit_code;
  try {
    // The program's process-wide choices, made here and in run() (which seeds torch's generators
    // with --seed), never in the library: freed tensors' memory stays in the process for the
    // next step (memory.h), and the two thread pools are sized.
    bnn::reuse_freed_memory();
    set_blas_threads(options->blas_threads);
    torch::set_num_threads(options->threads);
    stop_on_interrupt();
    return run(*options);
  } catch (const bnn::TrainingInterrupted& stop) {
    print_error(std::string(strsignal(interrupting_signal.load())) + ": " + stop.what() +
                "; --resume continues");
    return 128 + interrupting_signal.load();
  } catch (const c10::Error& error) {
    print_error(error.what_without_backtrace());
  } catch (const std::exception& error) {  // WriteError, NonFiniteLossError, DataError, ...
    print_error(error.what());
  } catch (...) {
    print_error("stopped by an exception that is not a std::exception");
  }
  return 1;
}
