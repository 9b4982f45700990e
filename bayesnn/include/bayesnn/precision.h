#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/sequential.h>

#include "bayesnn/export.h"

namespace bayesnn {

/// What `reduce_precision` chose for one layer's weight.
struct LayerPrecision {
  std::string path;              ///< the layer's name in the model ("fc1")
  int64_t weights = 0;           ///< its weight's elements
  int64_t significand_bits = 0;  ///< s: the weights lie on a grid of step 2^-s
  int64_t exponent_bits = 0;     ///< e: the model's, from its largest weight
  double max_abs_weight = 0;     ///< the largest |posterior mean| of the layer's weight
  WeightStorage storage;         ///< how the reduced-precision export stores it
  /// 1 + e + s: sign, exponent and significand, the bits per weight the paper counts.
  int64_t bits() const { return 1 + exponent_bits + significand_bits; }
};

/// What `reduce_precision` did to a model.
struct PrecisionReduction {
  std::vector<LayerPrecision> layers;  ///< one per Bayesian layer with a weight, in model order
  int64_t reference_weights = 0;  ///< the weights the ratio is against (the uncompressed model's)
  /// 32 · reference_weights / Σ_l weights_l · bits_l: Louizos et al.'s "compression after
  /// precision reduction" (float32 in, each layer's bits out).
  double ratio() const;
  /// The storage of every layer, for `export_posterior_mean`.
  std::map<std::string, WeightStorage> storage() const;
};

/// Bayesian compression's second step (Louizos et al. 2017, section 4, with the rule of the
/// authors' code): each layer's weights need no finer grid than their posterior uncertainty.
/// For a layer of posterior variances Var_q[w_i] (of a product tensor, E[z²] σ² + Var[z] μ²),
/// s = ⌈mean_i #{t = 1..23 : 2 Var_q[w_i] < 2^-t}⌉ significand bits, the weights' posterior
/// means rounded to the nearest multiple of 2^-s; e = ⌈log2(log2(m) + 1) + 1⌉ exponent bits for
/// the model's largest |weight| m (at least 1). Rounds every Bayesian layer's weight means of
/// `model` in place (biases are kept) and says how the export stores each: int8 with the scale
/// 2^-s where m_l / 2^-s ≤ 127, float16 where it holds the grid exactly, else float32.
/// `reference_weights`: the weights of the network before pruning (0: `model`'s own).
///
/// Example:
/// ```
/// auto small = bayesnn::compress(net);
/// auto reduced = bayesnn::reduce_precision(small.network, small.report.weights());
/// bayesnn::export_posterior_mean(*small.network, "reduced.pt", {}, reduced.storage());
/// ```
PrecisionReduction reduce_precision(const torch::nn::Sequential& model,
                                    int64_t reference_weights = 0);

/// The posterior variance of every element of a variational tensor's value: σ², or of a
/// product tensor w = z ∘ v, E[z²] σ² + Var[z] μ².
at::Tensor posterior_variance(const VariationalTensor& tensor);

}  // namespace bayesnn
