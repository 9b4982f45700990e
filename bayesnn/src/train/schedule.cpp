#include "bayesnn/schedule.h"

#include <algorithm>
#include <cmath>

#include <c10/util/Exception.h>

namespace bayesnn {

double ConstantLrSchedule::lr(double base_lr, int64_t /*step*/, int64_t /*total_steps*/) const {
  return base_lr;
}

CosineLrSchedule::CosineLrSchedule(double final_fraction) : final_fraction_(final_fraction) {
  TORCH_CHECK(final_fraction > 0 && final_fraction <= 1,
              "CosineLrSchedule: final_fraction must be in (0, 1], got ", final_fraction);
}

double CosineLrSchedule::lr(double base_lr, int64_t step, int64_t total_steps) const {
  const double progress =
      total_steps > 0 ? std::min(1.0, static_cast<double>(step) / total_steps) : 0.0;
  const double floor = final_fraction_;
  return base_lr * (floor + (1 - floor) * 0.5 * (1 + std::cos(M_PI * progress)));
}

double kl_warmup_weight(double kl_weight, int64_t warmup_steps, int64_t step) {
  if (warmup_steps == 0) return kl_weight;
  const double ramp = std::min(1.0, static_cast<double>(step) / static_cast<double>(warmup_steps));
  return kl_weight * ramp;
}

}  // namespace bayesnn
