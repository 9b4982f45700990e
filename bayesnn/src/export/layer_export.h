#pragma once

#include <string>

#include "bayesnn/export_context.h"
#include "bayesnn/prior.h"

namespace bayesnn::detail {

// A built-in BayesLayer's weight and bias in its exported forward: the stored means, or in the
// predictive a fresh draw per posterior sample ("None" without bias).
struct ExportedWeights {
  std::string weight, bias;
};

// The common start of a built-in layer's export hook: its prior and estimator go to the
// metadata, its weight and bias into the exported module.
template <typename Layer>
ExportedWeights export_weights(const Layer& layer, ExportContext& ctx) {
  ctx.describe("prior", to_string(layer.options.prior()));
  ctx.describe("estimator", to_string(layer.options.estimator()));
  ExportedWeights weights;
  weights.weight = ctx.variational("weight", layer.weight);
  weights.bias = ctx.variational("bias", layer.bias);
  return weights;
}

}  // namespace bayesnn::detail
