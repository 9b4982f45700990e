#include "exports.h"

#include <string>

#include <fmt/format.h>
#include <torch/torch.h>

#include "evaluation.h"

namespace bayesnn::experiment {

ExportMetadata export_metadata(const nlohmann::json& metrics, const ExperimentOptions& options) {
  ExportMetadata metadata;
  metadata.training_command = options.command;
  metadata.extra["model"] = options.model;
  metadata.extra["data"] = metrics.at("data").get<std::string>();
  return with_accuracy(metadata, metrics.at("accuracy").get<double>());
}

ExportMetadata with_accuracy(ExportMetadata metadata, double accuracy) {
  metadata.extra["accuracy"] = fmt::format("{:.4f}", accuracy);
  return metadata;
}

void export_networks(torch::nn::Sequential net, const nlohmann::json& metrics,
                     const OutputFiles& files, const ExperimentOptions& options) {
  const auto metadata = export_metadata(metrics, options);
  net->to(torch::kCPU);
  export_posterior_mean(net, files.dir + "/posterior_mean.pt", metadata);
  export_predictive(net, files.dir + "/predictive.pt", test_samples(options), metadata);
}

}  // namespace bayesnn::experiment
