#include "train/step_record.h"

#include <cmath>
#include <utility>

namespace bayesnn::detail {

void StepRecord::add(StepResult step) {
  unread_.push_back({step.predictions, step.examples, step.kl_weight});
  ++steps_added_;
  examples_added_ += step.examples;
  pending_.push_back(std::move(step));
  if (pending_.size() >= kStackEvery) stack_pending();
}

void StepRecord::stack_pending() {
  if (pending_.empty()) return;
  std::vector<at::Tensor> nll, kl, correct;
  for (const auto& step : pending_) {
    nll.push_back(step.nll);
    kl.push_back(step.kl);
    if (step.correct.defined()) correct.push_back(step.correct);
  }
  const auto as_double = at::TensorOptions(pending_.front().nll.device()).dtype(at::kDouble);
  auto nll_column = at::stack(nll).to(as_double);
  auto correct_column =
      correct.size() == nll.size() ? at::stack(correct).to(as_double) : at::zeros_like(nll_column);
  stacked_.push_back(at::stack({nll_column, at::stack(kl).to(as_double), correct_column}, 1));
  pending_.clear();
}

std::optional<NonFiniteStep> StepRecord::read() {
  stack_pending();
  if (non_finite_) {
    stacked_.clear();
    unread_.clear();
    return non_finite_;
  }
  if (stacked_.empty()) return std::nullopt;
  const auto values = at::cat(stacked_).cpu();
  stacked_.clear();
  auto unread = std::move(unread_);
  unread_.clear();
  const auto rows = values.accessor<double, 2>();
  for (size_t i = 0; i < unread.size(); ++i) {
    const double nll = rows[i][0], kl = rows[i][1];
    if (!std::isfinite(nll) || !std::isfinite(kl)) {
      const bool nll_bad = !std::isfinite(nll);
      non_finite_ = NonFiniteStep{totals_.steps, nll_bad ? "NLL" : "KL", nll_bad ? nll : kl};
      return non_finite_;
    }
    add_to_totals(unread[i], nll, kl, rows[i][2]);
  }
  return std::nullopt;
}

void StepRecord::add_to_totals(const HostPart& step, double nll, double kl, double correct) {
  const auto examples = static_cast<double>(step.examples);
  ++totals_.steps;
  totals_.examples += step.examples;
  totals_.predictions += step.predictions;
  totals_.correct += correct;
  totals_.nll_sum += nll * examples;
  totals_.loss_sum += (nll + step.kl_weight * kl / n_train_) * examples;
  totals_.last_kl = kl;
  totals_.last_kl_weight = step.kl_weight;
}

}  // namespace bayesnn::detail
