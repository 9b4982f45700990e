#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "bayesnn/export_context.h"
#include "bayesnn/group_scales.h"

namespace bayesnn {

/// Log α thresholds by layer name ("fc1").
using LayerThresholds = std::map<std::string, double>;

/// When `compress` calls a unit off. A unit j is off when its scale's posterior says it carries
/// noise, log α_j = log(Var_q[z_j] / E_q[z_j]²) ≥ its layer's threshold (`layer_max_log_alpha`
/// where it names the layer, else `max_log_alpha`), or nothing, |E_q[z_j]| < `min_scale` (v has
/// a N(0, 1) prior, so z is the unit's weight scale). The default threshold, -3, is the middle
/// of the per-layer thresholds Louizos et al. chose by hand (-2.8, -3, -5) and of those
/// `choose_thresholds` picked on held-out data in our runs (docs/results.md, "Compression").
///
/// Example:
/// ```
/// auto options = bayesnn::CompressOptions().max_log_alpha(-2.0).layer_max_log_alpha({{"fc3",
/// -4.0}});
/// ```
struct CompressOptions {
  /// Units with log α at least this are off, in a layer `layer_max_log_alpha` does not name; not
  /// NaN (+inf: log α switches nothing off).
  TORCH_ARG(double, max_log_alpha) = -3.0;
  /// Per-layer thresholds by the layer's name in the model ("fc1"); not NaN.
  TORCH_ARG(LayerThresholds, layer_max_log_alpha) = {};
  /// Units with |E[z]| below this are off; non-negative and finite.
  TORCH_ARG(double, min_scale) = 1e-3;

