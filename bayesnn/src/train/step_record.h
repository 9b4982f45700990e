// Internal: what the trainer keeps of each step of an epoch without waiting for the device
// (not part of the public headers).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/ATen.h>

namespace bayesnn::detail {

/// One optimizer step's results: scalar tensors on the model's device, not yet read, and what
/// the host knows of the step.
struct StepResult {
  at::Tensor nll;           ///< the step's mean NLL (averaged over the Monte Carlo samples)
  at::Tensor kl;            ///< KL(q || p) of the whole model
  at::Tensor correct;       ///< correct predictions (integer); undefined unless classifying
  int64_t predictions = 0;  ///< how many predictions `correct` counts
  int64_t examples = 0;     ///< the batch size
  double kl_weight = 0;     ///< the KL's weight in the step's loss
};

/// The first step whose NLL or KL was not finite.
struct NonFiniteStep {
  int64_t index = 0;  ///< 0-based position of the step in the record
  const char* term;   ///< "NLL" (when both are non-finite) or "KL"
  double value = 0;   ///< the non-finite value
};

/// Sums over the steps read so far, in double on the host.
struct StepTotals {
  int64_t steps = 0;          ///< steps read
  int64_t examples = 0;       ///< examples of those steps
  int64_t predictions = 0;    ///< predictions counted by `correct`
  double correct = 0;         ///< correct predictions
  double nll_sum = 0;         ///< sum over steps of the step's NLL times its examples
  double loss_sum = 0;        ///< sum over steps of (nll + kl_weight * kl / N) times its examples
  double last_kl = 0;         ///< the KL of the last step read
  double last_kl_weight = 0;  ///< the KL weight of the last step read
};

/// The steps of an epoch, added without synchronising with the device and read on demand:
/// `read()` copies what was added since the last read to the host in one transfer (one
/// synchronisation) and adds it to the totals. Unread steps are stacked on the device every
/// `kStackEvery` steps, so a long epoch holds few tensors.
class StepRecord {
 public:
  /// Unread steps held as separate tensors before they are stacked into one.
  static constexpr size_t kStackEvery = 256;

  /// A record for a training set of `n_train` examples (the loss's KL / N).
  explicit StepRecord(double n_train) : n_train_(n_train) {}

  /// Appends a step; no synchronisation.
  void add(StepResult step);
  /// Reads the unread steps into the totals, in order, up to the first with a non-finite NLL
  /// or KL, which it returns (that step and the rest are dropped, not added), then and on every
  /// later read.
  std::optional<NonFiniteStep> read();

  /// The sums of the steps read.
  const StepTotals& totals() const { return totals_; }
  /// Steps added, read or not.
  int64_t steps_added() const { return steps_added_; }
  /// Examples of the steps added, read or not.
  int64_t examples_added() const { return examples_added_; }

 private:
  struct HostPart {
    int64_t predictions, examples;
    double kl_weight;
  };
  void stack_pending();
  void add_to_totals(const HostPart& step, double nll, double kl, double correct);

  double n_train_;
  std::vector<StepResult> pending_;  // added since the last stacking
  std::vector<at::Tensor> stacked_;  // [k, 3] double: nll, kl, correct per unread step
  std::vector<HostPart> unread_;     // the host part of every unread step
  StepTotals totals_;
  std::optional<NonFiniteStep> non_finite_;  // the first non-finite step read
  int64_t steps_added_ = 0, examples_added_ = 0;
};

}  // namespace bayesnn::detail
