// bayesnn-experiment: one of the article's four Bayesian networks (Wiecki 2017, "Bayesian Deep
// Learning Part II"), trained on MNIST by minibatch ADVI, then its posterior predictive measured:
// accuracy, calibration, the uncertainty of each prediction, and out-of-distribution detection.
//
//   bayesnn-experiment --model cnn --epochs 10 --out runs/cnn
//   bayesnn-experiment --model hier-mlp --preset article --epochs 20
//
// Reads top to bottom: options, device, data, network, training, evaluation, files.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bayesnn/bayesnn.h"
#include "networks.h"
#include "options.h"
#include "report.h"

namespace fs = std::filesystem;
namespace bnn = bayesnn;
using bayesnn::experiment::ExperimentOptions;
using nlohmann::json;

namespace {

// One OpenBLAS thread under the LibTorch intra-op threads unless OPENBLAS_NUM_THREADS says
// otherwise: with OpenMP's default spinning, both pools at 2 oversubscribe a two-core machine
// (tools/run sets passive waiting and two of each, the fastest there; see the README's Speed).
constexpr int kOpenBlasThreads = 1;
// Images per forward while predicting: bounds memory, not the result.
constexpr int64_t kPredictBatchMlp = 10000;
constexpr int64_t kPredictBatchCnn = 100;
// Bins of the reliability diagram and of the ECE.
constexpr int64_t kCalibrationBins = 15;

void limit_openblas_threads() {
  if (std::getenv("OPENBLAS_NUM_THREADS") != nullptr) return;
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(kOpenBlasThreads);
  }
}

