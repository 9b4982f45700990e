// Evaluation of a trained network's posterior predictive, and the files a run writes.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <torch/types.h>

#include "bayesnn/model.h"
#include "bayesnn/predictive.h"

namespace bayesnn::experiment {

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
  double seconds = 0;                ///< wall time of the S forwards
};

/// Draws `samples` posterior samples of `model` on `images` and measures them; `modal`
/// predicts the mode of the sampled labels (the article) instead of the argmax of the mean.
Evaluation evaluate(const Model& model, const torch::Tensor& images, int64_t samples, bool modal,
                    const PredictOptions& options);

/// Every uncertainty score of `evaluation`, oriented so that higher means more uncertain:
/// predictive_entropy, expected_entropy, mutual_information, variation_ratio,
/// chi_square (scored as -X²: a more uniform vote is less certain) and
/// max_probability (scored as 1 - p̄ of the predicted class).
std::map<std::string, torch::Tensor> uncertainty_scores(const Evaluation& evaluation);

/// One row per example: index, label, predicted, probability, entropy, mutual_information,
/// chi_square, expected_entropy, variation_ratio, p0..p{C-1}.
void write_predictions_csv(const std::string& path, const Evaluation& evaluation,
                           const torch::Tensor& labels);

/// Writes `text` to `path` through a temporary file and a rename.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace bayesnn::experiment
