#include "bayesnn/variational_tensor.h"

#include <utility>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/nn/pimpl.h>

#include "bayesnn/gaussian.h"

#include "fused_gaussian.h"

namespace bayesnn {

struct VariationalTensor::State {
  // This step's fused pass: the term, its sums, and what makes them valid.
  struct Step {
    GaussianTerm kind = GaussianTerm::kDraw;
    at::Tensor term;
    at::Tensor sums;
    c10::intrusive_ptr<BackwardRan> backward_ran;
    int64_t mean_version = -1;
    int64_t log_sigma_version = -1;
  };
  at::Tensor mean;
  at::Tensor log_sigma;
  PriorModule prior{nullptr};
  at::Tensor held;
  Step step;

  // Whether this step's sums may stand for the parameters now: unchanged since, the graph not
  // yet spent, and (when gradients are wanted) attached to it.
  bool step_valid() const {
    if (!step.sums.defined() || step.backward_ran->ran) return false;
    if (step.mean_version != mean._version() || step.log_sigma_version != log_sigma._version()) {
      return false;
    }
    const bool wants_grad =
        at::GradMode::is_enabled() && (mean.requires_grad() || log_sigma.requires_grad());
    return !wants_grad || step.sums.requires_grad();
  }

  at::Tensor fused(GaussianTerm kind) {
    step = Step();  // release the last step's tensors before drawing the next
    auto fused = fused_gaussian_term(kind, mean, log_sigma);
    step = {kind,
            fused.term,
            fused.sums,
            std::move(fused.backward_ran),
            static_cast<int64_t>(mean._version()),
            static_cast<int64_t>(log_sigma._version())};
    return fused.term;
  }
};

VariationalTensor::VariationalTensor(torch::nn::Module& owner, const std::string& name,
                                     at::IntArrayRef shape, const Prior& prior)
    : state_(std::make_shared<State>()) {
  state_->mean = owner.register_parameter(name + "_mean", at::empty(shape));
  state_->log_sigma = owner.register_parameter(name + "_log_sigma", at::empty(shape));
  state_->prior = owner.register_module(name + "_prior", PriorModule(prior, shape.vec()));
}

VariationalTensor::VariationalTensor(at::Tensor mean, at::Tensor log_sigma, PriorModule prior)
    : state_(std::make_shared<State>()) {
  TORCH_CHECK(mean.defined() && log_sigma.defined() && mean.sizes() == log_sigma.sizes(),
              "VariationalTensor: mean and log_sigma must be defined and of one shape, got ",
              mean.defined() ? c10::str(mean.sizes()) : "(undefined)", " and ",
              log_sigma.defined() ? c10::str(log_sigma.sizes()) : "(undefined)");
  state_->mean = std::move(mean);
  state_->log_sigma = std::move(log_sigma);
  state_->prior = std::move(prior);
}

const at::Tensor& VariationalTensor::mean() const { return state_->mean; }

const at::Tensor& VariationalTensor::log_sigma() const { return state_->log_sigma; }

const PriorModule& VariationalTensor::prior() const { return state_->prior; }

std::optional<GroupScales> VariationalTensor::group_scales() const {
  if (state_->prior.is_empty()) return std::nullopt;
  return state_->prior->group_scales();
}

at::Tensor VariationalTensor::draw() const {
  auto draw = state_->fused(GaussianTerm::kDraw);
  const auto scales = group_scales();
  return scales ? scales->scaled(draw) : draw;
}

at::Tensor VariationalTensor::perturbation() const {
  return state_->fused(GaussianTerm::kPerturbation);
}

at::Tensor VariationalTensor::variance() const { return state_->fused(GaussianTerm::kVariance); }

at::Tensor VariationalTensor::sums() const {
  if (state_->step_valid()) {
    return at::GradMode::is_enabled() ? state_->step.sums : state_->step.sums.detach();
  }
  return gaussian_sums(state_->mean, state_->log_sigma);
}

at::Tensor VariationalTensor::current_draw() const {
  if (state_->step.kind == GaussianTerm::kDraw && state_->step_valid()) return state_->step.term;
  return sample_normal(state_->mean, state_->log_sigma);
}

at::Tensor VariationalTensor::kl() const {
  TORCH_CHECK(!state_->prior.is_empty(), "VariationalTensor::kl: this tensor has no prior");
  return state_->prior->kl(*this);
}

void VariationalTensor::set_mode(Mode mode) const {
  state_->step = State::Step();
  state_->held = at::Tensor();
  if (mode != Mode::kFrozen) return;
  at::NoGradGuard no_grad;
  state_->held = sample_normal(state_->mean, state_->log_sigma);
  if (const auto scales = group_scales()) state_->held = scales->scaled(state_->held);
}

const at::Tensor& VariationalTensor::held_draw() const { return state_->held; }

at::Tensor VariationalTensor::value(Mode mode) const {
  if (!defined()) return at::Tensor();
  if (mode == Mode::kFrozen) return state_->held;
  const auto scales = group_scales();
  return scales ? state_->mean * along_units(scales->mean(), state_->mean.dim()) : state_->mean;
}

}  // namespace bayesnn
