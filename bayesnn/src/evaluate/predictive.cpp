#include "bayesnn/predictive.h"

#include "bayesnn/bayes_module.h"

namespace bayesnn {

Prediction predict(const Model& model, const torch::Tensor& inputs, int64_t samples,
                   const PredictOptions& options) {
  TORCH_CHECK(model.module != nullptr && model.forward, "predict: the model is empty");
  TORCH_CHECK(samples >= 0, "predict: samples must be >= 0 (0: the posterior mean), got ", samples);
  TORCH_CHECK(options.batch_size() > 0, "predict: batch_size must be positive, got ",
              options.batch_size());
  TORCH_CHECK(inputs.dim() >= 1 && inputs.size(0) > 0,
              "predict: expected inputs [N, ...] with N > 0, got shape ", inputs.sizes());
  torch::NoGradGuard no_grad;
  const ModeGuard restore(*model.module);
  model.module->eval();
  const int64_t n = inputs.size(0);
  // One posterior draw of the network per sample, evaluated on every input batch: S weight
  // draws in all rather than one per sample and batch (a weight draw costs as much as a
  // forward of a few hundred inputs through a dense layer).
  const int64_t draws = std::max<int64_t>(samples, 1);
  std::vector<torch::Tensor> per_sample;
  per_sample.reserve(static_cast<size_t>(draws));
  if (samples == 0) set_mode(*model.module, Mode::kMean);
  for (int64_t s = 0; s < draws; ++s) {
    if (samples > 0) set_mode(*model.module, Mode::kFrozen);
    std::vector<torch::Tensor> chunks;
    for (int64_t begin = 0; begin < n; begin += options.batch_size()) {
      const int64_t size = std::min(options.batch_size(), n - begin);
      auto logits = model.forward(inputs.narrow(0, begin, size).to(options.device()));
      TORCH_CHECK(logits.dim() == 2 && logits.size(0) == size,
                  "predict: expected the network to return logits [", size, ", C], got shape ",
                  logits.sizes());
      chunks.push_back(torch::softmax(logits, 1).to(torch::kCPU));
    }
    per_sample.push_back(torch::cat(chunks));
  }

  Prediction prediction;
  prediction.samples = torch::stack(per_sample);
  prediction.probs = prediction.samples.mean(0);
  return prediction;
}

}  // namespace bayesnn
