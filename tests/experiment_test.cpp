// Smoke tests of the bayesnn-experiment executable on a tiny synthetic IDX dataset: each network
// trains for one epoch on a few hundred images and writes every file and metrics.json key the
// issue pins; the command line refuses unknown and malformed options with a message.
#include "support/catch.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/idx_files.h"

using bayesnn::test::TempDir;
using nlohmann::json;

namespace {

constexpr int kTrainImages = 300;
constexpr int kTestImages = 100;

// An MNIST-shaped dataset in `dir`; a fifth of the labels are random, so a trained network
// still gets some wrong (the misclassification AUROC needs both kinds), and `pattern_shift`
// moves the bars, so a shifted copy serves as the out-of-distribution set.
void write_synthetic_mnist(const std::string& dir, int pattern_shift, uint32_t seed) {
  bayesnn::test::write_synthetic_mnist(dir, {kTrainImages, kTestImages, pattern_shift, 0.2, seed});
}

struct Result {
  int exit_code = -1;
  std::string output;
};

// Runs bayesnn-experiment with `arguments`, stdout and stderr captured together. Passive OpenMP
// waiting: ctest runs cases in parallel, and spinning threads on busy cores slow a run tenfold.
Result run_experiment(const std::string& arguments, const TempDir& scratch) {
#ifdef BAYESNN_EXPERIMENT_EXE
  const std::string log = scratch.file("output.txt");
  const std::string command = std::string("OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE '") +
                              BAYESNN_EXPERIMENT_EXE + "' " + arguments + " > '" + log + "' 2>&1";
  const int status = std::system(command.c_str());
  Result result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream file(log);
  std::stringstream text;
  text << file.rdbuf();
  result.output = text.str();
  return result;
#else
  (void)arguments;
  (void)scratch;
  return {};
#endif
}

bool experiment_built() {
#ifdef BAYESNN_EXPERIMENT_EXE
  return true;
#else
  return false;
#endif
}

#define BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN()                                 \
  do {                                                                         \
    if (!experiment_built()) {                                                 \
      WARN("bayesnn-experiment is not built (BAYESNN_BUILD_EXPERIMENTS=OFF)"); \
      return;                                                                  \
    }                                                                          \
  } while (false)

json read_json(const std::string& path) {
  std::ifstream file(path);
  REQUIRE(file.good());
  return json::parse(file);
}

int count_lines(const std::string& path) {
  std::ifstream file(path);
  int lines = 0;
  for (std::string line; std::getline(file, line);) ++lines;
  return lines;
}

void require_finite_number(const json& metrics, const std::string& key) {
  INFO("metrics.json key " << key);
  REQUIRE(metrics.contains(key));
  REQUIRE(metrics[key].is_number());
  REQUIRE(std::isfinite(metrics[key].get<double>()));
}

// A non-empty object of finite AUROCs in [0, 1].
void require_auroc_object(const json& metrics, const std::string& key) {
  INFO("metrics.json key " << key);
  REQUIRE(metrics.contains(key));
  REQUIRE(metrics[key].is_object());
  REQUIRE(metrics[key].size() >= 5);
  for (const auto& [score, value] : metrics[key].items()) {
    INFO("score " << score);
    REQUIRE(value.is_number());
    REQUIRE(value.get<double>() >= 0.0);
    REQUIRE(value.get<double>() <= 1.0);
  }
}

std::string smoke_arguments(const TempDir& scratch, const std::string& model,
                            const std::string& out) {
  return "--model " + model + " --data '" + scratch.file("mnist") + "' --ood-data '" +
         scratch.file("ood") + "' --out '" + out +
         "' --epochs 1 --batch-size 100 --test-samples 5 --seed 3";
}

}  // namespace

