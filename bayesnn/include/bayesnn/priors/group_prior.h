// What the non-centred group priors share: w = z ∘ v with one scale per unit.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/prior_family.h"

namespace bayesnn {

/// What the non-centred group priors share: the tensor is a product w = z ∘ v with v ~ N(0, 1)
/// and one scale z_j per unit along the prior module's `unit_dim`, whose posterior (`group_scales`)
/// and KL (`kl_scales`) the family gives. KL(q || p) = KL(q(v) || N(0, 1)) + KL(q(z) || p(z)); a
/// tensor without units (a bias) is v alone. Its scale for reports is the root mean square of
/// E_q[z_j] (1 without units).
struct GroupPrior : PriorFamily {
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const final;
  double scale(const PriorModuleImpl& module) const final;
  std::map<std::string, at::Tensor> report(const PriorModuleImpl& module) const final;
  /// KL(q(z) || p(z)) of a tensor with units, from the hyper-parameters in `module`.
  virtual at::Tensor kl_scales(const PriorModuleImpl& module) const = 0;
};

}  // namespace bayesnn
