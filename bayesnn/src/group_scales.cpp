#include "bayesnn/group_scales.h"

#include <vector>

#include "noise.h"

namespace bayesnn {

at::Tensor GroupScales::variance() const {
  auto variance = (2.0 * log_sd).exp();
  if (shared_log_sd.defined()) variance = variance + (2.0 * shared_log_sd).exp();
  return variance;
}

at::Tensor GroupScales::draw(int64_t rows) const {
  auto u = loc + log_sd.exp() * standard_normal_like(at::empty({rows, units()}, loc.options()));
  if (shared_log_sd.defined()) {
    u = u + shared_log_sd.exp() * standard_normal_like(at::empty({rows, 1}, loc.options()));
  }
  return log_normal ? u.exp() : u;
}

at::Tensor GroupScales::scaled(const at::Tensor& t, bool per_row) const {
  return t * along_units(draw(per_row ? t.size(0) : 1), t.dim());
}

at::Tensor GroupScales::mean() const { return log_normal ? (loc + variance() / 2).exp() : loc; }

at::Tensor GroupScales::log_alpha() const {
  const auto variance = this->variance();
  // The normal's: log σ² - log μ², μ² floored at 1e-16 so that μ = 0 has a gradient.
  return log_normal ? variance.expm1().log() : variance.log() - (loc.square() + 1e-16).log();
}

at::Tensor along_units(const at::Tensor& z, int64_t dim) {
  std::vector<int64_t> shape(static_cast<size_t>(dim), 1);
  shape[0] = z.dim() == 2 ? z.size(0) : 1;
  shape[1] = z.size(-1);
  return z.reshape(shape);
}

}  // namespace bayesnn
