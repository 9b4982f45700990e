// The fixed prior, w ~ N(0, sd²).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/prior_family.h"

namespace bayesnn {

/// w ~ N(0, sd²): KL in closed form.
struct FixedPrior : PriorFamily {
  /// N(0, `sd_`²).
  explicit FixedPrior(double sd_) : sd(sd_) {}
  std::string name() const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  double sd;  ///< the prior sd
};

}  // namespace bayesnn
