#include "bayesnn/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "bayesnn/atomic_file.h"
#include "bayesnn/bayes_module.h"
#include "bayesnn/fused_adam.h"
#include "bayesnn/memory.h"
#include "bayesnn/prior.h"

namespace bayesnn {
namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Gradients are set to none rather than zeroed (LibTorch 2.x's default): the backward then
// writes each gradient instead of adding it to a zeroed buffer, a pass over every parameter
// less. Adam skips a parameter that got no gradient, as it does in LibTorch 2.x.
void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& parameter : group.params()) parameter.mutable_grad() = torch::Tensor();
  }
}

bool stderr_is_terminal() { return isatty(fileno(stderr)) != 0; }

void print_progress(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double rate,
                    double eta, double loss) {
  std::fprintf(stderr,
               "\r\033[Kepoch %lld/%lld  batch %lld/%lld  %.0f img/s  ETA %02d:%02d  loss %.4f",
               static_cast<long long>(epoch), static_cast<long long>(epochs),
               static_cast<long long>(batch), static_cast<long long>(batches), rate,
               static_cast<int>(eta) / 60, static_cast<int>(eta) % 60, loss);
  std::fflush(stderr);
}
}  // namespace

std::string to_json_line(const EpochStats& stats) {
  nlohmann::json line = {{"epoch", stats.epoch},     {"step", stats.step},
                         {"elbo", stats.elbo},       {"nll", stats.nll},
                         {"kl", stats.kl},           {"kl_weight", stats.kl_weight},
                         {"loss", stats.loss},       {"accuracy", stats.accuracy},
                         {"seconds", stats.seconds}, {"images_per_second", stats.images_per_second},
                         {"lr", stats.lr},           {"prior_scales", stats.prior_scales}};
  return line.dump();
}

Trainer::Trainer(Model model, TrainerOptions options, std::shared_ptr<Likelihood> likelihood)
    : model_(std::move(model)), options_(std::move(options)), likelihood_(std::move(likelihood)) {
  TORCH_CHECK(model_.module != nullptr && model_.forward, "Trainer: the model is empty");
  TORCH_CHECK(likelihood_ != nullptr, "Trainer: the likelihood is empty");
  TORCH_CHECK(options_.epochs() >= 0, "Trainer: epochs must be >= 0, got ", options_.epochs());
  TORCH_CHECK(options_.batch_size() > 0, "Trainer: batch_size must be positive, got ",
              options_.batch_size());
  TORCH_CHECK(std::isfinite(options_.lr()) && options_.lr() > 0,
              "Trainer: lr must be positive and finite, got ", options_.lr());
  TORCH_CHECK(options_.lr_final_fraction() > 0 && options_.lr_final_fraction() <= 1,
              "Trainer: lr_final_fraction must be in (0, 1], got ", options_.lr_final_fraction());
  TORCH_CHECK(options_.train_samples() > 0, "Trainer: train_samples must be positive, got ",
              options_.train_samples());
  TORCH_CHECK(std::isfinite(options_.kl_weight()) && options_.kl_weight() >= 0,
              "Trainer: kl_weight must be finite and >= 0, got ", options_.kl_weight());
  TORCH_CHECK(options_.kl_warmup_steps() >= 0, "Trainer: kl_warmup_steps must be >= 0, got ",
              options_.kl_warmup_steps());
  TORCH_CHECK(options_.grad_clip_norm() >= 0, "Trainer: grad_clip_norm must be >= 0, got ",
              options_.grad_clip_norm());
  if (options_.reuse_freed_memory()) reuse_freed_memory();
  torch::manual_seed(options_.seed());
  model_.module->to(options_.device());
  likelihood_->to(options_.device());
  optimizer_ = std::make_unique<FusedAdam>(parameters(), torch::optim::AdamOptions(options_.lr()));
}

