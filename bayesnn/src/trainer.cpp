#include "bayesnn/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <tuple>
#include <utility>

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/utils.h>

#include "bayesnn/atomic_file.h"
#include "bayesnn/bayes_module.h"
#include "bayesnn/fused_adam.h"
#include "bayesnn/prior.h"
#include "checkpoint_file.h"
#include "error_text.h"
#include "step_record.h"

namespace bayesnn {
namespace {
using Clock = std::chrono::steady_clock;

// Reading the losses to redraw the progress line waits for the device; twice a second costs
// nothing measurable and still looks live.
constexpr double kProgressSeconds = 0.5;

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

// torch::nn::utils::clip_grad_norm_ without its read of the norm (a device synchronisation):
// every gradient g <- g * min(1, max_norm / (||all gradients||_2 + 1e-6)).
void clip_gradient_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> gradients, norms;
  for (const auto& parameter : parameters) {
    if (!parameter.grad().defined()) continue;
    gradients.push_back(parameter.grad());
    norms.push_back(parameter.grad().norm());
  }
  if (gradients.empty()) return;
  const auto total = norms.size() == 1 ? norms.front() : torch::stack(norms).norm();
  const auto coefficient = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  for (auto& gradient : gradients) gradient.mul_(coefficient);
}

// Correct predictions of class scores [B, C, ...] against labels [B, ...] (or one-hot or
// probability targets of the scores' shape), and how many predictions that is.
std::pair<torch::Tensor, int64_t> count_correct(const torch::Tensor& scores,
                                                const torch::Tensor& targets) {
  const auto labels = targets.sizes() == scores.sizes() ? targets.argmax(1) : targets;
  return {scores.argmax(1).eq(labels).sum(), labels.numel()};
}

bool stderr_is_terminal() { return isatty(fileno(stderr)) != 0; }

// The progress line of an epoch on a terminal. Drawing it reads the losses from the device, so
// it is redrawn at most every kProgressSeconds; a line left open by an exception is ended.
class ProgressLine {
 public:
  ProgressLine(bool enabled, int64_t epoch, int64_t epochs, int64_t batches,
               Clock::time_point start)
      : enabled_(enabled), epoch_(epoch), epochs_(epochs), batches_(batches), start_(start) {}
  ~ProgressLine() { end_line(); }

  bool due() const { return enabled_ && seconds_since(last_draw_) >= kProgressSeconds; }

  // Draws the record's numbers: the losses of the steps read so far.
  void draw(const detail::StepRecord& record) {
    const double elapsed = seconds_since(start_);
    const auto batch = record.steps_added();
    const double eta = elapsed / static_cast<double>(batch) * static_cast<double>(batches_ - batch);
    const auto& totals = record.totals();
    std::fprintf(stderr,
                 "\r\033[Kepoch %lld/%lld  batch %lld/%lld  %.0f img/s  ETA %02d:%02d  loss %.4f",
                 static_cast<long long>(epoch_), static_cast<long long>(epochs_),
                 static_cast<long long>(batch), static_cast<long long>(batches_),
                 static_cast<double>(record.examples_added()) / elapsed, static_cast<int>(eta) / 60,
                 static_cast<int>(eta) % 60,
                 totals.loss_sum / static_cast<double>(std::max<int64_t>(totals.examples, 1)));
    std::fflush(stderr);
    drawn_ = true;
    last_draw_ = Clock::now();
  }

  // Draws the epoch's final numbers and ends the line, before the epoch hooks print.
  void finish(const detail::StepRecord& record) {
    if (enabled_) draw(record);
    end_line();
  }

 private:
  void end_line() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }

  bool enabled_, drawn_ = false;
  int64_t epoch_, epochs_, batches_;
  Clock::time_point start_, last_draw_ = start_;
};

// The process-wide generators a checkpoint holds: the CPU's, and each CUDA device's where CUDA
// is available. Their states are what torch::manual_seed sets.
std::vector<c10::Device> generator_devices() {
  std::vector<c10::Device> devices{c10::Device(c10::kCPU)};
  const auto cuda_devices =
      torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
  for (int64_t i = 0; i < cuda_devices; ++i) {
    devices.emplace_back(c10::kCUDA, static_cast<c10::DeviceIndex>(i));
  }
  return devices;
}

std::string generator_key(const c10::Device& device) {
  return device.is_cpu() ? "rng_cpu" : fmt::format("rng_cuda_{}", device.index());
}

void write_generator_states(torch::serialize::OutputArchive& archive) {
  for (const auto& device : generator_devices()) {
    auto generator = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(generator.mutex());
    archive.write(generator_key(device), generator.get_state(), /*is_buffer=*/true);
  }
}

