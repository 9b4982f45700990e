#include "bayesnn/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <torch/utils.h>

#include "bayesnn/bayes_module.h"
#include "bayesnn/fused_adam.h"
#include "bayesnn/prior.h"
#include "distributed/collectives.h"
#include "serialize/checkpoint.h"
#include "train/progress_line.h"
#include "train/step_record.h"

namespace bayesnn {
namespace {
using Clock = detail::ProgressLine::Clock;

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

void check_options(const Model& model, const TrainerOptions& options,
                   const std::shared_ptr<Likelihood>& likelihood) {
  TORCH_CHECK(model.module != nullptr && model.forward, "Trainer: the model is empty");
  TORCH_CHECK(likelihood != nullptr, "Trainer: the likelihood is empty");
  TORCH_CHECK(options.epochs() >= 0, "Trainer: epochs must be >= 0, got ", options.epochs());
  TORCH_CHECK(options.batch_size() > 0, "Trainer: batch_size must be positive, got ",
              options.batch_size());
  TORCH_CHECK(std::isfinite(options.lr()) && options.lr() > 0,
              "Trainer: lr must be positive and finite, got ", options.lr());
  TORCH_CHECK(options.lr_final_fraction() > 0 && options.lr_final_fraction() <= 1,
              "Trainer: lr_final_fraction must be in (0, 1], got ", options.lr_final_fraction());
  TORCH_CHECK(std::isfinite(options.scale_lr()) && options.scale_lr() >= 0,
              "Trainer: scale_lr must be finite and >= 0 (0: lr), got ", options.scale_lr());
  TORCH_CHECK(!std::isnan(options.max_log_sigma()),
              "Trainer: max_log_sigma must be a number (inf: no clip), got ",
              options.max_log_sigma());
  TORCH_CHECK(options.train_samples() > 0, "Trainer: train_samples must be positive, got ",
              options.train_samples());
  TORCH_CHECK(std::isfinite(options.kl_weight()) && options.kl_weight() >= 0,
              "Trainer: kl_weight must be finite and >= 0, got ", options.kl_weight());
  TORCH_CHECK(options.kl_warmup_steps() >= 0, "Trainer: kl_warmup_steps must be >= 0, got ",
              options.kl_warmup_steps());
  TORCH_CHECK(options.grad_clip_norm() >= 0, "Trainer: grad_clip_norm must be >= 0, got ",
              options.grad_clip_norm());
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

// The trainer's state and the ELBO loop; what it exchanges with other ranks is `collectives`.
struct Trainer::Impl {
  Impl(Model model_, TrainerOptions options_, std::shared_ptr<Likelihood> likelihood_)
      : model(std::move(model_)),
        options(std::move(options_)),
        likelihood(std::move(likelihood_)) {}

  std::vector<torch::Tensor> parameters() const;
  EpochStats train_epoch(const Dataset& train, const std::function<bool()>& stop_requested);
  detail::StepResult train_step(const Batch& batch, double n_train, int64_t total_steps);
  void apply_lr_schedule(int64_t total_steps);
  std::pair<torch::Tensor, torch::Tensor> sampled_nll(const Batch& batch);
  void check_finite(detail::StepRecord& record) const;
  void stop_if_requested(const std::function<bool()>& stop_requested, int64_t batches_done) const;
  EpochStats epoch_stats(const detail::StepTotals& totals, double n_train, double seconds) const;
  detail::CheckpointParts checkpoint_parts() const {
    return {*model.module, *likelihood, *optimizer};
  }

  Model model;
  TrainerOptions options;
  std::shared_ptr<Likelihood> likelihood;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<double> base_lrs;  // each parameter group's rate before the schedule
  std::unique_ptr<LrSchedule> lr_schedule;
  std::vector<EpochHook> epoch_hooks;
  int64_t epoch = 0;
  int64_t step = 0;
  std::unique_ptr<detail::Collectives> collectives;
  detail::NamedStates rank_generators;  // every rank's, as of the last epoch
};

namespace {
// Every variational tensor's log σ clipped to at most `max`.
void clip_log_sigmas(torch::nn::Module& model, double max) {
  torch::NoGradGuard no_grad;
  std::vector<std::shared_ptr<torch::nn::Module>> modules = model.modules(/*include_self=*/false);
  const auto clip = [max](torch::nn::Module& module) {
    const auto* bayes = dynamic_cast<const BayesModule*>(&module);
    if (bayes == nullptr) return;
    for (const auto& [name, tensor] : bayes->variational_tensors()) {
      if (tensor.defined()) tensor.log_sigma().clamp_max_(max);
    }
  };
  clip(model);
  for (const auto& module : modules) clip(*module);
}

// Adam over every parameter; with `scale_lr`, the group priors' scales in a group of their own.
std::unique_ptr<torch::optim::Optimizer> default_optimizer(
    const Model& model, const std::shared_ptr<Likelihood>& likelihood,
    const TrainerOptions& options) {
  std::set<const c10::TensorImpl*> scales;
  if (options.scale_lr() > 0) {
    for (const auto& module : model.module->modules()) {
      const auto* prior = dynamic_cast<const PriorModuleImpl*>(module.get());
      if (prior == nullptr || !prior->group_scales()) continue;
      for (const auto& p : prior->parameters(false)) scales.insert(p.unsafeGetTensorImpl());
    }
  }
  std::vector<torch::Tensor> rest, scale_parameters;
  for (const auto& group : {model.module->parameters(), likelihood->parameters()}) {
    for (const auto& p : group) {
      (scales.count(p.unsafeGetTensorImpl()) ? scale_parameters : rest).push_back(p);
    }
  }
  auto adam = std::make_unique<FusedAdam>(rest, torch::optim::AdamOptions(options.lr()));
  if (!scale_parameters.empty()) {
    adam->add_param_group(torch::optim::OptimizerParamGroup(
        scale_parameters, std::make_unique<torch::optim::AdamOptions>(options.scale_lr())));
  }
  return adam;
}
}  // namespace

Trainer::Trainer(Model model, TrainerOptions options, std::shared_ptr<Likelihood> likelihood)
    : impl_(std::make_unique<Impl>(std::move(model), std::move(options), std::move(likelihood))) {
  auto& impl = *impl_;
  check_options(impl.model, impl.options, impl.likelihood);
  impl.model.module->to(impl.options.device());
  impl.likelihood->to(impl.options.device());
  set_optimizer(default_optimizer(impl.model, impl.likelihood, impl.options));
  if (impl.options.lr_final_fraction() < 1) {
    impl.lr_schedule = std::make_unique<CosineLrSchedule>(impl.options.lr_final_fraction());
  } else {
    impl.lr_schedule = std::make_unique<ConstantLrSchedule>();
  }
  impl.collectives =
      detail::make_collectives(impl.options.process_group(), impl.options.device(), parameters());
  if (impl.collectives->rank() == 0) {  // under data parallelism, rank 0 writes
    if (const auto& log = impl.options.log_path(); !log.empty()) {
      add_epoch_hook(
          [log](const Trainer&, const EpochStats& stats) { append_json_line(log, stats); });
    }
    if (const auto& checkpoint = impl.options.checkpoint_path(); !checkpoint.empty()) {
      add_epoch_hook([checkpoint](const Trainer& trainer, const EpochStats&) {
        trainer.save_checkpoint(checkpoint);
      });
    }
  }
}

Trainer::~Trainer() = default;
Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;

void Trainer::set_optimizer(std::unique_ptr<torch::optim::Optimizer> optimizer) {
  TORCH_CHECK(optimizer != nullptr, "Trainer::set_optimizer: the optimizer is empty");
  impl_->optimizer = std::move(optimizer);
  impl_->base_lrs.clear();
  for (auto& group : impl_->optimizer->param_groups()) {
    impl_->base_lrs.push_back(group.options().get_lr());
  }
}

void Trainer::set_lr_schedule(std::unique_ptr<LrSchedule> schedule) {
  TORCH_CHECK(schedule != nullptr, "Trainer::set_lr_schedule: the schedule is empty");
  impl_->lr_schedule = std::move(schedule);
}

void Trainer::add_epoch_hook(EpochHook hook) {
  TORCH_CHECK(hook != nullptr, "Trainer::add_epoch_hook: the hook is empty");
  impl_->epoch_hooks.push_back(std::move(hook));
}

std::vector<torch::Tensor> Trainer::parameters() const { return impl_->parameters(); }

std::vector<torch::Tensor> Trainer::Impl::parameters() const {
  auto all = model.module->parameters();
  for (const auto& parameter : likelihood->parameters()) all.push_back(parameter);
  return all;
}

std::vector<EpochStats> Trainer::fit(const Dataset& train) {
  std::vector<EpochStats> history;
  while (impl_->epoch < impl_->options.epochs()) history.push_back(train_epoch(train));
  return history;
}

EpochStats Trainer::train_epoch(const Dataset& train) {
  const auto stats = impl_->train_epoch(train, stop_requested);
  for (const auto& hook : impl_->epoch_hooks) hook(*this, stats);
  return stats;
}

EpochStats Trainer::Impl::train_epoch(const Dataset& train,
                                      const std::function<bool()>& stop_requested) {
  collectives->start_epoch(*model.module, *likelihood);
  const BatchLoader loader(train, BatchOptions(options.batch_size())
                                      .shuffle(true)
                                      .drop_last(options.drop_last())
                                      .seed(options.seed())
                                      .device(options.device())
                                      .shard(collectives->rank())
                                      .shards(collectives->world_size()));
  const auto batches = loader.epoch(epoch);
  const double n_train = static_cast<double>(train.size());
  const int64_t total_steps = batches.size() * options.epochs();
  const auto start = Clock::now();
  const detail::CheckFinite check = [this](detail::StepRecord& record) { check_finite(record); };
  detail::StepRecord record(n_train);
  detail::ProgressLine progress(
      options.progress() && detail::ProgressLine::stderr_is_terminal() && collectives->rank() == 0,
      epoch + 1, options.epochs(), batches.size(), start);
  model.module->train();
  try {
    for (const auto& batch : batches) {
      if (stop_requested) stop_if_requested(stop_requested, record.steps_added());
      record.add(train_step(batch, n_train, total_steps));
      if (progress.due()) {
        collectives->read_during_epoch(record, check);
        progress.draw(record);
      }
    }
  } catch (...) {
    check_finite(record);  // a non-finite loss before the error is the cause to report
    throw;
  }
  collectives->read_at_epoch_end(record, check, epoch);
  progress.finish(record);
  ++epoch;
  const double seconds = seconds_since(start);
  rank_generators = collectives->rank_generators();
  return epoch_stats(collectives->sum(record.totals()), n_train, seconds);
}

detail::StepResult Trainer::Impl::train_step(const Batch& batch, double n_train,
                                             int64_t total_steps) {
  apply_lr_schedule(total_steps);
  const double kl_weight = kl_warmup_weight(options.kl_weight(), options.kl_warmup_steps(), step);
  clear_gradients(*optimizer);
  auto [nll, output] = sampled_nll(batch);
  auto kl = kl_divergence(*model.module);
  auto loss = kl_weight > 0 ? nll + (kl_weight / n_train) * kl : nll;
  loss.backward();
  collectives->average_gradients();
  if (options.grad_clip_norm() > 0) clip_gradient_norm(parameters(), options.grad_clip_norm());
  optimizer->step();
  if (options.max_log_sigma() < INFINITY) clip_log_sigmas(*model.module, options.max_log_sigma());
  ++step;
  detail::StepResult result{nll.detach(), kl.detach(), {}, 0, batch.size(), kl_weight};
  if (likelihood->is_classification()) {
    std::tie(result.correct, result.predictions) = count_correct(output, batch.targets);
  }
  return result;
}

void Trainer::Impl::apply_lr_schedule(int64_t total_steps) {
  auto& groups = optimizer->param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    // A group added to the optimizer after set_optimizer starts from its current rate.
    if (i == base_lrs.size()) base_lrs.push_back(groups[i].options().get_lr());
    groups[i].options().set_lr(lr_schedule->lr(base_lrs[i], step, total_steps));
  }
}

std::pair<torch::Tensor, torch::Tensor> Trainer::Impl::sampled_nll(const Batch& batch) {
  torch::Tensor nll, first_output;
  for (int64_t sample = 0; sample < options.train_samples(); ++sample) {
    auto output = model.forward(batch.inputs);
    auto term = likelihood->nll(output, batch.targets);
    nll = nll.defined() ? nll + term : term;
    if (sample == 0) first_output = output;
  }
  if (options.train_samples() > 1) nll = nll / static_cast<double>(options.train_samples());
  return {nll, first_output};
}

void Trainer::Impl::check_finite(detail::StepRecord& record) const {
  const auto bad = record.read();
  if (!bad) return;
  const int64_t batch = bad->index + 1;
  const int64_t bad_step = step - record.steps_added() + batch;
  const auto& checkpoint = options.checkpoint_path();
  throw NonFiniteLossError(fmt::format(
      "training stopped at step {} (epoch {}, batch {}{}): the {} is {}{}", bad_step, epoch + 1,
      batch, collectives->where(), bad->term, bad->value,
      checkpoint.empty() ? "" : fmt::format("; the last good checkpoint is {}", checkpoint)));
}

// Throws TrainingInterrupted where `stop_requested` says so (on any rank, under data
// parallelism), before the step after `batches_done` of this epoch.
void Trainer::Impl::stop_if_requested(const std::function<bool()>& stop_requested,
                                      int64_t batches_done) const {
  if (!collectives->any(stop_requested(), "the vote to stop")) return;
  const auto& checkpoint = options.checkpoint_path();
  throw TrainingInterrupted(fmt::format(
      "training interrupted before step {} (epoch {}, batch {}){}", step + 1, epoch + 1,
      batches_done + 1,
      checkpoint.empty() || epoch == 0
          ? std::string("; no checkpoint was written")
          : fmt::format("; the last checkpoint, of epoch {}, is {}", epoch, checkpoint)));
}

EpochStats Trainer::Impl::epoch_stats(const detail::StepTotals& totals, double n_train,
                                      double seconds) const {
  const auto examples = static_cast<double>(totals.examples);
  EpochStats stats;
  stats.epoch = epoch;
  stats.step = step;
  stats.seconds = seconds;
  stats.nll = totals.nll_sum / examples;
  stats.kl = totals.last_kl;
  stats.kl_weight = totals.last_kl_weight;
  stats.loss = totals.loss_sum / examples;
  stats.elbo = -(stats.nll + stats.kl / n_train);
  stats.accuracy = likelihood->is_classification()
                       ? totals.correct / static_cast<double>(totals.predictions)
                       : std::nan("");
  stats.images_per_second = examples / seconds;
  stats.lr = optimizer->param_groups().front().options().get_lr();
  stats.prior_scales = prior_scales(*model.module);
  stats.log_alpha = log_alpha_quantiles(*model.module);
  return stats;
}

void Trainer::save_checkpoint(const std::string& path) const {
  detail::write_checkpoint(path, impl_->checkpoint_parts(), {impl_->epoch, impl_->step},
                           impl_->rank_generators);
}

void Trainer::load_checkpoint(const std::string& path) {
  auto& impl = *impl_;
  const auto position =
      detail::read_checkpoint(impl.collectives->read_file(path), path, impl.checkpoint_parts(),
                              impl.collectives->rank(), impl.options.device(), "Trainer");
  impl.model.module->to(impl.options.device());
  impl.likelihood->to(impl.options.device());
  impl.epoch = position.epoch;
  impl.step = position.step;
  impl.collectives->parameters_loaded();  // rank 0's parameters are broadcast before the next step
}

int64_t Trainer::epoch() const { return impl_->epoch; }
int64_t Trainer::step() const { return impl_->step; }
const TrainerOptions& Trainer::options() const { return impl_->options; }
torch::optim::Optimizer& Trainer::optimizer() { return *impl_->optimizer; }
const LrSchedule& Trainer::lr_schedule() const { return *impl_->lr_schedule; }
const Model& Trainer::model() const { return impl_->model; }
const Likelihood& Trainer::likelihood() const { return *impl_->likelihood; }

}  // namespace bayesnn
