#include "training.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <torch/torch.h>

#include "bayesnn/atomic_file.h"
#include "bayesnn/metrics.h"
#include "bayesnn/model.h"
#include "bayesnn/predictive.h"
#include "bayesnn/trainer.h"
#include "evaluation.h"
#include "interrupt.h"

namespace bayesnn::experiment {
namespace {

using json = nlohmann::json;

// Posterior samples of the predictive on --eval-every's learning curve (the final one takes
// --test-samples).
constexpr int64_t kCurveSamples = 10;

TrainerOptions trainer_options(const ExperimentOptions& options, const OutputFiles& files,
                               int64_t train_images, torch::Device device,
                               const std::optional<ProcessGroup>& group) {
  const int64_t shard = train_images / (group ? group->world_size() : 1);
  const int64_t batches_per_epoch = (shard + options.batch_size - 1) / options.batch_size;
  return TrainerOptions()
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

void print_epoch(const EpochStats& stats, int64_t epochs) {
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
  if (!file) throw WriteError("cannot append to '" + path + "': " + std::strerror(errno));
}

// The test accuracy and ECE after `epoch` of the posterior-mean network and of the predictive
// of kCurveSamples draws, printed and added to the curve.
void record_test_accuracy(const Model& model, const Dataset& test, const PredictOptions& predict,
                          const std::string& curve, int64_t epoch) {
  const auto [mean_accuracy, mean_ece] = accuracy_and_ece(model, test, 0, predict);
  const auto [accuracy, ece] = accuracy_and_ece(model, test, kCurveSamples, predict);
  const json line = {{"epoch", epoch},
                     {"accuracy_posterior_mean", mean_accuracy},
                     {"ece_posterior_mean", mean_ece},
                     {"accuracy", accuracy},
                     {"ece", ece},
                     {"samples", kCurveSamples}};
  fmt::print(
      "            test accuracy {:.4f} (posterior mean), {:.4f} (S = {}); ECE {:.4f}, {:.4f}\n",
      line["accuracy_posterior_mean"].get<double>(), line["accuracy"].get<double>(), kCurveSamples,
      line["ece_posterior_mean"].get<double>(), line["ece"].get<double>());
  append_json_line(curve, line);
}

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

}  // namespace

std::vector<json> read_json_lines(const std::string& path) {
  std::vector<json> lines;
  std::ifstream file(path);
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

TrainingSummary train(const torch::nn::Sequential& net, const Data& data, const OutputFiles& files,
                      const ExperimentOptions& options, torch::Device device,
                      const std::optional<ProcessGroup>& group) {
  const Model model = net;
  Trainer trainer(model, trainer_options(options, files, data.train.size(), device, group));
  if (files.resuming) {
    trainer.load_checkpoint(files.checkpoint);
    fmt::print("resumed from {} at epoch {}\n", files.checkpoint, trainer.epoch());
  }
  const auto predict = predict_options(options, device);
  trainer.stop_requested = [] { return interrupting_signal() != 0; };
  trainer.add_epoch_hook([&](const Trainer&, const EpochStats& stats) {
    print_epoch(stats, options.epochs);
    if (options.eval_every > 0 && stats.epoch % options.eval_every == 0 &&
        (!group || group->rank() == 0)) {
      record_test_accuracy(model, data.test, predict, files.curve, stats.epoch);
    }
    std::fflush(stdout);
  });
  trainer.fit(data.train);
  if (group && group->rank() != 0) return {};
  return summarise_log(files.log, trainer.epoch());
}

TrainingSummary fine_tune(const torch::nn::Sequential& net, const Data& data,
                          const std::string& log, const ExperimentOptions& options,
                          torch::Device device) {
  std::filesystem::remove(log);  // an earlier run's
  OutputFiles files;
  files.log = log;
  auto trainer_settings = trainer_options(options, files, data.train.size(), device, std::nullopt)
                              .epochs(options.fine_tune)
                              .kl_warmup_steps(0)
                              .max_log_sigma(options.fine_tune_max_log_sigma);
  net.ptr()->to(device);
  Trainer trainer(Model(net), trainer_settings);
  trainer.stop_requested = [] { return interrupting_signal() != 0; };
  trainer.add_epoch_hook([&](const Trainer&, const EpochStats& stats) {
    fmt::print("fine-tune ");
    print_epoch(stats, options.fine_tune);
    std::fflush(stdout);
  });
  trainer.fit(data.train);
  net.ptr()->to(torch::kCPU);
  return summarise_log(log, trainer.epoch());
}

}  // namespace bayesnn::experiment
