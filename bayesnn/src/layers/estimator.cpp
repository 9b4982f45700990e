#include "bayesnn/estimator.h"

#include <optional>
#include <vector>

#include "bayesnn/gaussian.h"

#include "kernels/noise.h"

namespace bayesnn {
namespace {
// Keeps sqrt differentiable where an input row is all zero and there is no bias.
constexpr double kVarianceFloor = 1e-16;

at::Tensor maybe_mean(const VariationalTensor& t) { return t.defined() ? t.mean() : at::Tensor(); }

at::Tensor maybe_gaussian_draw(const VariationalTensor& t) {
  return t.defined() ? t.gaussian_draw() : at::Tensor();
}

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

// A product weight w = z ∘ v with its scales on the input units scales the input instead, with
// one draw of z per example: op(x, z ∘ v) = op(x ∘ z, v) for an operator that contracts x's
// dimension 1 with W's (dense layers, convolutions without groups).
at::Tensor scale_input_units(const GroupScales& scales, const at::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == scales.units(), "sample_output: the weight's ",
              scales.units(),
              " unit scales (a group prior scales the weight's dimension 1) do not match the "
              "input's dimension 1 of shape ",
              x.sizes(), "; a group prior needs an operator that contracts them (no groups)");
  return scales.scaled(x, /*per_row=*/true);
}

// The output of op under the Gaussian factors alone (w = v, b = its Gaussian factor).
at::Tensor sample_gaussian_output(Estimator estimator, const LinearOperator& op, SignLayout signs,
                                  const at::Tensor& x, const VariationalTensor& weight,
                                  const VariationalTensor& bias) {
  const auto bias_draw = maybe_gaussian_draw(bias);
  switch (estimator) {
    case Estimator::kReparameterization:
      return op(x, weight.gaussian_draw(), bias_draw);
    case Estimator::kLocalReparameterization: {
      auto mean = op(x, weight.mean(), maybe_mean(bias));
      auto variance = op(x.square(), weight.variance(), maybe_variance(bias));
      return mean + (variance + kVarianceFloor).sqrt() * standard_normal_like(mean);
    }
    case Estimator::kFlipout: {
      auto mean = op(x, weight.mean(), bias_draw);
      auto flipped = op(x * signs_for(x, signs), weight.perturbation(), at::Tensor());
      return mean + flipped * signs_for(flipped, signs);
    }
  }
  TORCH_CHECK(false, "sample_output: unknown estimator");
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
                         const at::Tensor& input, const VariationalTensor& weight,
                         const VariationalTensor& bias) {
  const auto scales = weight.group_scales();
  if (!scales) return sample_gaussian_output(estimator, op, signs, input, weight, bias);
  if (scales->dim == 0) {
    // Scales on the output units (with the bias: op(x, z ∘ v, z ∘ b) = z ∘ op(x, v, b)): under
    // local reparameterization and Flipout one draw of z per example, on the output.
    TORCH_CHECK(!bias.defined() || bias.group_scales(),
                "sample_output: the weight's scales sit on its output units, so its bias must "
                "share them (VariationalTensor::share_scales)");
    if (estimator == Estimator::kReparameterization) {
      // One draw of z for the minibatch, like the weights': op(x, z ∘ v, z ∘ b) touches the
      // weights (a convolution's filters are far fewer than its outputs) and not the output.
      const auto bias_draw = maybe_gaussian_draw(bias);
      const auto v = weight.gaussian_draw();
      const auto z = scales->draw(1).view({-1});
      return op(input, v * along_units(z, v.dim(), 0),
                bias_draw.defined() ? bias_draw * z : bias_draw);
    }
    auto output = sample_gaussian_output(estimator, op, signs, input, weight, bias);
    TORCH_CHECK(output.dim() >= 2 && output.size(1) == scales->units(),
                "sample_output: the weight's ", scales->units(),
                " output-unit scales do not match the output's dimension 1 of shape ",
                output.sizes());
    return scales->scaled(output, /*per_row=*/true);
  }
  if (estimator == Estimator::kReparameterization) {
    // One draw of z for the minibatch, like the weights'. Where the input's gradient is computed
    // anyway (a hidden layer) and op contracts the input's dimension 1 with the weight's (no
    // groups), z scales the input, op(x ∘ z, v) = op(x, z ∘ v): batch × in elements instead of
    // out × in, forward and backward. Elsewhere (the first layer, whose input gradient z's
    // gradient would cost one more matmul) z scales the weight.
    const auto bias_draw = maybe_gaussian_draw(bias);
    const bool scale_input =
        input.requires_grad() && input.dim() >= 2 && input.size(1) == scales->units();
    if (!scale_input) return op(input, scales->scaled(weight.gaussian_draw()), bias_draw);
    const auto v = weight.gaussian_draw();
    return op(scales->scaled(input, /*per_row=*/false), v, bias_draw);
  }
  return sample_gaussian_output(estimator, op, signs, scale_input_units(*scales, input), weight,
                                bias);
}

}  // namespace bayesnn
