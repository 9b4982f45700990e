// Trainer::load_checkpoint on arbitrary bytes: a file that is not this model's checkpoint is one
// c10::Error naming it, never a crash.
#include <cstddef>
#include <cstdint>

#include <torch/torch.h>

#include "bayesnn/bayesnn.h"
#include "input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The model of the seed corpus (fuzz/corpus/checkpoint, written by make_corpus.cpp).
  static torch::nn::Sequential model(
      bayesnn::BayesLinear(bayesnn::BayesLinearOptions(4, 3).prior(bayesnn::Prior::hierarchical())),
      torch::nn::ReLU(), bayesnn::BayesLinear(3, 2));
  static bayesnn::Trainer trainer(model, bayesnn::TrainerOptions().progress(false));
  const auto& path = bayesnn::fuzz::input_file(data, size);
  try {
    trainer.load_checkpoint(path);
  } catch (const c10::Error&) {
  }
  return 0;
}
