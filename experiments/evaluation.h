// Evaluation of a trained network's posterior predictive on the test and OOD images: its
// measures, as metrics.json holds them, and the per-example tables.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "bayesnn/model.h"
#include "bayesnn/predictive.h"
#include "data.h"
#include "options.h"

namespace bayesnn::experiment {

/// Bins of the reliability diagram and of the ECE.
inline constexpr int64_t kCalibrationBins = 15;

/// The posterior predictive on one set of images and every per-example uncertainty.
struct Evaluation {
  torch::Tensor probs;               ///< [N, C] mean class probabilities over S samples
  torch::Tensor predicted;           ///< int64 [N]: argmax of probs, or the modal sampled label
  torch::Tensor modal_class;         ///< int64 [N]: the mode of the S sampled labels
  torch::Tensor probability;         ///< [N] mean probability of the predicted class
  torch::Tensor entropy;             ///< [N] predictive entropy H[p̄] (nats)
  torch::Tensor expected_entropy;    ///< [N] mean entropy of the sampled distributions
  torch::Tensor mutual_information;  ///< [N] entropy - expected_entropy
  torch::Tensor variation_ratio;     ///< [N] 1 - (votes of the modal class) / S
  torch::Tensor chi_square;          ///< [N] the article's chi-square uniformity statistic
  int64_t samples = 0;               ///< S, the posterior samples drawn
  double seconds = 0;                ///< wall time of the S forwards
};

/// Draws `samples` posterior samples of `model` on `images` and measures them; `modal`
/// predicts the mode of the sampled labels (the article) instead of the argmax of the mean.
Evaluation evaluate(const Model& model, const torch::Tensor& images, int64_t samples, bool modal,
                    const PredictOptions& options);

/// Every uncertainty score of `evaluation`, oriented so that higher means more uncertain:
/// predictive_entropy, expected_entropy, mutual_information, variation_ratio,
/// chi_square (scored as -X²: a more uniform vote is less certain) and
/// max_probability (scored as 1 - p̄ of the predicted class). With one sample (a deterministic
/// network) only predictive_entropy and max_probability: the others measure disagreement.
std::map<std::string, torch::Tensor> uncertainty_scores(const Evaluation& evaluation);

/// The AUROC of every score (higher = more uncertain) as a detector of `positives` (bool [N]),
/// by score name; an empty object when every example or none is positive (the AUROC is then
/// undefined, e.g. no misclassified example).
nlohmann::json aurocs(const std::map<std::string, torch::Tensor>& scores,
                      const torch::Tensor& positives);

/// The `bins` equal-width confidence bins of the reliability diagram of `probs` [N, C] against
/// `labels` [N], each as {lower, upper, count, mean_confidence, accuracy}.
nlohmann::json reliability(const torch::Tensor& probs, const torch::Tensor& labels, int64_t bins);

/// The article's claim measured, that wrong predictions are more uncertain: the number wrong;
/// the median and mean chi-square statistic X² and the median predictive entropy of the correct,
/// the wrong and the OOD predictions; the fraction of unanimous samples (X² at its maximum)
/// among the correct and the wrong; and that maximum, chi_square_max = S (C - 1), with C the
/// number of classes of `test.probs` [N, C]. NaN where a group is empty.
nlohmann::json uncertainty_summary(const Evaluation& test, const torch::Tensor& labels,
                                   const Evaluation& ood);

/// One row per example: index, label, predicted, probability, entropy, mutual_information,
/// chi_square, expected_entropy, variation_ratio, p0..p{C-1}; written whole or not at all
/// (`write_file_atomically`, which throws `WriteError` naming `path`).
void write_predictions_csv(const std::string& path, const Evaluation& evaluation,
                           const torch::Tensor& labels);

/// S = --test-samples for a Bayesian network; one for a deterministic twin, whose every sample is
/// the same.
int64_t test_samples(const ExperimentOptions& options);

/// The predictive on `device`, --predict-batch images per forward (0: 10,000 for an MLP, 100 for
/// a CNN; the batch bounds memory, not the result).
PredictOptions predict_options(const ExperimentOptions& options, torch::Device device);

/// The accuracy and ECE (kCalibrationBins bins) on `set` of the predictive of `samples` draws
/// (0: the posterior-mean network).
std::pair<double, double> accuracy_and_ece(const Model& model, const Dataset& set, int64_t samples,
                                           const PredictOptions& predict);

/// The posterior predictive of S = --test-samples draws on the test and the OOD images, and the
/// posterior-mean network's test probabilities.
struct Results {
  Evaluation test;           ///< on the test images
  Evaluation ood;            ///< on the out-of-distribution images
  torch::Tensor mean_probs;  ///< [N, C] the posterior-mean network's on the test images
};

/// Measures `net`'s predictive on `data`'s test and OOD images, as the options say (--prediction).
Results evaluate_network(const torch::nn::Sequential& net, const Data& data,
                         const ExperimentOptions& options, torch::Device device);

/// predictions.csv and ood_predictions.csv in `dir` (`write_predictions_csv`).
void write_prediction_tables(const std::string& dir, const Results& results, const Data& data);

}  // namespace bayesnn::experiment