void Trainer::set_optimizer(std::unique_ptr<torch::optim::Optimizer> optimizer) {
  TORCH_CHECK(optimizer != nullptr, "Trainer::set_optimizer: the optimizer is empty");
  optimizer_ = std::move(optimizer);
}

std::vector<torch::Tensor> Trainer::parameters() const {
  auto parameters = model_.module->parameters();
  for (const auto& parameter : likelihood_->parameters()) parameters.push_back(parameter);
  return parameters;
}

double Trainer::current_kl_weight() const {
  if (options_.kl_warmup_steps() == 0) return options_.kl_weight();
  const double ramp =
      std::min(1.0, static_cast<double>(step_) / static_cast<double>(options_.kl_warmup_steps()));
  return options_.kl_weight() * ramp;
}

double Trainer::current_lr(int64_t total_steps) const {
  const double progress =
      total_steps > 0 ? std::min(1.0, static_cast<double>(step_) / total_steps) : 0.0;
  const double floor = options_.lr_final_fraction();
  return options_.lr() * (floor + (1 - floor) * 0.5 * (1 + std::cos(M_PI * progress)));
}

std::vector<EpochStats> Trainer::fit(const Dataset& train) {
  std::vector<EpochStats> history;
  while (epoch_ < options_.epochs()) history.push_back(train_epoch(train));
  return history;
}

EpochStats Trainer::train_epoch(const Dataset& train) {
  BatchLoader loader(train, BatchOptions(options_.batch_size())
                                .shuffle(true)
                                .drop_last(options_.drop_last())
                                .seed(options_.seed())
                                .device(options_.device()));
  const int64_t batches = loader.batches_per_epoch();
  const int64_t total_steps = batches * options_.epochs();
  const double n_train = static_cast<double>(train.size());
  const bool show_progress = options_.progress() && stderr_is_terminal();
  const bool schedule_lr = options_.lr_final_fraction() < 1.0;
  model_.module->train();

  const auto start = Clock::now();
  double nll_sum = 0, loss_sum = 0, kl_value = 0, kl_weight = current_kl_weight();
  int64_t seen = 0, correct = 0, batch_index = 0;
  for (const auto& batch : loader.epoch(epoch_)) {
    if (schedule_lr) {
      for (auto& group : optimizer_->param_groups())
        group.options().set_lr(current_lr(total_steps));
    }
    kl_weight = current_kl_weight();
    clear_gradients(*optimizer_);
    torch::Tensor nll;
    torch::Tensor first_output;
    for (int64_t sample = 0; sample < options_.train_samples(); ++sample) {
      auto output = model_.forward(batch.inputs);
      auto term = likelihood_->nll(output, batch.targets);
      nll = nll.defined() ? nll + term : term;
      if (sample == 0) first_output = output;
    }
    if (options_.train_samples() > 1) nll = nll / static_cast<double>(options_.train_samples());
    auto kl = kl_divergence(*model_.module);
    const double nll_now = nll.item<double>();
    kl_value = kl.item<double>();
    if (!std::isfinite(nll_now) || !std::isfinite(kl_value)) {
      if (show_progress) std::fputc('\n', stderr);
      throw NonFiniteLossError(fmt::format(
          "training stopped at step {} (epoch {}, batch {}): the {} is {}{}", step_ + 1, epoch_ + 1,
          batch_index + 1, std::isfinite(nll_now) ? "KL" : "NLL",
          std::isfinite(nll_now) ? kl_value : nll_now,
          options_.checkpoint_path().empty()
              ? ""
              : fmt::format("; the last good checkpoint is {}", options_.checkpoint_path())));
    }
    auto loss = kl_weight > 0 ? nll + (kl_weight / n_train) * kl : nll;
    loss.backward();
    if (options_.grad_clip_norm() > 0) {
      torch::nn::utils::clip_grad_norm_(parameters(), options_.grad_clip_norm());
    }
    optimizer_->step();
    ++step_;
    ++batch_index;

    const int64_t size = batch.size();
    seen += size;
    nll_sum += nll_now * static_cast<double>(size);
    loss_sum += (nll_now + kl_weight * kl_value / n_train) * static_cast<double>(size);
    if (likelihood_->is_classification()) {
      correct += first_output.argmax(1).eq(batch.targets).sum().item<int64_t>();
    }
    if (show_progress) {
      const double elapsed = seconds_since(start);
      const double rate = static_cast<double>(seen) / elapsed;
      print_progress(epoch_ + 1, options_.epochs(), batch_index, batches, rate,
                     elapsed / batch_index * static_cast<double>(batches - batch_index),
                     loss_sum / static_cast<double>(seen));
    }
  }
  if (show_progress) std::fputc('\n', stderr);
  ++epoch_;

  EpochStats stats;
  stats.epoch = epoch_;
  stats.step = step_;
  stats.seconds = seconds_since(start);
  stats.nll = nll_sum / static_cast<double>(seen);
  stats.kl = kl_value;
  stats.kl_weight = kl_weight;
  stats.loss = loss_sum / static_cast<double>(seen);
  stats.elbo = -(stats.nll + kl_value / n_train);
  stats.accuracy = likelihood_->is_classification()
                       ? static_cast<double>(correct) / static_cast<double>(seen)
                       : std::nan("");
  stats.images_per_second = static_cast<double>(seen) / stats.seconds;
  stats.lr = optimizer_->param_groups().front().options().get_lr();
  stats.prior_scales = prior_scales(*model_.module);

  if (!options_.log_path().empty()) {
    std::ofstream log(options_.log_path(), std::ios::app);
    TORCH_CHECK(log.good(), "Trainer: cannot open the log file '", options_.log_path(),
                "' for appending");
    log << to_json_line(stats) << '\n';
  }
  if (!options_.checkpoint_path().empty()) save_checkpoint(options_.checkpoint_path());
  if (on_epoch) on_epoch(stats);
  return stats;
}

