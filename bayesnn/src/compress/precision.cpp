#include "bayesnn/precision.h"

#include <algorithm>
#include <cmath>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include "bayesnn/bayes_module.h"
#include "bayesnn/mode.h"

namespace bayesnn {
namespace {
// The float32 significand's bits: the finest grid the rule counts.
constexpr int64_t kSignificandBits = 23;
// int8's largest step count.
constexpr double kInt8Steps = 127;
// float16 holds every multiple of 2^-s up to 2^11 steps exactly (its significand and the
// implicit bit), down to 2^-24 (its smallest subnormal).
constexpr double kHalfSteps = 2048;
constexpr int64_t kHalfFinestBits = 24;

// The layers with a variational weight, by their names in `model`.
std::vector<std::pair<std::string, VariationalTensor>> weights_of(
    const torch::nn::Sequential& model) {
  std::vector<std::pair<std::string, VariationalTensor>> weights;
  for (const auto& item : model->named_children()) {
    const auto* bayes = dynamic_cast<const BayesModule*>(item.value().get());
    if (bayes == nullptr) continue;
    for (const auto& [name, tensor] : bayes->variational_tensors()) {
      if (name == "weight" && tensor.defined()) weights.emplace_back(item.key(), tensor);
    }
  }
  return weights;
}

// s = ⌈mean_i #{t = 1..23 : 2 Var[w_i] < 2^-t}⌉.
int64_t significand_bits(const at::Tensor& variance) {
  const auto twice = (2 * variance).to(at::kDouble).flatten();
  auto count = at::zeros_like(twice);
  for (int64_t t = 1; t <= kSignificandBits; ++t) {
    count += twice.lt(std::ldexp(1.0, static_cast<int>(-t))).to(at::kDouble);
  }
  return static_cast<int64_t>(std::ceil(count.mean().item<double>()));
}

// e = ⌈log2(log2(m) + 1) + 1⌉, at least 1 (the formula has no value for m ≤ 1/2).
int64_t exponent_bits(double max_abs_weight) {
  const double inner = std::log2(max_abs_weight) + 1;
  if (!(inner > 0)) return 1;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::log2(inner) + 1)));
}

WeightStorage storage_for(double max_abs_weight, int64_t bits) {
  const double step = std::ldexp(1.0, static_cast<int>(-bits));
  if (max_abs_weight / step <= kInt8Steps) return {at::kChar, step};
  if (max_abs_weight / step <= kHalfSteps && bits <= kHalfFinestBits) return {at::kHalf, 1.0};
  return {at::kFloat, 1.0};
}
}  // namespace

at::Tensor posterior_variance(const VariationalTensor& tensor) {
  at::NoGradGuard no_grad;
  const auto sigma2 = (2 * tensor.log_sigma()).exp();
  const auto scales = tensor.group_scales();
  if (!scales) return sigma2;
  const auto dim = tensor.mean().dim();
  const auto ez = along_units(scales->mean(), dim, scales->dim);
  const auto var_z =
      along_units(scales->mean().square() * scales->log_alpha().exp(), dim, scales->dim);
  return (ez.square() + var_z) * sigma2 + var_z * tensor.mean().square();
}

double PrecisionReduction::ratio() const {
  double bits = 0;
  for (const auto& layer : layers) bits += static_cast<double>(layer.weights * layer.bits());
  return bits == 0 ? INFINITY : 32.0 * static_cast<double>(reference_weights) / bits;
}

std::map<std::string, WeightStorage> PrecisionReduction::storage() const {
  std::map<std::string, WeightStorage> storage;
  for (const auto& layer : layers) storage[layer.path] = layer.storage;
  return storage;
}

PrecisionReduction reduce_precision(const torch::nn::Sequential& model, int64_t reference_weights) {
  TORCH_CHECK(reference_weights >= 0, "reduce_precision: reference_weights must be >= 0, got ",
              reference_weights);
  const auto weights = weights_of(model);
  TORCH_CHECK(!weights.empty(), "reduce_precision: the model has no Bayesian layer with a weight");
  PrecisionReduction result;
  at::NoGradGuard no_grad;
  double overflow = 0;
  for (const auto& [path, weight] : weights) {
    LayerPrecision layer;
    layer.path = path;
    layer.weights = weight.mean().numel();
    layer.significand_bits = significand_bits(posterior_variance(weight));
    layer.max_abs_weight = weight.value(Mode::kMean).abs().max().item<double>();
    overflow = std::max(overflow, layer.max_abs_weight);
    result.reference_weights += layer.weights;
    result.layers.push_back(layer);
  }
  if (reference_weights > 0) result.reference_weights = reference_weights;
  const int64_t exponent = exponent_bits(overflow);
  for (size_t k = 0; k < weights.size(); ++k) {
    auto& layer = result.layers[k];
    layer.exponent_bits = exponent;
    layer.storage = storage_for(layer.max_abs_weight, layer.significand_bits);
    // The posterior mean rounded to the grid 2^-s: of a product tensor, through v's mean.
    const auto& weight = weights[k].second;
    const double step = std::ldexp(1.0, static_cast<int>(-layer.significand_bits));
    const auto value = weight.value(Mode::kMean);
    const auto rounded = (value / step + 0.5).floor() * step;
    if (const auto scales = weight.group_scales()) {
      const auto ez = along_units(scales->mean(), value.dim(), scales->dim).expand_as(value);
      weight.mean().copy_(at::where(ez.ne(0), rounded / ez, weight.mean()));
    } else {
      weight.mean().copy_(rounded);
    }
  }
  return result;
}

}  // namespace bayesnn