// The CPU generator's state (required) and the CUDA devices' that the archive has (checkpoints
// written without CUDA, or before CUDA states were saved, have none).
std::vector<std::pair<c10::Device, torch::Tensor>> read_generator_states(
    torch::serialize::InputArchive& archive) {
  std::vector<std::pair<c10::Device, torch::Tensor>> states;
  for (const auto& device : generator_devices()) {
    torch::Tensor state;
    if (device.is_cpu()) {
      archive.read(generator_key(device), state, /*is_buffer=*/true);
    } else if (!archive.try_read(generator_key(device), state, /*is_buffer=*/true)) {
      continue;
    }
    states.emplace_back(device, state);
  }
  return states;
}

// Under data parallelism a checkpoint also holds each rank's generators, as "<key>_rank_<r>":
// the CPU's, and the trainer's device's where that is a GPU.
std::vector<c10::Device> rank_generator_devices(const torch::Device& device) {
  std::vector<c10::Device> devices{c10::Device(c10::kCPU)};
  if (device.is_cuda()) {
    devices.emplace_back(c10::kCUDA, device.has_index() ? device.index() : c10::DeviceIndex{0});
  }
  return devices;
}

std::string rank_generator_key(const c10::Device& device, int64_t rank) {
  return fmt::format("{}_rank_{}", generator_key(device), rank);
}

void set_generator_states(const std::vector<std::pair<c10::Device, torch::Tensor>>& states) {
  for (const auto& [device, state] : states) {
    auto generator = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  }
}
}  // namespace

uint64_t rank_seed(uint64_t seed, int64_t rank) {
  if (rank == 0) return seed;
  // SplitMix64's finaliser of seed + rank * golden ratio: neighbouring ranks far apart.
  uint64_t z = seed + static_cast<uint64_t>(rank) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Trainer::Trainer(Model model, TrainerOptions options, std::shared_ptr<Likelihood> likelihood)
    : model_(std::move(model)), options_(std::move(options)), likelihood_(std::move(likelihood)) {
  check_options();
  model_.module->to(options_.device());
  likelihood_->to(options_.device());
  set_optimizer(
      std::make_unique<FusedAdam>(parameters(), torch::optim::AdamOptions(options_.lr())));
  if (options_.lr_final_fraction() < 1) {
    lr_schedule_ = std::make_unique<CosineLrSchedule>(options_.lr_final_fraction());
  } else {
    lr_schedule_ = std::make_unique<ConstantLrSchedule>();
  }
  const auto& group = options_.process_group();
  const bool writer = !group || group->rank() == 0;  // under data parallelism, rank 0 writes
  if (writer && !options_.log_path().empty()) add_epoch_hook(json_log_hook(options_.log_path()));
  if (writer && !options_.checkpoint_path().empty()) {
    add_epoch_hook(checkpoint_hook(options_.checkpoint_path()));
  }
  if (group) buckets_.emplace(parameters());
}

void Trainer::check_options() const {
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
}

void Trainer::set_optimizer(std::unique_ptr<torch::optim::Optimizer> optimizer) {
  TORCH_CHECK(optimizer != nullptr, "Trainer::set_optimizer: the optimizer is empty");
  optimizer_ = std::move(optimizer);
  base_lrs_.clear();
  for (auto& group : optimizer_->param_groups()) base_lrs_.push_back(group.options().get_lr());
}

void Trainer::set_lr_schedule(std::unique_ptr<LrSchedule> schedule) {
  TORCH_CHECK(schedule != nullptr, "Trainer::set_lr_schedule: the schedule is empty");
  lr_schedule_ = std::move(schedule);
}

void Trainer::add_epoch_hook(EpochHook hook) {
  TORCH_CHECK(hook != nullptr, "Trainer::add_epoch_hook: the hook is empty");
  epoch_hooks_.push_back(std::move(hook));
}

std::vector<torch::Tensor> Trainer::parameters() const {
  auto parameters = model_.module->parameters();
  for (const auto& parameter : likelihood_->parameters()) parameters.push_back(parameter);
  return parameters;
}

std::vector<EpochStats> Trainer::fit(const Dataset& train) {
  std::vector<EpochStats> history;
  while (epoch_ < options_.epochs()) history.push_back(train_epoch(train));
  return history;
}

EpochStats Trainer::train_epoch(const Dataset& train) {
  const auto& group = options_.process_group();
  if (group && !synchronised_) synchronise_parameters();
  const BatchLoader loader(train, BatchOptions(options_.batch_size())
                                      .shuffle(true)
                                      .drop_last(options_.drop_last())
                                      .seed(options_.seed())
                                      .device(options_.device())
                                      .shard(group ? group->rank() : 0)
                                      .shards(group ? group->world_size() : 1));
  const auto batches = loader.epoch(epoch_);
  const double n_train = static_cast<double>(train.size());
  const int64_t total_steps = batches.size() * options_.epochs();
  const auto start = Clock::now();
  detail::StepRecord record(n_train);
  ProgressLine progress(
      options_.progress() && stderr_is_terminal() && (!group || group->rank() == 0), epoch_ + 1,
      options_.epochs(), batches.size(), start);
  model_.module->train();
  try {
    for (const auto& batch : batches) {
      if (stop_requested) stop_if_requested(record.steps_added());
      record.add(train_step(batch, n_train, total_steps));
      if (progress.due()) {
        // Alone, a rank stops at once; in a group, only when all agree, at the epoch's end.
        group ? static_cast<void>(record.read()) : read_checked(record);
        progress.draw(record);
      }
    }
  } catch (...) {
    read_checked(record);  // a non-finite loss before the error is the cause to report
    throw;
  }
  group ? read_agreed(record) : read_checked(record);
  progress.finish(record);
  ++epoch_;
  const double seconds = seconds_since(start);
  if (group) gather_rank_generators();
  const auto stats =
      epoch_stats(group ? global_totals(record.totals()) : record.totals(), n_train, seconds);
  run_epoch_hooks(stats);
  return stats;
}

detail::StepResult Trainer::train_step(const Batch& batch, double n_train, int64_t total_steps) {
  apply_lr_schedule(total_steps);
  const double kl_weight =
      kl_warmup_weight(options_.kl_weight(), options_.kl_warmup_steps(), step_);
  clear_gradients(*optimizer_);
  auto [nll, output] = sampled_nll(batch);
  auto kl = kl_divergence(*model_.module);
  auto loss = kl_weight > 0 ? nll + (kl_weight / n_train) * kl : nll;
  loss.backward();
  if (buckets_) buckets_->average(*options_.process_group());
  if (options_.grad_clip_norm() > 0) clip_gradient_norm(parameters(), options_.grad_clip_norm());
  optimizer_->step();
  ++step_;
  detail::StepResult result{nll.detach(), kl.detach(), {}, 0, batch.size(), kl_weight};
  if (likelihood_->is_classification()) {
    std::tie(result.correct, result.predictions) = count_correct(output, batch.targets);
  }
  return result;
}

void Trainer::apply_lr_schedule(int64_t total_steps) {
  auto& groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    // A group added to the optimizer after set_optimizer starts from its current rate.
    if (i == base_lrs_.size()) base_lrs_.push_back(groups[i].options().get_lr());
    groups[i].options().set_lr(lr_schedule_->lr(base_lrs_[i], step_, total_steps));
  }
}