void Trainer::save_checkpoint(const std::string& path) const {
  torch::serialize::OutputArchive archive;
  archive.write("bayesnn_checkpoint", torch::tensor(int64_t{1}));
  archive.write("epoch", torch::tensor(epoch_));
  archive.write("step", torch::tensor(step_));
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    archive.write("rng_cpu", generator.get_state(), /*is_buffer=*/true);
  }
  torch::serialize::OutputArchive model_archive, likelihood_archive, optimizer_archive;
  model_.module->save(model_archive);
  likelihood_->save(likelihood_archive);
  optimizer_->save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("likelihood", likelihood_archive);
  archive.write("optimizer", optimizer_archive);

  write_file_atomically(
      path, [&archive](std::ostream& out) { archive.save_to(out); }, "the checkpoint");
}

void Trainer::load_checkpoint(const std::string& path) {
  TORCH_CHECK(std::filesystem::exists(path), "Trainer: no checkpoint at '", path, "'");
  torch::serialize::InputArchive archive;
  torch::Tensor marker, epoch, step, rng;
  torch::serialize::InputArchive model_archive, likelihood_archive, optimizer_archive;
  try {
    archive.load_from(path, torch::kCPU);
    archive.read("bayesnn_checkpoint", marker);
    archive.read("epoch", epoch);
    archive.read("step", step);
    archive.read("rng_cpu", rng, /*is_buffer=*/true);
    archive.read("model", model_archive);
    archive.read("likelihood", likelihood_archive);
    archive.read("optimizer", optimizer_archive);
    model_.module->load(model_archive);
    likelihood_->load(likelihood_archive);
    optimizer_->load(optimizer_archive);
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, "Trainer: '", path,
                "' is not a readable bayesnn checkpoint (truncated, corrupt or from another "
                "model): ",
                error.what_without_backtrace());
  }
  model_.module->to(options_.device());
  likelihood_->to(options_.device());
  epoch_ = epoch.item<int64_t>();
  step_ = step.item<int64_t>();
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(rng);
}

}  // namespace bayesnn
