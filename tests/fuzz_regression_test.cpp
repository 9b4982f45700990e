// The fuzz targets' findings, kept: every input under fuzz/regressions/ (named by its target:
// checkpoint-*, idx-*, export-*) goes through the same reader as in fuzz/ and must end in that
// reader's own error (or a valid result), never a crash or a foreign exception. The seed
// corpora under fuzz/corpus/ must stay valid inputs.
#include "support/catch.h"

#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bayesnn/bayesnn.h"

namespace fs = std::filesystem;
namespace bnn = bayesnn;

namespace {

const fs::path kFuzzDir = fs::path(BAYESNN_SOURCE_DIR) / "fuzz";

std::vector<fs::path> files_starting(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) found.push_back(entry.path());
  }
  return found;
}

// fuzz/checkpoint.cpp's model, and a trainer to load into it.
struct CheckpointReader {
  torch::nn::Sequential model{
      bnn::BayesLinear(bnn::BayesLinearOptions(4, 3).prior(bnn::Prior::hierarchical())),
      torch::nn::ReLU(), bnn::BayesLinear(3, 2)};
  bnn::Trainer trainer{model, bnn::TrainerOptions().progress(false)};
};

}  // namespace

TEST_CASE("fuzz regressions: each input found ends in its reader's own error", "[fuzz]") {
  const auto regressions = kFuzzDir / "regressions";
  CheckpointReader reader;
  int inputs = 0;
  for (const auto& path : files_starting(regressions, "checkpoint-")) {
    INFO(path);
    ++inputs;
    try {
      reader.trainer.load_checkpoint(path.string());
    } catch (const c10::Error& error) {
      const std::string message = error.what_without_backtrace();
      CHECK_THAT(message, Catch::Contains("is not a readable bayesnn checkpoint"));
      CHECK(message.find('\n') == std::string::npos);
    }
  }
  for (const auto& path : files_starting(regressions, "idx-")) {
    INFO(path);
    ++inputs;
    try {
      bnn::read_idx_images(path.string());
    } catch (const bnn::DataError&) {
    }
    try {
      bnn::read_idx_labels(path.string());
    } catch (const bnn::DataError&) {
    }
  }
  for (const auto& path : files_starting(regressions, "export-")) {
    INFO(path);
    ++inputs;
    try {
      bnn::read_export_info(path.string());
    } catch (const bnn::ExportReadError& error) {
      CHECK_THAT(error.what(), Catch::Contains("is not a readable bayesnn export"));
    }
  }
  CHECK(inputs == static_cast<int>(std::distance(fs::directory_iterator(regressions),
                                                 fs::directory_iterator())));
}

TEST_CASE("fuzz corpora: the seeds are valid inputs of their readers", "[fuzz]") {
  CheckpointReader reader;
  reader.trainer.load_checkpoint((kFuzzDir / "corpus/checkpoint/trained-1-epoch").string());
  CHECK(reader.trainer.epoch() == 1);
  CHECK(bnn::read_idx_images((kFuzzDir / "corpus/idx/images-2x3x4").string()).sizes() ==
        torch::IntArrayRef{2, 3, 4});
  CHECK(bnn::read_idx_labels((kFuzzDir / "corpus/idx/labels-5").string()).numel() == 5);
  const auto info = bnn::read_export_info((kFuzzDir / "corpus/export/predictive").string());
  CHECK(info.format == "bayesnn.predictive");
  CHECK(info.samples == 10);
  CHECK(info.metadata.training_command == "make_corpus");
}