std::pair<torch::Tensor, torch::Tensor> Trainer::sampled_nll(const Batch& batch) {
  torch::Tensor nll, first_output;
  for (int64_t sample = 0; sample < options_.train_samples(); ++sample) {
    auto output = model_.forward(batch.inputs);
    auto term = likelihood_->nll(output, batch.targets);
    nll = nll.defined() ? nll + term : term;
    if (sample == 0) first_output = output;
  }
  if (options_.train_samples() > 1) nll = nll / static_cast<double>(options_.train_samples());
  return {nll, first_output};
}

void Trainer::read_checked(detail::StepRecord& record) const {
  const auto bad = record.read();
  if (!bad) return;
  const int64_t batch = bad->index + 1;
  const int64_t step = step_ - record.steps_added() + batch;
  const auto& checkpoint = options_.checkpoint_path();
  const auto& group = options_.process_group();
  throw NonFiniteLossError(fmt::format(
      "training stopped at step {} (epoch {}, batch {}{}): the {} is {}{}", step, epoch_ + 1, batch,
      group ? fmt::format(", rank {} of {}", group->rank(), group->world_size()) : "", bad->term,
      bad->value,
      checkpoint.empty() ? "" : fmt::format("; the last good checkpoint is {}", checkpoint)));
}

// Throws TrainingInterrupted where `stop_requested` says so (on any rank, under data
// parallelism), before the step after `batches_done` of this epoch.
void Trainer::stop_if_requested(int64_t batches_done) const {
  bool stop = stop_requested();
  const auto& group = options_.process_group();
  if (group) stop = group->any(stop, "the vote to stop");
  if (!stop) return;
  const auto& checkpoint = options_.checkpoint_path();
  throw TrainingInterrupted(fmt::format(
      "training interrupted before step {} (epoch {}, batch {}){}", step_ + 1, epoch_ + 1,
      batches_done + 1,
      checkpoint.empty() || epoch_ == 0
          ? std::string("; no checkpoint was written")
          : fmt::format("; the last checkpoint, of epoch {}, is {}", epoch_, checkpoint)));
}

