#include "bayesnn/group_scales.h"

#include <vector>

#include <c10/util/Exception.h>

#include "kernels/noise.h"

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
  if (per_row) return t * along_units(draw(t.size(0)), t.dim());
  return t * along_units(draw(1).view({-1}), t.dim(), dim);
}

at::Tensor GroupScales::mean() const { return log_normal ? (loc + variance() / 2).exp() : loc; }

at::Tensor GroupScales::log_alpha() const {
  const auto variance = this->variance();
  // The normal's: log σ² - log μ², μ² floored at 1e-16 so that μ = 0 has a gradient.
  return log_normal ? variance.expm1().log() : variance.log() - (loc.square() + 1e-16).log();
}

at::Tensor along_units(const at::Tensor& z, int64_t dim, int64_t unit_dim) {
  std::vector<int64_t> shape(static_cast<size_t>(dim), 1);
  if (unit_dim == 0) {
    TORCH_CHECK(z.dim() == 1 && dim >= 1,
                "along_units: scales along dimension 0 must be one "
                "vector [units] and the tensor at least one-dimensional, got scales of shape ",
                z.sizes(), " for a tensor of ", dim, " dimensions");
    shape[0] = z.size(0);
    return z.reshape(shape);
  }
  shape[0] = z.dim() == 2 ? z.size(0) : 1;
  shape[1] = z.size(-1);
  return z.reshape(shape);
}

}  // namespace bayesnn
