#include "report.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "bayesnn/metrics.h"

namespace bayesnn::experiment {

Evaluation evaluate(const Model& model, const torch::Tensor& images, int64_t samples, bool modal,
                    const PredictOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto prediction = predict(model, images, samples, options);
  Evaluation result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& sampled = prediction.samples;
  result.probs = prediction.probs;
  result.modal_class = metrics::modal_class(sampled);
  result.predicted = modal ? result.modal_class : prediction.probs.argmax(1);
  result.probability =
      prediction.probs.gather(1, result.predicted.unsqueeze(1)).squeeze(1).to(torch::kFloat64);
  result.entropy = metrics::predictive_entropy(sampled);
  result.expected_entropy = metrics::expected_entropy(sampled);
  result.mutual_information = metrics::mutual_information(sampled);
  result.variation_ratio = metrics::variation_ratio(sampled);
  result.chi_square = metrics::chi_square_uniformity(sampled);
  return result;
}

std::map<std::string, torch::Tensor> uncertainty_scores(const Evaluation& evaluation) {
  return {{"predictive_entropy", evaluation.entropy},
          {"expected_entropy", evaluation.expected_entropy},
          {"mutual_information", evaluation.mutual_information},
          {"variation_ratio", evaluation.variation_ratio},
          {"chi_square", -evaluation.chi_square},
          {"max_probability", 1.0 - evaluation.probability}};
}

void write_predictions_csv(const std::string& path, const Evaluation& evaluation,
                           const torch::Tensor& labels) {
  const std::string temporary = path + ".tmp";
  std::FILE* file = std::fopen(temporary.c_str(), "w");
  TORCH_CHECK(file != nullptr, "cannot write '", temporary, "'");
  auto probs = evaluation.probs.to(torch::kFloat64).contiguous();
  const int64_t classes = probs.size(1);
  std::fprintf(file,
               "index,label,predicted,probability,entropy,mutual_information,chi_square,"
               "expected_entropy,variation_ratio");
  for (int64_t c = 0; c < classes; ++c) std::fprintf(file, ",p%lld", static_cast<long long>(c));
  std::fputc('\n', file);
  auto label = labels.to(torch::kInt64).contiguous();
  auto predicted = evaluation.predicted.contiguous();
  auto column = [](const torch::Tensor& t) { return t.to(torch::kFloat64).contiguous(); };
  auto probability = column(evaluation.probability), entropy = column(evaluation.entropy),
       mutual = column(evaluation.mutual_information), chi = column(evaluation.chi_square),
       expected = column(evaluation.expected_entropy), ratio = column(evaluation.variation_ratio);
  const auto* p = probs.data_ptr<double>();
  for (int64_t i = 0; i < probs.size(0); ++i) {
    std::fprintf(file, "%lld,%lld,%lld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g", static_cast<long long>(i),
                 static_cast<long long>(label.data_ptr<int64_t>()[i]),
                 static_cast<long long>(predicted.data_ptr<int64_t>()[i]),
                 probability.data_ptr<double>()[i], entropy.data_ptr<double>()[i],
                 mutual.data_ptr<double>()[i], chi.data_ptr<double>()[i],
                 expected.data_ptr<double>()[i], ratio.data_ptr<double>()[i]);
    for (int64_t c = 0; c < classes; ++c) std::fprintf(file, ",%.4g", p[i * classes + c]);
    std::fputc('\n', file);
  }
  const bool ok = std::fclose(file) == 0;
  TORCH_CHECK(ok, "cannot finish writing '", temporary, "'");
  std::filesystem::rename(temporary, path);
}

void write_text_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::trunc);
    TORCH_CHECK(file.good(), "cannot write '", temporary, "'");
    file << text;
    TORCH_CHECK(file.good(), "cannot finish writing '", temporary, "'");
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace bayesnn::experiment
