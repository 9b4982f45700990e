#include "bayesnn/estimator.h"

#include <vector>

#include "bayesnn/gaussian.h"

#include "noise.h"

namespace bayesnn {
namespace {
// Keeps sqrt differentiable where an input row is all zero and there is no bias.
constexpr double kVarianceFloor = 1e-16;

at::Tensor maybe_draw(const VariationalTensor& t) { return t.defined() ? t.draw() : at::Tensor(); }

at::Tensor maybe_mean(const VariationalTensor& t) { return t.defined() ? t.mean() : at::Tensor(); }

at::Tensor maybe_variance(const VariationalTensor& t) {
  return t.defined() ? t.variance() : at::Tensor();
}

at::Tensor signs_for(const at::Tensor& t, SignLayout layout) {
  if (layout == SignLayout::kPerElement || t.dim() <= 2) return random_signs(t);
  std::vector<int64_t> shape(static_cast<size_t>(t.dim()), 1);
  shape[0] = t.size(0);
  shape[1] = t.size(1);
  return random_signs(at::empty(shape, t.options()));
}
}  // namespace

std::string to_string(Estimator estimator) {
  switch (estimator) {
    case Estimator::kReparameterization:
      return "reparam";
    case Estimator::kLocalReparameterization:
      return "local";
    case Estimator::kFlipout:
      return "flipout";
  }
  return "unknown";
}

Estimator parse_estimator(const std::string& name) {
  if (name == "reparam") return Estimator::kReparameterization;
  if (name == "local") return Estimator::kLocalReparameterization;
  if (name == "flipout") return Estimator::kFlipout;
  TORCH_CHECK(false, "unknown estimator '", name, "': expected reparam, local or flipout");
}

at::Tensor sample_output(Estimator estimator, const LinearOperator& op, SignLayout signs,
                         const at::Tensor& x, const VariationalTensor& weight,
                         const VariationalTensor& bias) {
  switch (estimator) {
    case Estimator::kReparameterization:
      return op(x, weight.draw(), maybe_draw(bias));
    case Estimator::kLocalReparameterization: {
      auto mean = op(x, weight.mean(), maybe_mean(bias));
      auto variance = op(x.square(), weight.variance(), maybe_variance(bias));
      return mean + (variance + kVarianceFloor).sqrt() * standard_normal_like(mean);
    }
    case Estimator::kFlipout: {
      auto mean = op(x, weight.mean(), maybe_draw(bias));
      auto flipped = op(x * signs_for(x, signs), weight.perturbation(), at::Tensor());
      return mean + flipped * signs_for(flipped, signs);
    }
  }
  TORCH_CHECK(false, "sample_output: unknown estimator");
}

}  // namespace bayesnn