 public:
  /// The threshold of the layer named `path`.
  double threshold(const std::string& path) const;
};

/// What `compress` did to one Bayesian layer.
struct LayerCompression {
  std::string path;          ///< the layer's name in the model ("fc1")
  int64_t unit_dim = 1;      ///< where its group scales sit: 1, input units; 0, output units
  int64_t units = 0;         ///< its units along `unit_dim` (input units without group scales)
  int64_t units_kept = 0;    ///< those left on
  int64_t weights = 0;       ///< its weight's elements (biases not counted)
  int64_t weights_kept = 0;  ///< those the compressed layer keeps
  double max_log_alpha = 0;  ///< the threshold applied to it
};

/// What `compress` did to a model: per layer, in order, and in total.
struct CompressionReport {
  std::vector<LayerCompression> layers;  ///< one per Bayesian layer, in the model's order
  int64_t weights() const;               ///< every layer's weight elements
  int64_t weights_kept() const;          ///< those the compressed model keeps
  /// weights_kept() / weights(): the fraction kept.
  double kept_fraction() const;
  /// weights() / weights_kept(): how many times fewer weights.
  double ratio() const;
  /// The report of compressing a model and then its compressed network with `next`: each
  /// layer's units and weights from this report, what it keeps and its threshold from `next`.
  /// Throws unless both name the same layers in the same order.
  CompressionReport then(const CompressionReport& next) const;
};

/// The units of dimension 1 that a compressed model keeps where the layer before cannot drop
/// the others itself (the model's input; the features of a flattened feature map whose channel
/// is kept): y = x.index_select(1, indices). Exported as one `torch.index_select`. `compress`
/// compresses a network that holds them again: it merges a new selection into the one there.
class SelectUnitsImpl : public torch::nn::Cloneable<SelectUnitsImpl>, public ScriptExportable {
 public:
  /// Keeps the units at `indices_` (converted to int64; none where undefined) of an input with
  /// `units_` units in dimension 1 (-1: not known; `compress` needs it where the selection
  /// follows a Flatten).
  explicit SelectUnitsImpl(at::Tensor indices_ = at::Tensor(), int64_t units_ = -1);
  /// Registers `indices` as a buffer.
  void reset() override;
  /// Prints "bayesnn::SelectUnits(N of M units)", N the number of indices, M `units` (where
  /// known).
  void pretty_print(std::ostream& stream) const override;
  void export_torchscript(ExportContext& ctx) const override;
  /// x.index_select(1, indices): the kept units of dimension 1.
  torch::Tensor forward(const torch::Tensor& x);
  /// The kept units' indices (int64), a buffer.
  torch::Tensor indices;
  /// The units of the input it selects from (-1: not known). Set by the constructor, not a
  /// buffer: a network rebuilt to load a checkpoint passes it again.
  int64_t units = -1;
};
TORCH_MODULE(SelectUnits);

/// A compressed model and what was removed.
struct Compressed {
  /// The smaller network: the model's modules in order, its Bayesian layers rebuilt at their
  /// new sizes, with a `SelectUnits` named `<layer>_select` before a layer where one is needed.
  torch::nn::Sequential network;
  CompressionReport report;  ///< what was removed, per layer and in total
};

/// Bayesian compression (Louizos et al. 2017): the smaller network that a model with group
/// priors (`Prior::group_horseshoe`, `Prior::group_normal_jeffreys`) says it needs. Every input
/// unit that `options` calls off is removed with its column of the layer's weight and, where
/// the layer before produces it, with that layer's row and bias; the layers are rebuilt at
/// their new sizes with their posteriors (and their priors' per-unit hyper-parameters) sliced,
/// so the result trains, predicts, exports and checkpoints like any bayesnn network. Its
/// posterior mean equals the model's with the pruned units' scales set to zero.
///
/// Units are a dense layer's inputs and a convolution's output filters (where its group scales
/// sit): a filter switched off goes with its bias and the consumer's input channel (through
/// activations and pooling; through Flatten, the dense layer's features of that channel). A
/// compressed network compresses again (after fine-tuning, say): a `SelectUnits` just before a
/// layer is merged with what the new thresholds remove.
///
/// `model`: a flat `torch::nn::Sequential` of BayesLinear, BayesConv1d and BayesConv2d layers
/// with, between them, modules that act on each unit alone (activations, dropout, pooling,
/// Flatten, Identity; where a layer drops its own output units, ones that keep zero at zero,
/// so not Sigmoid or Softplus); before the first layer and after the last anything goes. Layers
/// without group scales keep their units; the last layer keeps its outputs. Throws, naming the
/// module, on a model without group scales, a pruned unit whose producer compress cannot shrink, or
/// `options` out of range; the model is left unchanged.
///
/// Example:
/// ```
/// auto small = bayesnn::compress(net);
/// std::cout << small.report.ratio() << "x fewer weights\n";
/// bayesnn::export_posterior_mean(small.network, "compressed.pt");
/// ```
Compressed compress(const torch::nn::Sequential& model, const CompressOptions& options = {});

/// The units a tensor with group scales keeps at threshold `max_log_alpha` and `min_scale`
/// (`CompressOptions`): a bool tensor [units], on the CPU.
at::Tensor kept_units(const GroupScales& scales, double max_log_alpha, double min_scale);
/// The same with `options.max_log_alpha()`.
at::Tensor kept_units(const GroupScales& scales, const CompressOptions& options = {});

/// The forward multiply-adds of one example through `model`'s layers with a weight (Bayesian,
/// or torch's Linear and convolutions): per layer, its output elements times its weight's
/// elements per output unit; the convention of the L0 and Bayesian-compression tables (biases,
/// activations and pooling not counted). `example`: one input of batch size 1.
int64_t multiply_adds(const torch::nn::Sequential& model, const at::Tensor& example);

/// `choose_thresholds`' settings.
struct ThresholdSearchOptions {
  /// How far the compressed posterior mean's validation accuracy may fall below the full
  /// network's, in percentage points; non-negative.
  TORCH_ARG(double, budget) = 0.1;
  /// How far its validation NLL may rise above the full network's, as a fraction (inf: no
  /// limit). Removing units whose means still carry signal shrinks the logits, which the accuracy
  /// hardly sees and the calibration does; a network fine-tuned after compression can afford
  /// more.
  TORCH_ARG(double, nll_tolerance) = 0.1;
  /// The validation accuracy (percent) the budget counts from; unset, the model's own. A network
  /// compressed, fine-tuned and compressed again counts from the original network's, so that
  /// every round stays within the budget of it.
  TORCH_ARG(std::optional<double>, reference_accuracy) = std::nullopt;
  /// The mean validation NLL the tolerance counts from; unset, the model's own.
  TORCH_ARG(std::optional<double>, reference_nll) = std::nullopt;
  /// The log α thresholds each layer may take, tried from the largest down.
  TORCH_ARG(std::vector<double>, candidates) = {4,  3,    2,  1.5,  1,  0.5,  0,  -0.5, -1, -1.5,
                                                -2, -2.5, -3, -3.5, -4, -4.5, -5, -6,   -7, -8};
  /// Units with |E[z]| below this are off at every threshold (`CompressOptions::min_scale`).
  TORCH_ARG(double, min_scale) = 1e-3;
  /// Validation images per forward.
  TORCH_ARG(int64_t, batch_size) = 1000;
};

/// One point of the search: the thresholds tried, the ratio and the validation accuracy.
struct ThresholdTrial {
  LayerThresholds thresholds;  ///< the log α threshold of each layer with group scales
  double ratio = 1;            ///< weights / weights kept
  double accuracy = 0;         ///< the compressed posterior mean's validation accuracy
  bool within_budget = false;  ///< accuracy and NLL within the budget and the NLL tolerance
  double nll = 0;              ///< its mean validation NLL
  bool taken = false;          ///< a step of the greedy path (the first trial: the start)
};

/// What `choose_thresholds` found.
struct ThresholdChoice {
  CompressOptions options;             ///< the chosen per-layer thresholds (and `min_scale`)
  double full_accuracy = 0;            ///< the full network's posterior-mean validation accuracy
  double full_nll = 0;                 ///< its mean validation NLL
  double accuracy = 0;                 ///< the chosen compressed network's
  double nll = 0;                      ///< and its mean validation NLL
  double ratio = 1;                    ///< its weights / weights kept
  std::vector<ThresholdTrial> trials;  ///< every network tried, in order: the trade-off curve
};

/// Chooses each layer's log α threshold on held-out data (never the test set): greedily, from
/// every layer at its largest candidate, the one-layer step down (to the next candidate that
/// switches another unit off) that removes the most weights while the compressed posterior
/// mean's accuracy on (`inputs`, `targets`) stays within `options.budget` points of the full
/// network's (or `options.reference_accuracy`) and its NLL within `options.nll_tolerance` of the
/// full network's (or `options.reference_nll`; 10 %: a network that keeps its accuracy but loses
/// the units that make it confident is badly calibrated), until no step does. Throws where a layer
/// keeps no unit at the largest candidate.
///
/// Example:
/// ```
/// auto choice = bayesnn::choose_thresholds(net, validation.inputs, validation.targets);
/// auto small = bayesnn::compress(net, choice.options);
/// ```
ThresholdChoice choose_thresholds(const torch::nn::Sequential& model, const at::Tensor& inputs,
                                  const at::Tensor& targets,
                                  const ThresholdSearchOptions& options = {});

}  // namespace bayesnn
