#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "bayesnn/export.h"

namespace bayesnn {

/// When `compress` calls a unit off. A unit j is off when its scale's posterior says it carries
/// noise, log α_j = log(Var_q[z_j] / E_q[z_j]²) ≥ `max_log_alpha` (Molchanov et al. 2017's
/// threshold 3: the weight's noise sd is 4.5 times its mean), or nothing, |E_q[z_j]| <
/// `min_scale` (v has a N(0, 1) prior, so z is the unit's weight scale).
///
/// Example:
/// ```
/// auto options = bayesnn::CompressOptions().max_log_alpha(1.0).min_scale(1e-2);
/// ```
struct CompressOptions {
  /// Units with log α at least this are off; finite.
  TORCH_ARG(double, max_log_alpha) = 3.0;
  /// Units with |E[z]| below this are off; non-negative and finite.
  TORCH_ARG(double, min_scale) = 1e-3;
};

/// What `compress` did to one Bayesian layer.
struct LayerCompression {
  std::string path;          ///< the layer's name in the model ("fc1")
  int64_t units = 0;         ///< its input units (dimension 1 of its weight)
  int64_t units_kept = 0;    ///< those left on
  int64_t weights = 0;       ///< its weight's elements (biases not counted)
  int64_t weights_kept = 0;  ///< those the compressed layer keeps
};

/// What `compress` did to a model: per layer, in order, and in total.
struct CompressionReport {
  std::vector<LayerCompression> layers;
  int64_t weights() const;       ///< every layer's weight elements
  int64_t weights_kept() const;  ///< those the compressed model keeps
  /// weights_kept() / weights(): the fraction kept.
  double kept_fraction() const;
  /// weights() / weights_kept(): how many times fewer weights.
  double ratio() const;
};

/// The units of dimension 1 that a compressed model keeps where the layer before cannot drop
/// the others itself (the model's input; the features of a flattened feature map whose channel
/// is kept): y = x.index_select(1, indices). Exported as one `torch.index_select`.
class SelectUnitsImpl : public torch::nn::Cloneable<SelectUnitsImpl>, public ScriptExportable {
 public:
  explicit SelectUnitsImpl(at::Tensor indices_ = at::Tensor());
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  void export_torchscript(ExportContext& ctx) const override;
  torch::Tensor forward(const torch::Tensor& x);
  /// The kept units' indices (int64), a buffer.
  torch::Tensor indices;
};
TORCH_MODULE(SelectUnits);

/// A compressed model and what was removed.
struct Compressed {
  torch::nn::Sequential network;
  CompressionReport report;
};

/// Bayesian compression (Louizos et al. 2017): the smaller network that a model with group
/// priors (`Prior::group_horseshoe`, `Prior::group_normal_jeffreys`) says it needs. Every input
/// unit that `options` calls off is removed with its column of the layer's weight and, where
/// the layer before produces it, with that layer's row and bias; the layers are rebuilt at
/// their new sizes with their posteriors (and their priors' per-unit hyper-parameters) sliced,
/// so the result trains, predicts, exports and checkpoints like any bayesnn network. Its
/// posterior mean equals the model's with the pruned units' scales set to zero.
///
/// `model`: a flat `torch::nn::Sequential` of BayesLinear, BayesConv1d and BayesConv2d layers
/// with, between them, modules that act on each unit alone (activations, dropout, pooling,
/// Flatten, Identity); before the first layer and after the last anything goes. Layers without
/// group scales keep their inputs. Throws, naming the module, on a model without group scales,
/// a pruned unit whose producer compress cannot shrink, or `options` out of range; the model
/// is left unchanged.
///
/// Example:
/// ```
/// auto small = bayesnn::compress(net);
/// std::cout << small.report.ratio() << "x fewer weights\n";
/// bayesnn::export_posterior_mean(small.network, "compressed.pt");
/// ```
Compressed compress(const torch::nn::Sequential& model, const CompressOptions& options = {});

/// The input units `options` keeps of a tensor with group scales: a bool tensor [units], on
/// the CPU.
at::Tensor kept_units(const GroupScales& scales, const CompressOptions& options = {});

}  // namespace bayesnn