// Every rank reads its record and votes (a collective): where any rank's loss was not finite,
// all stop together, so that none waits in a collective the others have left.
void Trainer::read_agreed(detail::StepRecord& record) const {
  const auto& group = *options_.process_group();
  const bool own = record.read().has_value();
  if (!group.any(own, "the check for a non-finite loss")) return;
  if (own) read_checked(record);  // throws, naming the step
  throw NonFiniteLossError(
      fmt::format("training stopped in epoch {} on rank {} of {}: another rank's loss was not "
                  "finite (its own message names the step)",
                  epoch_ + 1, group.rank(), group.world_size()));
}

// The epoch's sums over every rank: the global minibatches' losses and accuracy; the KL is the
// ranks' mean (each rank draws its own weights for a Monte Carlo KL).
detail::StepTotals Trainer::global_totals(const detail::StepTotals& totals) const {
  const auto& group = *options_.process_group();
  auto sums = torch::tensor({totals.nll_sum, totals.loss_sum, static_cast<double>(totals.examples),
                             totals.correct, static_cast<double>(totals.predictions),
                             totals.last_kl, static_cast<double>(totals.steps)},
                            torch::kFloat64)
                  .to(options_.device());
  group.all_reduce_sum(sums, "the epoch's statistics");
  sums = sums.cpu();
  const auto value = sums.accessor<double, 1>();
  detail::StepTotals global = totals;
  global.nll_sum = value[0];
  global.loss_sum = value[1];
  global.examples = std::llround(value[2]);
  global.correct = value[3];
  global.predictions = std::llround(value[4]);
  global.last_kl = value[5] / static_cast<double>(group.world_size());
  global.steps = std::llround(value[6]);
  return global;
}

// Rank 0's model and likelihood become every rank's.
void Trainer::synchronise_parameters() {
  const auto& group = *options_.process_group();
  broadcast_module(*model_.module, group);
  broadcast_module(*likelihood_, group);
  synchronised_ = true;
}

// Every rank's generator states, gathered on every rank (rank 0's checkpoint writes them): each
// rank fills its row of a [world size, state bytes] table, and a sum over the ranks fills all.
void Trainer::gather_rank_generators() {
  const auto& group = *options_.process_group();
  rank_generators_.clear();
  for (const auto& device : rank_generator_devices(options_.device())) {
    auto generator = at::globalContext().defaultGenerator(device);
    torch::Tensor state;
    {
      std::lock_guard<std::mutex> lock(generator.mutex());
      state = generator.get_state();
    }
    auto table = torch::zeros({group.world_size(), state.numel()}, torch::kInt64);
    table[group.rank()].copy_(state.to(torch::kInt64));
    table = table.to(options_.device());
    group.all_reduce_sum(table, "the generators' states");
    table = table.to(torch::kCPU, torch::kUInt8);
    for (int64_t rank = 0; rank < group.world_size(); ++rank) {
      rank_generators_.emplace_back(rank_generator_key(device, rank), table[rank].clone());
    }
  }
}

EpochStats Trainer::epoch_stats(const detail::StepTotals& totals, double n_train,
                                double seconds) const {
  const auto examples = static_cast<double>(totals.examples);
  EpochStats stats;
  stats.epoch = epoch_;
  stats.step = step_;
  stats.seconds = seconds;
  stats.nll = totals.nll_sum / examples;
  stats.kl = totals.last_kl;
  stats.kl_weight = totals.last_kl_weight;
  stats.loss = totals.loss_sum / examples;
  stats.elbo = -(stats.nll + stats.kl / n_train);
  stats.accuracy = likelihood_->is_classification()
                       ? totals.correct / static_cast<double>(totals.predictions)
                       : std::nan("");
  stats.images_per_second = examples / seconds;
  stats.lr = optimizer_->param_groups().front().options().get_lr();
  stats.prior_scales = prior_scales(*model_.module);
  return stats;
}

void Trainer::run_epoch_hooks(const EpochStats& stats) const {
  for (const auto& hook : epoch_hooks_) hook(*this, stats);
  if (on_epoch) on_epoch(stats);
}

