#include "evaluation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ostream>

#include <torch/torch.h>

#include "bayesnn/atomic_file.h"
#include "bayesnn/metrics.h"
#include "networks.h"

namespace bayesnn::experiment {
namespace {

double mean_of(const torch::Tensor& values) {
  if (values.numel() == 0) return std::nan("");
  return values.to(torch::kFloat64).mean().item<double>();
}

double median_of(const torch::Tensor& values) {
  if (values.numel() == 0) return std::nan("");
  return values.to(torch::kFloat64).median().item<double>();
}

// printf's formats, so that the table reads the same on every platform and fmt version.
template <typename... Values>
void print_to(std::ostream& out, const char* format, Values... values) {
  char line[256];
  const int length = std::snprintf(line, sizeof line, format, values...);
  if (length < 0) out.setstate(std::ios::failbit);
  out.write(line, std::clamp<int>(length, 0, sizeof line - 1));
}

// Images per forward while predicting: bounds memory, not the result.
constexpr int64_t kPredictBatchMlp = 10000;
constexpr int64_t kPredictBatchCnn = 100;

}  // namespace

Evaluation evaluate(const Model& model, const torch::Tensor& images, int64_t samples, bool modal,
                    const PredictOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto prediction = predict(model, images, samples, options);
  Evaluation result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.samples = samples;
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
  if (evaluation.samples == 1) {
    return {{"predictive_entropy", evaluation.entropy},
            {"max_probability", 1.0 - evaluation.probability}};
  }
  return {{"predictive_entropy", evaluation.entropy},
          {"expected_entropy", evaluation.expected_entropy},
          {"mutual_information", evaluation.mutual_information},
          {"variation_ratio", evaluation.variation_ratio},
          {"chi_square", -evaluation.chi_square},
          {"max_probability", 1.0 - evaluation.probability}};
}

nlohmann::json aurocs(const std::map<std::string, torch::Tensor>& scores,
                      const torch::Tensor& positives) {
  nlohmann::json result = nlohmann::json::object();
  const int64_t count = positives.sum().item<int64_t>();
  if (count == 0 || count == positives.numel()) return result;
  for (const auto& [name, score] : scores) result[name] = metrics::auroc(score, positives);
  return result;
}

nlohmann::json reliability(const torch::Tensor& probs, const torch::Tensor& labels, int64_t bins) {
  nlohmann::json result = nlohmann::json::array();
  for (const auto& bin : metrics::reliability_diagram(probs, labels, bins)) {
    result.push_back({{"lower", bin.lower},
                      {"upper", bin.upper},
                      {"count", bin.count},
                      {"mean_confidence", bin.mean_confidence},
                      {"accuracy", bin.accuracy}});
  }
  return result;
}

nlohmann::json uncertainty_summary(const Evaluation& test, const torch::Tensor& labels,
                                   const Evaluation& ood) {
  const auto wrong = test.predicted.ne(labels);
  const auto correct = wrong.logical_not();
  // Every sampled label the same: the chi-square statistic at its maximum S (C - 1).
  const auto unanimous = test.variation_ratio.eq(0);
  const int64_t classes = test.probs.size(1);
  return {{"wrong", wrong.sum().item<int64_t>()},
          {"median_chi_square_correct", median_of(test.chi_square.index({correct}))},
          {"median_chi_square_wrong", median_of(test.chi_square.index({wrong}))},
          {"mean_chi_square_correct", mean_of(test.chi_square.index({correct}))},
          {"mean_chi_square_wrong", mean_of(test.chi_square.index({wrong}))},
          {"unanimous_correct", mean_of(unanimous.index({correct}))},
          {"unanimous_wrong", mean_of(unanimous.index({wrong}))},
          {"median_entropy_correct", median_of(test.entropy.index({correct}))},
          {"median_entropy_wrong", median_of(test.entropy.index({wrong}))},
          {"median_chi_square_ood", median_of(ood.chi_square)},
          {"median_entropy_ood", median_of(ood.entropy)},
          {"chi_square_max", static_cast<double>(test.samples * (classes - 1))}};
}

void write_predictions_csv(const std::string& path, const Evaluation& evaluation,
                           const torch::Tensor& labels) {
  auto column = [](const torch::Tensor& t) { return t.to(torch::kFloat64).contiguous(); };
  const auto probs = column(evaluation.probs);
  const auto label = labels.to(torch::kInt64).contiguous();
  const auto predicted = evaluation.predicted.contiguous();
  const auto probability = column(evaluation.probability), entropy = column(evaluation.entropy),
             mutual = column(evaluation.mutual_information), chi = column(evaluation.chi_square),
             expected = column(evaluation.expected_entropy),
             ratio = column(evaluation.variation_ratio);
  const int64_t classes = probs.size(1);
  const auto* p = probs.data_ptr<double>();
  write_file_atomically(
      path,
      [&](std::ostream& out) {
        out << "index,label,predicted,probability,entropy,mutual_information,chi_square,"
               "expected_entropy,variation_ratio";
        for (int64_t c = 0; c < classes; ++c) out << ",p" << c;
        out << '\n';
        for (int64_t i = 0; i < probs.size(0); ++i) {
          print_to(out, "%lld,%lld,%lld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g", static_cast<long long>(i),
                   static_cast<long long>(label.data_ptr<int64_t>()[i]),
                   static_cast<long long>(predicted.data_ptr<int64_t>()[i]),
                   probability.data_ptr<double>()[i], entropy.data_ptr<double>()[i],
                   mutual.data_ptr<double>()[i], chi.data_ptr<double>()[i],
                   expected.data_ptr<double>()[i], ratio.data_ptr<double>()[i]);
          for (int64_t c = 0; c < classes; ++c) print_to(out, ",%.4g", p[i * classes + c]);
          out << '\n';
        }
      },
      "the predictions");
}

int64_t test_samples(const ExperimentOptions& options) {
  return is_deterministic(options.model) ? 1 : options.test_samples;
}

PredictOptions predict_options(const ExperimentOptions& options, torch::Device device) {
  const int64_t batch = options.predict_batch > 0 ? options.predict_batch
                        : is_cnn(options.model)   ? kPredictBatchCnn
                                                  : kPredictBatchMlp;
  return PredictOptions().batch_size(batch).device(device);
}

std::pair<double, double> accuracy_and_ece(const Model& model, const Dataset& set, int64_t samples,
                                           const PredictOptions& predict) {
  const auto probs = bayesnn::predict(model, set.inputs, samples, predict).probs;
  const auto labels = set.targets.to(probs.device());
  return {metrics::accuracy(probs, labels),
          metrics::expected_calibration_error(probs, labels, kCalibrationBins)};
}

Results evaluate_network(const torch::nn::Sequential& net, const Data& data,
                         const ExperimentOptions& options, torch::Device device) {
  const Model model = net;
  const auto predict = predict_options(options, device);
  const bool modal = options.prediction == "mode";
  const int64_t samples = test_samples(options);
  Results results;
  results.mean_probs = bayesnn::predict(model, data.test.inputs, 0, predict).probs;
  results.test = evaluate(model, data.test.inputs, samples, modal, predict);
  results.ood = evaluate(model, data.ood.inputs, samples, modal, predict);
  return results;
}

void write_prediction_tables(const std::string& dir, const Results& results, const Data& data) {
  write_predictions_csv(dir + "/predictions.csv", results.test, data.test.targets);
  write_predictions_csv(dir + "/ood_predictions.csv", results.ood, data.ood.targets);
}

}  // namespace bayesnn::experiment
