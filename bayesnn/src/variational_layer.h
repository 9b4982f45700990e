// What BayesLinear and BayesConv2d share: a weight and an optional bias, each with its own
// prior module (private to the library).
#pragma once

#include <string>
#include <utility>

#include "bayesnn/export.h"
#include "bayesnn/gaussian.h"
#include "bayesnn/mode.h"

namespace bayesnn::detail {

// KL(q || p) of the layer's weight plus, if it has one, its bias.
template <typename Layer>
torch::Tensor weight_and_bias_kl(Layer& layer) {
  auto kl = layer.weight_prior->kl(layer.weight_mean, layer.weight_log_sigma);
  if (layer.options.bias()) kl = kl + layer.bias_prior->kl(layer.bias_mean, layer.bias_log_sigma);
  return kl;
}

// Takes a draw of weight and bias for `Mode::kFrozen`, or releases the held one in any other
// mode.
template <typename Layer>
void hold_draw(Layer& layer, Mode mode) {
  layer.frozen_weight = torch::Tensor();
  layer.frozen_bias = torch::Tensor();
  if (mode != Mode::kFrozen) return;
  torch::NoGradGuard no_grad;
  layer.frozen_weight = sample_normal(layer.weight_mean, layer.weight_log_sigma);
  if (layer.options.bias()) {
    layer.frozen_bias = sample_normal(layer.bias_mean, layer.bias_log_sigma);
  }
}

// Describes the layer's prior, estimator and prior scales in the export metadata and returns the
// TorchScript expressions of its weight and bias (the mean, or a fresh draw per sample).
template <typename Layer>
std::pair<std::string, std::string> export_weight_and_bias(const Layer& layer, ExportContext& ctx) {
  ctx.describe("prior", to_string(layer.options.prior()));
  ctx.describe("estimator", to_string(layer.options.estimator()));
  ctx.describe("weight_prior_scale", fmt::format("{}", layer.weight_prior->scale()));
  if (layer.options.bias()) {
    ctx.describe("bias_prior_scale", fmt::format("{}", layer.bias_prior->scale()));
  }
  return {ctx.variational("weight", layer.weight_mean, layer.weight_log_sigma),
          ctx.variational("bias", layer.bias_mean, layer.bias_log_sigma)};
}

}  // namespace bayesnn::detail
