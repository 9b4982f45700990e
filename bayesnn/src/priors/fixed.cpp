#include "bayesnn/priors/fixed.h"

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "bayesnn/gaussian.h"
#include "bayesnn/prior_module.h"
#include "bayesnn/variational_tensor.h"
#include "priors/checks.h"

namespace bayesnn {

Prior Prior::fixed(double sd) {
  detail::check_positive_finite("sd", sd);
  return Prior(std::make_shared<FixedPrior>(sd));
}

std::string FixedPrior::name() const { return fmt::format("fixed({:g})", sd); }

at::Tensor FixedPrior::kl(const VariationalTensor& q, const PriorModuleImpl&) const {
  return kl_normal_zero_mean_from_sums(q.sums(), at::full({}, std::log(sd), q.mean().options()),
                                       q.mean().numel());
}

double FixedPrior::scale(const PriorModuleImpl&) const { return sd; }

}  // namespace bayesnn