void Trainer::save_checkpoint(const std::string& path) const {
  torch::serialize::OutputArchive archive;
  archive.write("bayesnn_checkpoint", torch::tensor(int64_t{1}));
  archive.write("epoch", torch::tensor(epoch_));
  archive.write("step", torch::tensor(step_));
  write_generator_states(archive);
  for (const auto& [key, state] : rank_generators_) archive.write(key, state, /*is_buffer=*/true);
  torch::serialize::OutputArchive model_archive, likelihood_archive, optimizer_archive;
  model_.module->save(model_archive);
  likelihood_->save(likelihood_archive);
  optimizer_->save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("likelihood", likelihood_archive);
  archive.write("optimizer", optimizer_archive);

  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string sealed = detail::seal_checkpoint(bytes.str());
  write_file_atomically(
      path,
      [&sealed](std::ostream& out) {
        out.write(sealed.data(), static_cast<std::streamsize>(sealed.size()));
      },
      "the checkpoint");
}

// The checkpoint file's bytes; under data parallelism rank 0 reads them and broadcasts them.
std::string Trainer::read_checkpoint_bytes(const std::string& path) const {
  const auto& group = options_.process_group();
  std::string bytes;
  bool found = false;
  if (!group || group->rank() == 0) {
    std::ifstream file(path, std::ios::binary);
    found = std::filesystem::is_regular_file(path) && file.good();
    if (found) bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  if (group) {
    auto size = torch::tensor({found ? static_cast<int64_t>(bytes.size()) : int64_t{-1}})
                    .to(options_.device());
    group->broadcast(size, 0, "the checkpoint's size");
    const int64_t count = size.item<int64_t>();
    found = count >= 0;
    if (found) {
      auto data = torch::empty({count}, torch::kUInt8);
      if (group->rank() == 0) std::memcpy(data.data_ptr<uint8_t>(), bytes.data(), bytes.size());
      data = data.to(options_.device());
      group->broadcast(data, 0, "the checkpoint");
      data = data.cpu();
      bytes.assign(reinterpret_cast<const char*>(data.data_ptr<uint8_t>()),
                   static_cast<size_t>(count));
    }
  }
  TORCH_CHECK(found, "Trainer: no checkpoint at '", path, "'",
              group ? " (on rank 0, which reads it for every rank)" : "");
  return bytes;
}

void Trainer::load_checkpoint(const std::string& path) {
  const std::string bytes = read_checkpoint_bytes(path);
  // Before LibTorch's importer sees a damaged file.
  const bool sealed = detail::check_checkpoint(bytes, path);
  const auto& group = options_.process_group();
  torch::serialize::InputArchive archive;
  torch::Tensor marker, epoch, step;
  std::vector<std::pair<c10::Device, torch::Tensor>> generator_states;
  torch::serialize::InputArchive model_archive, likelihood_archive, optimizer_archive;
  try {
    archive.load_from(bytes.data(), bytes.size(), torch::kCPU);
    archive.read("bayesnn_checkpoint", marker);
    archive.read("epoch", epoch);
    archive.read("step", step);
    generator_states = read_generator_states(archive);
    if (group && group->rank() != 0) {
      // Each rank's own generators where the file has them (rank 0's are the file's own); a
      // rank without them (a checkpoint of fewer ranks) keeps its own, as the program seeded it.
      generator_states.clear();
      for (const auto& device : rank_generator_devices(options_.device())) {
        torch::Tensor state;
        if (archive.try_read(rank_generator_key(device, group->rank()), state, true)) {
          generator_states.emplace_back(device, state);
        }
      }
    }
    archive.read("model", model_archive);
    archive.read("likelihood", likelihood_archive);
    archive.read("optimizer", optimizer_archive);
    detail::load_module(model_archive, *model_.module);  // every tensor's shape checked
    likelihood_->load(likelihood_archive);
    optimizer_->load(optimizer_archive);
  } catch (const std::exception& error) {
    // c10::Error for most damage; LibTorch's TorchScript importer throws its own
    // torch::jit::ErrorReport where the archive's code is damaged (found by fuzz/checkpoint.cpp).
    TORCH_CHECK(false, "Trainer: '", path,
                "' is not a readable bayesnn checkpoint (truncated, corrupt or from another "
                "model): ",
                detail::first_line(error));
  }
  model_.module->to(options_.device());
  likelihood_->to(options_.device());
  epoch_ = epoch.item<int64_t>();
  step_ = step.item<int64_t>();
  set_generator_states(generator_states);
  synchronised_ = false;  // rank 0's parameters are broadcast before the next step
  if (!sealed && (!group || group->rank() == 0)) {
    std::cerr << "bayesnn: '" << path
              << "' has no checksum (written by an earlier bayesnn); its records match their "
                 "CRC-32s, so it was read, and the next checkpoint written will carry one\n";
  }
}

}  // namespace bayesnn
