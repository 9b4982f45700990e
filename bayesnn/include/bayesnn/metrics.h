#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

/// Metrics of a (posterior) predictive distribution: stateless free functions.
///
/// Conventions shared by every function here:
/// - `probs` are class probabilities [N, C] (typically the mean over posterior samples) and
///   `labels` int64 class indices [N] in [0, C); `samples` are per-sample probabilities
///   [S, N, C]. Any floating dtype and device is accepted; the computation is done in float64
///   on the inputs' device, scalars come back as `double`, per-example results as float64 [N].
/// - The predicted class of a probability vector is its argmax; ties go to the smallest class
///   index.
/// - Entropies are in nats, with 0 log 0 = 0.
/// - Invalid inputs raise c10::Error (TORCH_CHECK) naming the function and the bad value.
namespace bayesnn::metrics {

/// Classification accuracy: (1/N) sum_i [argmax_c probs_ic == y_i].
double accuracy(const at::Tensor& probs, const at::Tensor& labels);

/// Mean negative log-likelihood: (1/N) sum_i -log max(probs_{i,y_i}, p_min), with
/// p_min = FLT_MIN ≈ 1.18e-38, so each example contributes at most -log(FLT_MIN) ≈ 87.34 nats:
/// a probability that underflowed to 0 in float32 gives a large finite loss rather than inf,
/// and no probability a float32 softmax can represent as a normal number is changed.
double nll(const at::Tensor& probs, const at::Tensor& labels);

/// Multi-class Brier score (Brier 1950): (1/N) sum_i sum_c (probs_ic - [c == y_i])², the squared
/// error summed over classes and averaged over examples (not divided by C), in [0, 2].
double brier(const at::Tensor& probs, const at::Tensor& labels);

/// One equal-width confidence bin of a reliability diagram.
struct CalibrationBin {
  /// Lower edge b / B of bin b (inclusive).
  double lower = 0.0;
  /// Upper edge (b + 1) / B (exclusive, except that the last bin includes 1).
  double upper = 0.0;
  /// Number of examples whose confidence max_c probs_ic falls in [lower, upper).
  int64_t count = 0;
  /// Mean confidence of those examples: (1/n_b) sum_{i in b} max_c probs_ic; 0 when count == 0.
  double mean_confidence = 0.0;
  /// Their accuracy: (1/n_b) sum_{i in b} [argmax_c probs_ic == y_i]; 0 when count == 0.
  double accuracy = 0.0;
};

/// Per-bin data of a reliability diagram: `bins` equal-width bins of the confidence
/// conf_i = max_c probs_ic, example i in bin b = min(floor(conf_i * bins), bins - 1), so bin b
/// covers [b / bins, (b + 1) / bins) and the last bin also holds conf = 1. Returns all `bins`
/// bins in order, empty ones included.
std::vector<CalibrationBin> reliability_diagram(const at::Tensor& probs, const at::Tensor& labels,
                                                int64_t bins = 15);

/// Expected calibration error over the bins of `reliability_diagram` (Naeini et al. 2015,
/// Guo et al. 2017): ECE = sum_b (n_b / N) |accuracy_b - mean_confidence_b|.
double expected_calibration_error(const at::Tensor& probs, const at::Tensor& labels,
                                  int64_t bins = 15);

/// Entropy of the predictive (mean over samples) distribution, per example:
/// H[p̄_i] = -sum_c p̄_ic log p̄_ic, with p̄_ic = (1/S) sum_s samples_sic. [S, N, C] -> [N].
at::Tensor predictive_entropy(const at::Tensor& samples);

/// Mean entropy of the sampled distributions, per example (the aleatoric part):
/// (1/S) sum_s -sum_c samples_sic log samples_sic. [S, N, C] -> [N].
at::Tensor expected_entropy(const at::Tensor& samples);

/// Mutual information between the prediction and the weights (BALD, the epistemic part):
/// I_i = predictive_entropy_i - expected_entropy_i >= 0 (rounding below 0 is clamped to 0).
/// [S, N, C] -> [N].
at::Tensor mutual_information(const at::Tensor& samples);

/// Predicted class of each example as the mode of its S sampled labels argmax_c samples_sic
/// (the article's prediction); ties go to the smallest class index. [S, N, C] -> int64 [N].
at::Tensor modal_class(const at::Tensor& samples);

/// Variation ratio, per example: 1 - max_c n_ic / S, where n_ic is the number of samples whose
/// argmax is class c; 0 when all samples agree. [S, N, C] -> [N].
at::Tensor variation_ratio(const at::Tensor& samples);

/// The article's chi-square statistic of how uniform the S sampled labels of an example are:
/// X_i = sum_c (n_ic - S/C)² / (S/C), with n_ic the number of samples whose argmax is class c.
/// 0 for an even split (most uncertain), S (C - 1) when all samples agree (least uncertain).
/// [S, N, C] -> [N].
at::Tensor chi_square_uniformity(const at::Tensor& samples);

/// Area under the ROC curve of `scores` [N] (higher = more likely positive) as a detector of
/// `positives` (bool [N]), with tied scores given their average rank:
/// AUROC = U / (n_pos n_neg), U = sum_{i positive} rank_i - n_pos (n_pos + 1) / 2, i.e. the
/// Mann-Whitney probability P(score_pos > score_neg) + 1/2 P(score_pos = score_neg).
/// O(N log N). Needs at least one positive and one negative, and finite scores.
double auroc(const at::Tensor& scores, const at::Tensor& positives);

}  // namespace bayesnn::metrics