std::vector<json> read_json_lines(const std::string& path) {
  std::vector<json> lines;
  std::ifstream file(path);
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

void append_json_line(const std::string& path, const json& line) {
  std::ofstream file(path, std::ios::app);
  TORCH_CHECK(file.good(), "cannot append to '", path, "'");
  file << line.dump() << '\n';
}

double mean_of(const torch::Tensor& values) {
  if (values.numel() == 0) return std::nan("");
  return values.to(torch::kFloat64).mean().item<double>();
}

double median_of(const torch::Tensor& values) {
  if (values.numel() == 0) return std::nan("");
  return values.to(torch::kFloat64).median().item<double>();
}

// AUROC of every score as a detector of `positives`; empty when there is no positive or none
// negative (e.g. no misclassified example), since the AUROC is then undefined.
json aurocs(const std::map<std::string, torch::Tensor>& scores, const torch::Tensor& positives) {
  json result = json::object();
  const int64_t count = positives.sum().item<int64_t>();
  if (count == 0 || count == positives.numel()) return result;
  for (const auto& [name, score] : scores) result[name] = bnn::metrics::auroc(score, positives);
  return result;
}

int run(const ExperimentOptions& options) {
  // --- Device and threads -------------------------------------------------------------------
  limit_openblas_threads();
  torch::set_num_threads(options.threads);
  TORCH_CHECK(options.device != "cuda" || torch::cuda::is_available(),
              "--device cuda: no CUDA device is available to this LibTorch");
  const torch::Device device = options.device == "cuda" ? torch::kCUDA : torch::kCPU;
  const bool is_cnn = options.model == "cnn" || options.model == "hier-cnn";

  // --- Output directory ----------------------------------------------------------------------
  const std::string out = options.out.empty() ? "runs/" + options.model : options.out;
  std::error_code error;
  fs::create_directories(out, error);
  TORCH_CHECK(!error && fs::is_directory(out), "--out: cannot create the directory '", out,
              "': ", error ? error.message() : "not a directory");
  const std::string log_path = out + "/log.jsonl";
  const std::string curve_path = out + "/curve.jsonl";
  const std::string checkpoint_path = out + "/checkpoint.pt";
  const bool resuming = options.resume && fs::exists(checkpoint_path);
  if (options.resume && !resuming) {
    fmt::print("--resume: no checkpoint at {}, starting afresh\n", checkpoint_path);
  }
  if (!resuming) {
    fs::remove(log_path, error);
    fs::remove(curve_path, error);
  }
  {
    std::ofstream probe(out + "/.writable", std::ios::trunc);
    TORCH_CHECK(probe.good(), "--out: the directory '", out, "' is not writable");
  }
  fs::remove(out + "/.writable", error);

  // --- Data ----------------------------------------------------------------------------------
  const std::string data_dir = options.data.empty() ? bnn::data_dir("mnist") : options.data;
  const std::string ood_dir =
      options.ood_data.empty() ? bnn::data_dir("fashion-mnist") : options.ood_data;
  auto train = bnn::load_mnist(data_dir, bnn::Split::kTrain);
  auto test = bnn::load_mnist(data_dir, bnn::Split::kTest);
  auto ood = bnn::load_mnist(ood_dir, bnn::Split::kTest);
  TORCH_CHECK(options.train_limit <= train.size(), "--train-limit ", options.train_limit,
              " exceeds the ", train.size(), " training images in ", data_dir);
  if (options.train_limit > 0) train = train.head(options.train_limit);
  if (options.test_limit > 0) {
    test = test.head(std::min(options.test_limit, test.size()));
    ood = ood.head(std::min(options.test_limit, ood.size()));
  }
  TORCH_CHECK(options.batch_size <= train.size(), "--batch-size ", options.batch_size,
              " exceeds the ", train.size(), " training images");
  train = train.to(device);
  fmt::print("data: {} training images from {}, {} test images, {} OOD images from {}\n",
             train.size(), data_dir, test.size(), ood.size(), ood_dir);

  // --- Network -------------------------------------------------------------------------------
  torch::manual_seed(options.seed);
  bnn::experiment::NetworkSpec spec;
  spec.model = options.model;
  spec.activation = options.activation;
  spec.estimator = bnn::parse_estimator(options.estimator);
  spec.prior_sd = options.prior_sd;
  spec.tau = options.tau;
  spec.init_log_sigma = options.init_log_sigma;
  auto net = bnn::experiment::build_network(spec);
  if (options.init_mean_sd > 0) bnn::experiment::init_means_normal(net, options.init_mean_sd);
  bnn::Model model = net;
  std::cout << net << '\n';

  // --- Training ------------------------------------------------------------------------------
  const int64_t batches_per_epoch = (train.size() + options.batch_size - 1) / options.batch_size;
  bnn::Trainer trainer(model, bnn::TrainerOptions()
                                  .epochs(options.epochs)
                                  .batch_size(options.batch_size)
                                  .lr(options.lr)
                                  .lr_final_fraction(options.lr_final_fraction)
                                  .train_samples(options.train_samples)
                                  .kl_weight(options.kl_weight)
                                  .kl_warmup_steps(static_cast<int64_t>(
                                      std::llround(options.kl_warmup_epochs * batches_per_epoch)))
                                  .seed(options.seed)
                                  .device(device)
                                  .log_path(log_path)
                                  .checkpoint_path(checkpoint_path));
  if (resuming) {
    trainer.load_checkpoint(checkpoint_path);
    fmt::print("resumed from {} at epoch {}\n", checkpoint_path, trainer.epoch());
  }
  const bnn::PredictOptions predict_options =
      bnn::PredictOptions()
          .batch_size(options.predict_batch > 0 ? options.predict_batch
                      : is_cnn                  ? kPredictBatchCnn
                                                : kPredictBatchMlp)
          .device(device);
  trainer.on_epoch = [&](const bnn::EpochStats& stats) {
    fmt::print(
        "epoch {:>3}/{}  elbo {:9.4f}  nll {:.4f}  kl {:10.1f}  kl_weight {:.2f}  "
        "train acc {:.4f}  lr {:.2e}  {:.1f} s  {:.0f} img/s\n",
        stats.epoch, options.epochs, stats.elbo, stats.nll, stats.kl, stats.kl_weight,
        stats.accuracy, stats.lr, stats.seconds, stats.images_per_second);
    if (options.eval_every > 0 && stats.epoch % options.eval_every == 0) {
      auto probs = bnn::predict(model, test.inputs, 0, predict_options).probs;
      const double accuracy = bnn::metrics::accuracy(probs, test.targets);
      fmt::print("            posterior-mean test accuracy {:.4f}\n", accuracy);
      append_json_line(curve_path, {{"epoch", stats.epoch}, {"accuracy_posterior_mean", accuracy}});
    }
    std::fflush(stdout);
  };
  trainer.fit(train);

  double train_seconds = 0, train_images = 0;
  for (const auto& line : read_json_lines(log_path)) {
    train_seconds += line.at("seconds").get<double>();
    train_images += line.at("seconds").get<double>() * line.at("images_per_second").get<double>();
  }

  // --- Posterior predictive ------------------------------------------------------------------
  const bool modal = options.prediction == "mode";
  auto mean_probs = bnn::predict(model, test.inputs, 0, predict_options).probs;
  auto evaluation =
      bnn::experiment::evaluate(model, test.inputs, options.test_samples, modal, predict_options);
  auto ood_evaluation =
      bnn::experiment::evaluate(model, ood.inputs, options.test_samples, modal, predict_options);

  const auto wrong = evaluation.predicted.ne(test.targets);
  const auto correct = wrong.logical_not();
  // Every sampled label the same: the chi-square statistic at its maximum S (C - 1).
  const auto unanimous = evaluation.variation_ratio.eq(0);
  const auto scores = bnn::experiment::uncertainty_scores(evaluation);
  const auto ood_scores = bnn::experiment::uncertainty_scores(ood_evaluation);
  std::map<std::string, torch::Tensor> joint_scores;
  for (const auto& [name, score] : scores) {
    joint_scores[name] = torch::cat({score, ood_scores.at(name)});
  }
  const auto is_ood = torch::cat(
      {torch::zeros({test.size()}, torch::kBool), torch::ones({ood.size()}, torch::kBool)});

  // --- metrics.json --------------------------------------------------------------------------
  json reliability = json::array();
  for (const auto& bin :
       bnn::metrics::reliability_diagram(evaluation.probs, test.targets, kCalibrationBins)) {
    reliability.push_back({{"lower", bin.lower},
                           {"upper", bin.upper},
                           {"count", bin.count},
                           {"mean_confidence", bin.mean_confidence},
                           {"accuracy", bin.accuracy}});
  }
  json scale_posteriors = json::object();
  for (const auto& [name, moments] : bnn::experiment::log_scale_posteriors(net)) {
    scale_posteriors[name] = {{"log_scale_mean", moments.first}, {"log_scale_sd", moments.second}};
  }
  const double accuracy = correct.to(torch::kFloat64).mean().item<double>();
  json metrics = {
      {"model", options.model},
      {"accuracy", accuracy},
      {"accuracy_posterior_mean", bnn::metrics::accuracy(mean_probs, test.targets)},
      {"accuracy_mean_probabilities", bnn::metrics::accuracy(evaluation.probs, test.targets)},
      {"accuracy_modal",
       evaluation.modal_class.eq(test.targets).to(torch::kFloat64).mean().item<double>()},
      {"prediction", options.prediction},
      {"nll", bnn::metrics::nll(evaluation.probs, test.targets)},
      {"brier", bnn::metrics::brier(evaluation.probs, test.targets)},
      {"ece",
       bnn::metrics::expected_calibration_error(evaluation.probs, test.targets, kCalibrationBins)},
      {"nll_posterior_mean", bnn::metrics::nll(mean_probs, test.targets)},
      {"ece_posterior_mean",
       bnn::metrics::expected_calibration_error(mean_probs, test.targets, kCalibrationBins)},
      {"reliability", reliability},
      {"misclassification_auroc", aurocs(scores, wrong)},
      {"ood_auroc", aurocs(joint_scores, is_ood)},
      {"uncertainty",
       {{"wrong", wrong.sum().item<int64_t>()},
        {"median_chi_square_correct", median_of(evaluation.chi_square.index({correct}))},
        {"median_chi_square_wrong", median_of(evaluation.chi_square.index({wrong}))},
        {"mean_chi_square_correct", mean_of(evaluation.chi_square.index({correct}))},
        {"mean_chi_square_wrong", mean_of(evaluation.chi_square.index({wrong}))},
        {"unanimous_correct", mean_of(unanimous.index({correct}))},
        {"unanimous_wrong", mean_of(unanimous.index({wrong}))},
        {"median_entropy_correct", median_of(evaluation.entropy.index({correct}))},
        {"median_entropy_wrong", median_of(evaluation.entropy.index({wrong}))},
        {"median_chi_square_ood", median_of(ood_evaluation.chi_square)},
        {"median_entropy_ood", median_of(ood_evaluation.entropy)},
        {"chi_square_max", static_cast<double>(options.test_samples * 9)}}},
      {"score_orientation",
       "AUROCs score higher = more uncertain: chi_square as -X^2, max_probability as 1 - p"},
      {"prior_scales", bnn::prior_scales(*net)},
      {"prior_scale_posteriors", scale_posteriors},
      {"train_seconds", train_seconds},
      {"images_per_second", train_seconds > 0 ? train_images / train_seconds : 0.0},
      {"predict_seconds", evaluation.seconds},
      {"ood_predict_seconds", ood_evaluation.seconds},
      {"epochs", trainer.epoch()},
      {"test_samples", options.test_samples},
      {"train_images", train.size()},
      {"test_images", test.size()},
      {"ood_images", ood.size()},
      {"data", data_dir},
      {"ood_data", ood_dir},
      {"tempered", options.kl_weight != 1.0},
      {"command", options.command},
      {"seed", options.seed},
      {"device", device.str()},
      {"threads", options.threads},
      {"torch_version", TORCH_VERSION},
      {"options",
       {{"model", options.model},
        {"estimator", options.estimator},
        {"activation", options.activation},
        {"epochs", options.epochs},
        {"batch_size", options.batch_size},
        {"lr", options.lr},
        {"lr_final", options.lr_final_fraction},
        {"train_samples", options.train_samples},
        {"test_samples", options.test_samples},
        {"prior_sd", options.prior_sd},
        {"tau", options.tau},
        {"init_log_sigma", options.init_log_sigma},
        {"init_mean_sd", options.init_mean_sd},
        {"kl_weight", options.kl_weight},
        {"kl_warmup", options.kl_warmup_epochs},
        {"prediction", options.prediction},
        {"predict_batch", options.predict_batch},
        {"train_limit", options.train_limit},
        {"test_limit", options.test_limit},
        {"preset", options.preset}}},
      {"curve", read_json_lines(curve_path)},
  };
  bnn::experiment::write_text_atomically(out + "/metrics.json", metrics.dump(2) + "\n");
  bnn::experiment::write_predictions_csv(out + "/predictions.csv", evaluation, test.targets);
  bnn::experiment::write_predictions_csv(out + "/ood_predictions.csv", ood_evaluation, ood.targets);

  // --- TorchScript exports -------------------------------------------------------------------
  bnn::ExportMetadata metadata;
  metadata.training_command = options.command;
  metadata.extra["model"] = options.model;
  metadata.extra["data"] = data_dir;
  metadata.extra["accuracy"] = fmt::format("{:.4f}", accuracy);
  net->to(torch::kCPU);
  bnn::export_posterior_mean(net, out + "/posterior_mean.pt", metadata);
  bnn::export_predictive(net, out + "/predictive.pt", options.test_samples, metadata);

  fmt::print(
      "{}: accuracy {:.2f} % (posterior predictive, S = {}), {:.2f} % (posterior mean), "
      "NLL {:.4f}, ECE {:.2f} %, misclassification AUROC (entropy) {}, OOD AUROC (entropy) {}; "
      "train {:.0f} s; wrote {}\n",
      options.model, 100 * accuracy, options.test_samples,
      100 * metrics["accuracy_posterior_mean"].get<double>(), metrics["nll"].get<double>(),
      100 * metrics["ece"].get<double>(),
      metrics["misclassification_auroc"].value("predictive_entropy", std::nan("")),
      metrics["ood_auroc"].value("predictive_entropy", std::nan("")), train_seconds, out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  auto options = bayesnn::experiment::parse_command_line(argc, argv, exit_code);
  if (!options) return exit_code;
  try {
    return run(*options);
  } catch (const bnn::NonFiniteLossError& error) {
    std::fprintf(stderr, "bayesnn-experiment: %s\n", error.what());
  } catch (const c10::Error& error) {
    std::fprintf(stderr, "bayesnn-experiment: %s\n", error.what_without_backtrace());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bayesnn-experiment: %s\n", error.what());
  }
  return 1;
}
