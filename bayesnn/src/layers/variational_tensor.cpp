#include "bayesnn/variational_tensor.h"

#include <utility>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/nn/pimpl.h>

#include "bayesnn/gaussian.h"

#include "kernels/fused_gaussian.h"

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
  std::shared_ptr<State> scales_owner;  // the weight whose output scales a bias shares
  at::Tensor held;
  at::Tensor held_scales;
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
                                     at::IntArrayRef shape, const Prior& prior, int64_t unit_dim)
    : state_(std::make_shared<State>()) {
  state_->mean = owner.register_parameter(name + "_mean", at::empty(shape));
  state_->log_sigma = owner.register_parameter(name + "_log_sigma", at::empty(shape));
  state_->prior = owner.register_module(name + "_prior", PriorModule(prior, shape.vec(), unit_dim));
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

const PriorModule& VariationalTensor::scales_prior() const {
  return state_->scales_owner ? state_->scales_owner->prior : state_->prior;
}

std::optional<GroupScales> VariationalTensor::group_scales() const {
  const auto& prior = scales_prior();
  if (prior.is_empty()) return std::nullopt;
  return prior->group_scales();
}

void VariationalTensor::share_scales(const VariationalTensor& weight) {
  const auto scales = weight.group_scales();
  TORCH_CHECK(scales && scales->dim == 0 && state_->mean.dim() == 1 &&
                  state_->mean.size(0) == scales->units(),
              "VariationalTensor::share_scales: a tensor of shape ", state_->mean.sizes(),
              " can share only the output-unit scales of a weight with as many units (got ",
              scales ? c10::str(scales->units(), " units along dimension ", scales->dim)
                     : std::string("a weight without group scales"),
              ")");
  state_->scales_owner = weight.state_;
}

at::Tensor VariationalTensor::draw() const {
  auto draw = state_->fused(GaussianTerm::kDraw);
  const auto scales = group_scales();
  return scales ? scales->scaled(draw) : draw;
}

at::Tensor VariationalTensor::gaussian_draw() const { return state_->fused(GaussianTerm::kDraw); }

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
  state_->held_scales = at::Tensor();
  if (mode != Mode::kFrozen) return;
  at::NoGradGuard no_grad;
  state_->held = sample_normal(state_->mean, state_->log_sigma);
  const auto scales = group_scales();
  if (!scales) return;
  if (state_->scales_owner) {
    const auto& z = state_->scales_owner->held_scales;
    TORCH_CHECK(z.defined(),
                "VariationalTensor::set_mode: a tensor that shares its weight's "
                "scales takes its held draw after the weight's (set the weight's mode first)");
    state_->held = state_->held * along_units(z, state_->held.dim(), scales->dim);
    return;
  }
  state_->held_scales = scales->draw(1).view({-1});
  state_->held = state_->held * along_units(state_->held_scales, state_->held.dim(), scales->dim);
}

const at::Tensor& VariationalTensor::held_draw() const { return state_->held; }

const at::Tensor& VariationalTensor::held_scales() const { return state_->held_scales; }

at::Tensor VariationalTensor::value(Mode mode) const {
  if (!defined()) return at::Tensor();
  if (mode == Mode::kFrozen) return state_->held;
  const auto scales = group_scales();
  if (!scales) return state_->mean;
  return state_->mean * along_units(scales->mean(), state_->mean.dim(), scales->dim);
}

// PriorModuleImpl's KL of plain tensors lives here, beside the tensor it builds, so that the prior
// module needs no variational tensor.
at::Tensor PriorModuleImpl::kl(const at::Tensor& mean, const at::Tensor& log_sigma) const {
  return kl(VariationalTensor(mean, log_sigma));
}

}  // namespace bayesnn