TEST_CASE("bayesnn-experiment: every network writes all pinned metrics with finite values",
          "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  TempDir scratch;
  write_synthetic_mnist(scratch.file("mnist"), 0, 1);
  write_synthetic_mnist(scratch.file("ood"), 7, 2);

  for (const std::string model : {"mlp", "hier-mlp", "cnn", "hier-cnn"}) {
    SECTION(model) {
      const std::string out = scratch.file("run-" + model);
      const auto result = run_experiment(smoke_arguments(scratch, model, out), scratch);
      INFO(result.output);
      REQUIRE(result.exit_code == 0);

      const auto metrics = read_json(out + "/metrics.json");
      for (const char* key : {"accuracy", "accuracy_posterior_mean"}) {
        require_finite_number(metrics, key);
        REQUIRE(metrics[key].get<double>() >= 0.0);
        REQUIRE(metrics[key].get<double>() <= 1.0);
      }
      for (const char* key : {"nll", "brier", "ece", "train_seconds", "images_per_second"}) {
        require_finite_number(metrics, key);
      }
      REQUIRE(metrics["images_per_second"].get<double>() > 0.0);
      require_auroc_object(metrics, "misclassification_auroc");
      require_auroc_object(metrics, "ood_auroc");
      REQUIRE(metrics["prior_scales"].is_object());
      if (model.rfind("hier-", 0) == 0) {
        REQUIRE(metrics["prior_scales"].size() == (model == "hier-mlp" ? 6u : 8u));
      }
      for (const auto& [layer, scale] : metrics["prior_scales"].items()) {
        INFO("prior scale " << layer);
        REQUIRE(std::isfinite(scale.get<double>()));
        REQUIRE(scale.get<double>() > 0.0);
      }
      REQUIRE(metrics["test_samples"] == 5);
      REQUIRE(metrics["seed"] == 3);
      REQUIRE_THAT(metrics["command"].get<std::string>(), Catch::Contains("--model " + model));
      REQUIRE(metrics["reliability"].size() == 15u);

      REQUIRE(count_lines(out + "/log.jsonl") == 1);
      REQUIRE(count_lines(out + "/predictions.csv") == kTestImages + 1);
      std::ifstream csv(out + "/predictions.csv");
      std::string header;
      std::getline(csv, header);
      REQUIRE_THAT(
          header,
          Catch::Contains("label,predicted,probability,entropy,mutual_information,chi_square"));
      for (const char* file : {"checkpoint.pt", "posterior_mean.pt", "predictive.pt"}) {
        INFO(file);
        REQUIRE(std::filesystem::file_size(out + "/" + file) > 0);
      }
    }
  }
}

TEST_CASE("bayesnn-experiment: --resume continues from the checkpoint to --epochs",
          "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  TempDir scratch;
  write_synthetic_mnist(scratch.file("mnist"), 0, 4);
  write_synthetic_mnist(scratch.file("ood"), 7, 5);
  const std::string out = scratch.file("run");
  const auto first = run_experiment(smoke_arguments(scratch, "mlp", out), scratch);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  const auto second =
      run_experiment(smoke_arguments(scratch, "mlp", out) + " --epochs 2 --resume", scratch);
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  REQUIRE_THAT(second.output, Catch::Contains("resumed from"));
  REQUIRE(count_lines(out + "/log.jsonl") == 2);
  REQUIRE(read_json(out + "/metrics.json")["epochs"] == 2);
}

TEST_CASE("bayesnn-experiment: the command line refuses unknown and malformed options",
          "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  TempDir scratch;
  struct Case {
    std::string arguments;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"--bogus 1", "--bogus"},        {"--epochs abc", "abc"},        {"--epochs 0", "--epochs"},
      {"--model resnet", "resnet"},    {"--estimator gibbs", "gibbs"}, {"--lr -1", "--lr"},
      {"--init-log-sigma nan", "nan"}, {"--device tpu", "tpu"},        {"--preset paper", "paper"},
      {"--epochs", "--epochs"},
  };
  for (const auto& c : cases) {
    SECTION(c.arguments) {
      const auto result = run_experiment(c.arguments, scratch);
      INFO(result.output);
      REQUIRE(result.exit_code != 0);
      REQUIRE_THAT(result.output, Catch::Contains(c.message));
    }
  }
}

TEST_CASE("bayesnn-experiment: --help lists every option with its default", "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  TempDir scratch;
  const auto result = run_experiment("--help", scratch);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  for (const char* option :
       {"--model", "--estimator", "--activation", "--epochs", "--batch-size", "--lr",
        "--train-samples", "--test-samples", "--prior-sd", "--tau", "--train-limit", "--seed",
        "--device", "--data", "--ood-data", "--out", "--resume", "--preset"}) {
    REQUIRE_THAT(result.output, Catch::Contains(option));
  }
  REQUIRE_THAT(result.output, Catch::Contains("=mlp"));
}

TEST_CASE("bayesnn-experiment: missing data is an error naming the directory", "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  TempDir scratch;
  const auto result = run_experiment(
      "--data '" + scratch.file("nowhere") + "' --out '" + scratch.file("run") + "'", scratch);
  INFO(result.output);
  REQUIRE(result.exit_code != 0);
  REQUIRE_THAT(result.output, Catch::Contains(scratch.file("nowhere")));
}
