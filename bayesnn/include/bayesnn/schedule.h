#pragma once

#include <cstdint>

namespace bayesnn {

/// A learning-rate schedule: the rate of each optimizer step as a function of the step, the
/// run's length and the base rate of the optimizer's parameter group. `Trainer` sets every
/// group's rate from it before each step (`Trainer::set_lr_schedule`).
///
/// Example:
/// ```
/// // A linear warm-up over the first 100 steps, then the base rate.
/// struct LinearWarmup : bayesnn::LrSchedule {
///   double lr(double base_lr, int64_t step, int64_t /*total_steps*/) const override {
///     return base_lr * std::min(1.0, static_cast<double>(step + 1) / 100);
///   }
/// };
/// trainer.set_lr_schedule(std::make_unique<LinearWarmup>());
/// ```
class LrSchedule {
 public:
  virtual ~LrSchedule() = default;

  /// The learning rate of step `step` (0-based) of a run of `total_steps` steps, for a
  /// parameter group whose base rate is `base_lr`.
  virtual double lr(double base_lr, int64_t step, int64_t total_steps) const = 0;
};

/// The base rate at every step: lr(t) = base_lr.
///
/// Example:
/// ```
/// trainer.set_lr_schedule(std::make_unique<bayesnn::ConstantLrSchedule>());
/// ```
class ConstantLrSchedule : public LrSchedule {
 public:
  /// Returns `base_lr`.
  double lr(double base_lr, int64_t step, int64_t total_steps) const override;
};

/// Cosine decay to a floor: with progress p = min(1, t / T) and floor f,
/// lr(t) = base_lr * (f + (1 - f) * (1 + cos(pi * p)) / 2), from base_lr at t = 0 to
/// f * base_lr at t >= T. `TrainerOptions::lr_final_fraction` < 1 picks it.
///
/// Example:
/// ```
/// trainer.set_lr_schedule(std::make_unique<bayesnn::CosineLrSchedule>(/*final_fraction=*/0.01));
/// ```
class CosineLrSchedule : public LrSchedule {
 public:
  /// A decay to `final_fraction` of the base rate, in (0, 1] (1: constant).
  explicit CosineLrSchedule(double final_fraction);

  /// base_lr * (f + (1 - f) * (1 + cos(pi * min(1, step / total_steps))) / 2); the base rate
  /// when total_steps <= 0.
  double lr(double base_lr, int64_t step, int64_t total_steps) const override;

  /// The floor f as a fraction of the base rate.
  double final_fraction() const { return final_fraction_; }

 private:
  double final_fraction_;
};

/// KL warm-up: the KL's weight at step t (0-based) ramps linearly from 0 to `kl_weight` over
/// the first `warmup_steps` steps, w(t) = kl_weight * min(1, t / warmup_steps), and is
/// `kl_weight` throughout when warmup_steps is 0 (`TrainerOptions::kl_warmup_steps`).
double kl_warmup_weight(double kl_weight, int64_t warmup_steps, int64_t step);

}  // namespace bayesnn
