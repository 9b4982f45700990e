// Smoke tests of the bayesnn-experiment executable on a tiny synthetic IDX dataset: each network
// trains for one epoch on a few hundred images and writes every file and metrics.json key the
// issue pins; the command line refuses unknown and malformed options with a message; a file that
// cannot be written (a full disk, a directory in its place) stops the run with one line on stderr
// naming it, leaving no temporary file and the previous checkpoint loadable.
#include "support/catch.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/script.h>
#include <nlohmann/json.hpp>

#include "bayesnn/export.h"
#include "bayesnn/mnist.h"
#include "serialize/checkpoint_file.h"
#include "support/idx_files.h"
#include "support/real_data.h"

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

// A scratch directory holding a synthetic MNIST ("mnist") and a shifted copy ("ood").
struct SyntheticData : TempDir {
  explicit SyntheticData(uint32_t seed) {
    write_synthetic_mnist(file("mnist"), 0, seed);
    write_synthetic_mnist(file("ood"), 7, seed + 1);
  }
};

struct Result {
  int exit_code = -1;
  std::string output;  ///< stdout, then stderr
  std::string errors;  ///< stderr alone
};

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Runs bayesnn-experiment with `arguments` (shell words) in a child process, its stdout and
// stderr captured apart. With `file_size_limit` > 0, no file the child writes may grow beyond
// that many bytes and SIGXFSZ is ignored: a write past it fails with EFBIG, as on a full disk.
// Passive OpenMP waiting: ctest runs cases in parallel, and spinning threads on busy cores slow a
// run tenfold.
// `launch` comes before the executable's path: variables of its environment, or a launcher.
Result run_experiment(const std::string& arguments, const TempDir& scratch,
                      rlim_t file_size_limit = 0, const std::string& launch = "") {
#ifdef BAYESNN_EXPERIMENT_EXE
  const std::string out = scratch.file("stdout.txt"), err = scratch.file("stderr.txt");
  const std::string command = std::string("OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE exec ") +
                              launch + " '" + BAYESNN_EXPERIMENT_EXE + "' " + arguments + " > '" +
                              out + "' 2> '" + err + "'";
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (file_size_limit > 0) {
      ::signal(SIGXFSZ, SIG_IGN);  // ignored stays ignored across exec
      const rlimit limit{file_size_limit, file_size_limit};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
    }
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  Result result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.errors = read_text(err);
  result.output = read_text(out) + result.errors;
  return result;
#else
  (void)arguments;
  (void)scratch;
  (void)file_size_limit;
  (void)launch;
  return {};
#endif
}

// tools/launch's command line for `ranks` local ranks, with its `options`.
std::string launcher(int ranks, const std::string& options = "") {
  return std::string("'") + BAYESNN_SOURCE_DIR + "/tools/launch' -n " + std::to_string(ranks) +
         " " + options + " --";
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

std::vector<json> read_json_lines(const std::string& path) {
  std::ifstream file(path);
  REQUIRE(file.good());
  std::vector<json> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(json::parse(line));
  return lines;
}

// The test accuracy of an exported posterior mean (a TorchScript file) on `set`, flattened.
double exported_accuracy(const std::string& path, const bayesnn::Dataset& set) {
  auto module = torch::jit::load(path);
  torch::NoGradGuard no_grad;
  const auto predicted = module.forward({set.inputs.view({set.size(), -1})}).toTensor().argmax(1);
  return predicted.eq(set.targets).to(torch::kDouble).mean().item<double>();
}

// The "extra" strings an export's metadata holds.
json export_extra(const std::string& path) {
  torch::jit::ExtraFilesMap files{{bayesnn::kExportMetadataFile, ""}};
  torch::jit::load(path, torch::kCPU, files);
  return json::parse(files.at(bayesnn::kExportMetadataFile))["extra"];
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

// An object of at least `scores` finite AUROCs in [0, 1].
void require_auroc_object(const json& metrics, const std::string& key, size_t scores = 5) {
  INFO("metrics.json key " << key);
  REQUIRE(metrics.contains(key));
  REQUIRE(metrics[key].is_object());
  REQUIRE(metrics[key].size() >= scores);
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

// The .tmp files left in `dir`.
std::vector<std::string> temporary_files(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".tmp") found.push_back(entry.path().string());
  }
  return found;
}

// metrics.json's "compression" of a group-NJ LeNet-300-100 trained 2 epochs on `scratch` and
// compressed within 50 validation points with no NLL limit, with `options` added.
json compressed_lenet300(const TempDir& scratch, const std::string& out,
                         const std::string& options) {
  const auto result = run_experiment(smoke_arguments(scratch, "lenet300 --prior group-nj", out) +
                                         " --epochs 2 --batch-size 20 --compress --validation 100"
                                         " --compress-budget 50 --compress-nll-tolerance inf " +
                                         options,
                                     scratch);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  return read_json(out + "/metrics.json")["compression"];
}

int count_newlines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("bayesnn-experiment: every network writes all pinned metrics with finite values",
          "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(1);

  // The article's four, the new priors, and the deterministic twins.
  for (const std::string run :
       {"mlp", "hier-mlp", "cnn", "hier-cnn", "mlp --prior scale-mixture",
        "cnn --prior unit-hierarchical", "det-mlp", "det-cnn", "lenet300 --prior group-horseshoe",
        "lenet5 --prior group-nj", "det-lenet300", "det-lenet5"}) {
    SECTION(run) {
      const std::string model = run.substr(0, run.find(' '));
      const std::string prior =
          run.find(' ') == std::string::npos ? "" : run.substr(run.rfind(' ') + 1);
      const bool deterministic = model.rfind("det-", 0) == 0;
      const int64_t samples = deterministic ? 1 : 5;
      const std::string out = scratch.file("run-" + std::to_string(std::hash<std::string>()(run)));
      const auto result = run_experiment(smoke_arguments(scratch, run, out), scratch);
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
      // A deterministic net's scores: the entropy and max probability of its softmax.
      require_auroc_object(metrics, "misclassification_auroc", deterministic ? 2 : 5);
      require_auroc_object(metrics, "ood_auroc", deterministic ? 2 : 5);
      REQUIRE(metrics["prior_scales"].is_object());
      const std::string family = deterministic                  ? "none"
                                 : model.rfind("hier-", 0) == 0 ? "hierarchical"
                                 : prior.empty()                ? "fixed"
                                                                : prior;
      REQUIRE(metrics["prior"]["family"] == family);
      REQUIRE(metrics["prior"]["name"].is_string());
      REQUIRE(metrics["prior"]["parameters"].is_object());
      REQUIRE(metrics["tempered"] == false);
      if (family == "hierarchical" || family == "unit-hierarchical") {
        REQUIRE(metrics["prior_scales"].size() == (model == "hier-mlp" ? 6u : 8u));
      }
      if (family == "unit-hierarchical") {
        REQUIRE(metrics["unit_scales"].size() == 8u);
        REQUIRE(metrics["unit_scales"]["conv1.weight_prior"]["units"] == 32);
      }
      if (family == "scale-mixture") {
        REQUIRE(metrics["prior"]["parameters"]["pi"] == 0.5);
        REQUIRE(metrics["prior"]["parameters"]["sigma1"] == 1.0);
      }
      for (const auto& [layer, scale] : metrics["prior_scales"].items()) {
        INFO("prior scale " << layer);
        REQUIRE(std::isfinite(scale.get<double>()));
        REQUIRE(scale.get<double>() > 0.0);
      }
      REQUIRE(metrics["test_samples"] == samples);
      REQUIRE(metrics["seed"] == 3);
      REQUIRE_THAT(metrics["command"].get<std::string>(), Catch::Contains("--model " + run));
      REQUIRE(metrics["reliability"].size() == 15u);
      REQUIRE(metrics["uncertainty"]["chi_square_max"] == samples * 9);
      for (const char* key :
           {"model",          "prior",        "estimator",  "activation",     "epochs",
            "batch_size",     "lr",           "lr_final",   "train_samples",  "test_samples",
            "prior_sd",       "tau",          "mixture_pi", "mixture_sigma1", "mixture_sigma2",
            "init_log_sigma", "init_mean_sd", "kl_weight",  "kl_warmup",      "prediction",
            "predict_batch",  "train_limit",  "test_limit", "preset"}) {
        INFO("metrics.json options key " << key);
        REQUIRE(metrics["options"].contains(key));
      }
      REQUIRE(metrics["options"]["model"] == model);
      REQUIRE(metrics["options"]["test_samples"] == 5);

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
  const SyntheticData scratch(4);
  const std::string out = scratch.file("run");
  const auto first = run_experiment(smoke_arguments(scratch, "mlp", out), scratch);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);

  SECTION("from the last epoch written") {
    const auto second =
        run_experiment(smoke_arguments(scratch, "mlp", out) + " --epochs 2 --resume", scratch);
    INFO(second.output);
    REQUIRE(second.exit_code == 0);
    REQUIRE_THAT(second.output, Catch::Contains("resumed from"));
    REQUIRE(count_lines(out + "/log.jsonl") == 2);
    REQUIRE(read_json(out + "/metrics.json")["epochs"] == 2);
  }
  SECTION(
      "after a full disk refused a checkpoint: one line on stderr, no temporary file, the "
      "previous checkpoint kept") {
    // The MLP's checkpoint is about 20 MB: 2 MB holds the logs and stdout, not the checkpoint.
    constexpr rlim_t kFileSizeLimit = 2 << 20;
    const auto full = run_experiment(smoke_arguments(scratch, "mlp", out) + " --epochs 2 --resume",
                                     scratch, kFileSizeLimit);
    INFO(full.output);
    REQUIRE(full.exit_code == 1);
    REQUIRE(count_newlines(full.errors) == 1);
    REQUIRE(full.errors == "bayesnn-experiment: cannot write the checkpoint '" + out +
                               "/checkpoint.pt': File too large (writing '" + out +
                               "/checkpoint.pt.tmp')\n");
    REQUIRE(temporary_files(out).empty());

    const auto again =
        run_experiment(smoke_arguments(scratch, "mlp", out) + " --epochs 2 --resume", scratch);
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    REQUIRE_THAT(again.output,
                 Catch::Contains("resumed from " + out + "/checkpoint.pt at epoch 1"));
    const auto metrics = read_json(out + "/metrics.json");
    REQUIRE(metrics["epochs"] == 2);
    REQUIRE(temporary_files(out).empty());

    // The failed run logged epoch 2 before its checkpoint failed, and the resumed run again: the
    // training time counts each epoch once, as its last line.
    std::map<int, double> seconds_by_epoch;
    std::ifstream log(out + "/log.jsonl");
    int lines = 0;
    for (std::string line; std::getline(log, line); ++lines) {
      const auto entry = json::parse(line);
      seconds_by_epoch[entry["epoch"].get<int>()] = entry["seconds"].get<double>();
    }
    REQUIRE(lines == 3);
    REQUIRE(seconds_by_epoch.size() == 2u);
    REQUIRE(metrics["train_seconds"].get<double>() ==
            Approx(seconds_by_epoch[1] + seconds_by_epoch[2]).epsilon(1e-12));
  }
}

// tests/data/checkpoint-466eb57/ holds what the bayesnn of commit 466eb57 (before checkpoints
// carried a checksum) wrote with `bayesnn-experiment --model cnn --epochs 1 --train-limit 2000
// --test-limit 500 --test-samples 5 --seed 7` on the real MNIST: its checkpoint.pt and log.jsonl.
TEST_CASE("bayesnn-experiment: a checkpoint of an earlier bayesnn, without a checksum, resumes",
          "[experiment][checkpoint]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const std::string mnist = bayesnn::test::real_data_dir("mnist");
  if (!bayesnn::test::real_data_present(mnist)) return;
  TempDir scratch;
  const std::string out = scratch.file("run"), checkpoint = out + "/checkpoint.pt";
  const std::string earlier = std::string(BAYESNN_SOURCE_DIR) + "/tests/data/checkpoint-466eb57";
  std::filesystem::create_directories(out);
  for (const char* name : {"checkpoint.pt", "log.jsonl"}) {
    std::filesystem::copy_file(earlier + "/" + name, out + "/" + name);
  }
  const std::string arguments =
      "--model cnn --epochs 2 --train-limit 2000 --test-limit 500 --test-samples 5 --seed 7 "
      "--data '" +
      mnist + "' --ood-data '" + bayesnn::test::real_data_dir("fashion-mnist") + "' --out '" + out +
      "' --resume";

  SECTION("it resumes, saying in one line that it had none, and the next checkpoint has one") {
    const auto resumed = run_experiment(arguments, scratch);
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    REQUIRE(resumed.errors == "bayesnn: '" + checkpoint +
                                  "' has no checksum (written by an earlier bayesnn); its records "
                                  "match their CRC-32s, so it was read, and the next checkpoint "
                                  "written will carry one\n");
    REQUIRE_THAT(resumed.output, Catch::Contains("resumed from " + checkpoint + " at epoch 1"));
    REQUIRE(count_lines(out + "/log.jsonl") == 2);
    REQUIRE(read_json(out + "/metrics.json")["epochs"] == 2);
    std::ifstream file(checkpoint, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    REQUIRE(bayesnn::detail::is_sealed(bytes));
  }
  SECTION("a byte flipped in one of its records is refused in one line naming the record") {
    // A tensor's data (LibTorch would read it without complaint) and the archive's TorchScript
    // code (damaged code crashed LibTorch's importer: fuzz/regressions).
    std::string bytes;
    {
      std::ifstream file(checkpoint, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
    for (const std::string record : {"data/0", "code/__torch__.py"}) {
      INFO(record);
      size_t offset = 0;
      {
        caffe2::serialize::PyTorchStreamReader reader(earlier + "/checkpoint.pt");
        offset = reader.getRecordOffset(record);
      }
      auto damaged = bytes;
      damaged[offset + 3] = static_cast<char>(damaged[offset + 3] ^ 0x01);
      std::ofstream(checkpoint, std::ios::binary | std::ios::trunc) << damaged;
      const auto refused = run_experiment(arguments, scratch);
      INFO(refused.output);
      REQUIRE(refused.exit_code == 1);
      REQUIRE(count_newlines(refused.errors) == 1);
      REQUIRE_THAT(refused.errors,
                   Catch::Contains("'" + checkpoint +
                                   "' is not a readable bayesnn checkpoint (damaged: it has no "
                                   "checksum, and its record '" +
                                   record + "' does not match its CRC-32)"));
    }
  }
}

TEST_CASE("bayesnn-experiment: --compress writes compressed.pt and metrics.json's compression",
          "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(1);
  for (const std::string run : {"lenet300 --prior group-horseshoe", "lenet5 --prior group-nj"}) {
    SECTION(run) {
      const std::string out = scratch.file("compress-" + run.substr(0, run.find(' ')));
      // One epoch decides little: the test checks the record and the export, not how much
      // is pruned (docs/results.md has the full runs).
      const auto result =
          run_experiment(smoke_arguments(scratch, run, out) + " --compress", scratch);
      INFO(result.output);
      REQUIRE(result.exit_code == 0);
      const auto compression = read_json(out + "/metrics.json")["compression"];
      const std::vector<int64_t> units = run.rfind("lenet300", 0) == 0
                                             ? std::vector<int64_t>{784, 300, 100}
                                             : std::vector<int64_t>{20, 50, 800, 500};
      REQUIRE(compression["units_kept"].size() == units.size());
      for (size_t k = 0; k < units.size(); ++k) {
        REQUIRE(compression["units_kept"][k].get<int64_t>() <= units[k]);
        REQUIRE(compression["units_kept"][k].get<int64_t>() >= 0);
      }
      for (const char* key : {"weights_kept", "ratio", "accuracy", "nll", "ece"}) {
        INFO(key);
        require_finite_number(compression, key);
      }
      REQUIRE(compression["multiply_adds"].get<int64_t>() ==
              (run.rfind("lenet300", 0) == 0
                   ? 784 * 300 + 300 * 100 + 100 * 10
                   : 20 * 24 * 24 * 25 + 50 * 8 * 8 * 20 * 25 + 800 * 500 + 500 * 10));
      REQUIRE(compression["multiply_adds_kept"].get<int64_t>() <=
              compression["multiply_adds"].get<int64_t>());
      REQUIRE(compression["rule"]["chosen_on"] == "none: the default rule");
      // Precision reduction: fewer bits than float32 for every kept weight, and its export.
      REQUIRE(compression["precision"]["ratio"].get<double>() > compression["ratio"].get<double>());
      REQUIRE(compression["precision"]["layers"].size() == units.size());
      require_finite_number(compression["precision"], "accuracy_posterior_mean");
      REQUIRE(compression["ratio"].get<double>() ==
              Approx(1 / compression["weights_kept"].get<double>()));
      REQUIRE(compression["export"]["compressed_bytes"].get<int64_t>() > 0);
      auto compressed = torch::jit::load(out + "/compressed.pt");
      auto full = torch::jit::load(out + "/posterior_mean.pt");
      const auto images =
          run.rfind("lenet300", 0) == 0 ? torch::rand({3, 784}) : torch::rand({3, 1, 28, 28});
      REQUIRE(compressed.forward({images}).toTensor().sizes() ==
              full.forward({images}).toTensor().sizes());
      auto reduced = torch::jit::load(out + "/compressed_reduced.pt");
      REQUIRE(reduced.forward({images}).toTensor().sizes() ==
              full.forward({images}).toTensor().sizes());
    }
  }
}

TEST_CASE(
    "bayesnn-experiment: --validation holds training images out and --compress chooses its "
    "thresholds on them, never on the test set",
    "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(4);
  {  // test labels unlike the images: an accuracy computed there would differ
    std::vector<uint8_t> labels(100);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>((i * 7) % 10);
    bayesnn::test::write_file(scratch.file("mnist") + "/t10k-labels-idx1-ubyte",
                              bayesnn::test::idx_bytes(0x801, {100}, labels));
  }
  const std::string out = scratch.file("validated");
  const auto result = run_experiment(
      smoke_arguments(scratch, "lenet300 --prior group-nj", out) +
          " --epochs 3 --batch-size 20 --validation 100 --compress --compress-budget 2",
      scratch);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const auto metrics = read_json(out + "/metrics.json");
  REQUIRE(metrics["train_images"] == 200);
  const auto rule = metrics["compression"]["rule"];
  REQUIRE(rule["chosen_on"] == "validation");
  REQUIRE(rule["validation_images"] == 100);
  REQUIRE(rule["budget_points"].get<double>() == Approx(2.0));
  REQUIRE(rule["thresholds"].size() == 3);
  REQUIRE(rule["trials"].size() >= 1);
  const double full = rule["validation_accuracy_full"].get<double>();
  REQUIRE(rule["validation_accuracy"].get<double>() >= full - 0.02 - 1e-9);

  // The full network's accuracy on the last 100 training images, computed here from its export:
  // what the search reports.
  auto train = bayesnn::load_mnist(scratch.file("mnist"), bayesnn::Split::kTrain);
  REQUIRE(full == Approx(exported_accuracy(out + "/posterior_mean.pt", train.slice(200, 300))));
}

TEST_CASE(
    "bayesnn-experiment: --fine-tune trains the compressed network on, without KL warm-up, and "
    "exports and measures the network it trained",
    "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(5);
  const std::string out = scratch.file("fine-tuned");
  const auto compression = compressed_lenet300(
      scratch, out, "--scale-lr 0.3 --fine-tune 3 --fine-tune-max-log-sigma -1");
  const auto fine_tune = compression["fine_tune"];
  REQUIRE(fine_tune["epochs"] == 3);
  REQUIRE(fine_tune["max_log_sigma"].get<double>() == -1.0);
  REQUIRE(fine_tune["train_seconds"].get<double>() > 0);
  // Its own log, three epochs at the full KL weight (the run's own log starts from 0).
  const auto log = read_json_lines(out + "/fine_tune_log.jsonl");
  REQUIRE(log.size() == 3);
  REQUIRE(log.front()["kl_weight"].get<double>() == 1.0);
  REQUIRE(read_json_lines(out + "/log.jsonl").front()["kl_weight"].get<double>() < 1.0);
  // compressed.pt is the fine-tuned network: its test accuracy is the one measured after.
  const auto test = bayesnn::load_mnist(scratch.file("mnist"), bayesnn::Split::kTest);
  REQUIRE(fine_tune["after"]["accuracy_posterior_mean"].get<double>() ==
          Approx(exported_accuracy(out + "/compressed.pt", test)));
  // Each export's metadata gives its own network's accuracy, not the full network's.
  REQUIRE(export_extra(out + "/compressed.pt")["accuracy"] ==
          fmt::format("{:.4f}", compression["accuracy"].get<double>()));
  REQUIRE(export_extra(out + "/compressed_reduced.pt")["accuracy"] ==
          fmt::format("{:.4f}", compression["precision"]["accuracy_posterior_mean"].get<double>()));
  for (const std::string when : {"before", "after"}) {
    REQUIRE(fine_tune[when].contains("ece_posterior_mean"));
    const double validation = fine_tune[when]["validation_accuracy_posterior_mean"];
    REQUIRE((validation >= 0 && validation <= 1));
  }
}

TEST_CASE(
    "bayesnn-experiment: --compress-rounds compresses the fine-tuned network again, within the "
    "budget of the full network's validation accuracy",
    "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(6);
  const std::string out = scratch.file("rounds");
  const auto compression =
      compressed_lenet300(scratch, out, "--scale-lr 0.1 --fine-tune 2 --compress-rounds 3");
  const auto rounds = compression["rounds"];
  // Rounds 2 and 3 at most; on this toy the second round is kept (scales this fast switch most
  // units off), and a round not kept says why the rounds stopped.
  REQUIRE((!rounds.empty() && rounds.size() <= 2));
  REQUIRE(rounds[0]["kept"].get<bool>());
  const double full = compression["rule"]["validation_accuracy_full"].get<double>();
  double ratio = 1;  // the first round's: its search's last step
  for (const auto& trial : compression["rule"]["trials"]) {
    if (trial["taken"].get<bool>()) ratio = trial["ratio"].get<double>();
  }
  json last_kept;
  for (const auto& round : rounds) {
    if (!round["kept"].get<bool>()) {
      REQUIRE(!round["stopped"].get<std::string>().empty());
      continue;
    }
    // Every round's budget counts from the full network's accuracy, not the round's start.
    REQUIRE(round["rule"]["validation_accuracy_full"].get<double>() == Approx(full));
    REQUIRE(round["rule"].contains("validation_accuracy_start"));
    // A round kept removed more, and its fine-tuned network is within the budget.
    REQUIRE(round["ratio"].get<double>() > ratio);
    ratio = round["ratio"].get<double>();
    REQUIRE(round["fine_tune"]["after"]["validation_accuracy_posterior_mean"].get<double>() >=
            full - 0.5 - 1e-9);
    REQUIRE(std::filesystem::exists(out + "/" + round["fine_tune"]["log"].get<std::string>()));
    REQUIRE(read_json_lines(out + "/" + round["fine_tune"]["log"].get<std::string>()).size() == 2);
    last_kept = round;
  }
  // The run's figures are the last kept round's network: its units and ratio, against the full
  // network's weights, and compressed.pt is that network.
  REQUIRE(compression["units_kept"] == last_kept["units_kept"]);
  REQUIRE(compression["ratio"].get<double>() == Approx(last_kept["ratio"].get<double>()));
  const auto test = bayesnn::load_mnist(scratch.file("mnist"), bayesnn::Split::kTest);
  REQUIRE(last_kept["fine_tune"]["after"]["accuracy_posterior_mean"].get<double>() ==
          Approx(exported_accuracy(out + "/compressed.pt", test)));
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
      {"--bogus 1", "--bogus"},
      {"--epochs abc", "abc"},
      {"--epochs 0", "--epochs"},
      {"--model resnet", "resnet"},
      {"--estimator gibbs", "gibbs"},
      {"--lr -1", "--lr"},
      {"--init-log-sigma nan", "nan"},
      {"--device tpu", "tpu"},
      {"--preset paper", "paper"},
      {"--epochs", "--epochs"},
      {"--blas-threads -1", "--blas-threads"},
      {"--prior laplace", "laplace"},
      {"--model hier-mlp --prior scale-mixture",
       "--prior scale-mixture: --model hier-mlp is the article's name for --prior hierarchical"},
      {"--model det-cnn --prior fixed",
       "--prior fixed: --model det-cnn is deterministic and has no prior"},
      {"--prior scale-mixture --mixture-pi 1",
       "--mixture-pi: got 1, expected a weight strictly between 0 and 1"},
      {"--batch-size 0", "--batch-size: got 0, expected a whole number >= 1"},
      {"--epochs 1.5", "--epochs: got 1.5, expected a whole number >= 1"},
      {"--prior-sd inf", "--prior-sd: got inf, expected a finite number > 0"},
      {"--lr-final 2", "--lr-final: got 2, expected a fraction in (0, 1]"},
      {"--kl-weight -1", "--kl-weight: got -1, expected a finite number >= 0"},
      {"--seed -3", "--seed: got -3, expected a whole number >= 0"},
      {"--threads 0", "--threads: got 0, expected a whole number >= 1"},
      {"--test-limit -2", "--test-limit: got -2, expected a whole number >= 0"},
      {"--mixture-sigma2 0", "--mixture-sigma2"},
      {"--dist-timeout 0", "--dist-timeout"},
      {"--model det-cnn --from-deterministic twin.pt",
       "--from-deterministic: got twin.pt, expected a Bayesian --model to convert the twin into"},
      {"--moped-delta 0.1", "--moped-delta: got 0.1, expected --from-deterministic"},
      {"--from-deterministic twin.pt --moped-prior",
       "--moped-prior: got true, expected --moped-delta > 0"},
      {"--from-deterministic twin.pt --moped-delta 0.1 --moped-prior --prior fixed",
       "--prior: got fixed, expected no --prior with --moped-prior"},
      {"--from-deterministic twin.pt --init-mean-sd 1",
       "--init-mean-sd: got 1, expected 0 with --from-deterministic"},
      {"--moped-delta -1", "--moped-delta: got -1, expected a finite number >= 0"},
      {"--moped-sigma-floor 0", "--moped-sigma-floor: got 0, expected a finite number > 0"},
      {"--compress", "--compress: got --prior fixed, expected --prior group-horseshoe or group-nj"},
      {"--model lenet300 --prior unit-hierarchical --compress",
       "--compress: got --prior unit-hierarchical, expected --prior group-horseshoe or group-nj"},
      {"--compress-min-scale -1", "--compress-min-scale"},
      {"--model lenet300 --prior group-nj --compress --validation 100 --compress-budget -1",
       "--compress-budget: got -1, expected a finite number >= 0"},
      {"--max-log-sigma nan", "--max-log-sigma: got nan, expected a number or inf"},
      {"--model lenet300 --prior group-nj --compress --compress-budget 0.5",
       "--compress-budget: got 0.5, expected --compress and --validation N"},
      {"--validation -1", "--validation: got -1, expected a whole number >= 0"},
      {"--scale-lr -1", "--scale-lr: got -1, expected a finite number >= 0"},
      {"--group-tau0 0", "--group-tau0"},
      {"--model lenet300 --prior group-nj --compress --compress-nll-tolerance 0.5",
       "--compress-nll-tolerance: got 0.5, expected --compress and --validation N"},
      {"--compress-nll-tolerance -1",
       "--compress-nll-tolerance: got -1, expected a number >= 0 or inf"},
      {"--model lenet300 --prior group-nj --fine-tune 2",
       "--fine-tune: got 2, expected --compress"},
      {"--model lenet300 --prior group-nj --compress --fine-tune -1",
       "--fine-tune: got -1, expected a whole number >= 0"},
      {"--model lenet300 --prior group-nj --compress --validation 10 --compress-rounds 3",
       "--compress-rounds: got 3, expected --fine-tune N and --validation N"},
      {"--model lenet300 --prior group-nj --compress --fine-tune 1 --compress-rounds 2",
       "--compress-rounds: got 2, expected --fine-tune N and --validation N"},
      {"--model lenet300 --prior group-nj --compress --compress-rounds 0",
       "--compress-rounds: got 0, expected a whole number >= 1"},
      {"--model lenet300 --prior group-nj --compress --fine-tune-max-log-sigma -1",
       "--fine-tune-max-log-sigma: got -1, expected --fine-tune N"},
  };
  for (const auto& c : cases) {
    SECTION(c.arguments) {
      const auto result = run_experiment(c.arguments, scratch);
      INFO(result.output);
      REQUIRE(result.exit_code == 2);
      // One line on stderr, nothing on stdout, naming the option and the value.
      REQUIRE(result.output == result.errors);
      REQUIRE(count_newlines(result.errors) == 1);
      REQUIRE_THAT(result.errors,
                   Catch::StartsWith("bayesnn-experiment: ") && Catch::Contains(c.message));
    }
  }
}

TEST_CASE(
    "bayesnn-experiment: --from-deterministic converts a trained twin whose posterior mean "
    "is the twin",
    "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  SyntheticData scratch(23);
  const auto twin = run_experiment(
      smoke_arguments(scratch, "det-mlp", scratch.file("twin")) + " --epochs 2", scratch);
  INFO(twin.output);
  REQUIRE(twin.exit_code == 0);
  const auto twin_metrics = read_json(scratch.file("twin/metrics.json"));
  for (const std::string file : {"checkpoint.pt", "posterior_mean.pt"}) {
    SECTION(file) {
      // A learning rate of 1e-30 leaves the means where the conversion put them: the posterior
      // mean's predictions are the twin's, image for image.
      const auto converted =
          run_experiment(smoke_arguments(scratch, "mlp", scratch.file("bnn")) +
                             " --from-deterministic '" + scratch.file("twin/" + file) +
                             "' --moped-delta 0.1 --moped-prior --lr 1e-30 --kl-warmup 0",
                         scratch);
      INFO(converted.output);
      REQUIRE(converted.exit_code == 0);
      CHECK_THAT(converted.output, Catch::Contains("converted fc1 (torch::nn::LinearImpl): "
                                                   "bayesnn::BayesLinear"));
      const auto metrics = read_json(scratch.file("bnn/metrics.json"));
      CHECK(metrics["accuracy_posterior_mean"] == twin_metrics["accuracy"]);
      CHECK(metrics["prior"]["name"] == "moped(delta=0.1)");
      CHECK(metrics["options"]["from_deterministic"] == scratch.file("twin/" + file));
      // The fine-tuning's KL starts at zero and stays near it (q moved by 1e-30).
      const auto log = read_text(scratch.file("bnn/log.jsonl"));
      const auto kl = json::parse(log.substr(0, log.find('\n')))["kl"].get<double>();
      CHECK(std::abs(kl) < 1.0);
    }
  }
  const auto wrong =
      run_experiment(smoke_arguments(scratch, "cnn", scratch.file("bad")) +
                         " --from-deterministic '" + scratch.file("twin/checkpoint.pt") + "'",
                     scratch);
  CHECK(wrong.exit_code == 1);
  CHECK_THAT(wrong.errors, Catch::Contains("is a bayesnn checkpoint of another network"));
}

TEST_CASE("bayesnn-experiment: --help lists every option with its default", "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  TempDir scratch;
  const auto result = run_experiment("--help", scratch);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  for (const char* option : {"--model",          "--estimator",
                             "--activation",     "--epochs",
                             "--batch-size",     "--lr",
                             "--train-samples",  "--test-samples",
                             "--prior-sd",       "--tau",
                             "--train-limit",    "--seed",
                             "--device",         "--data",
                             "--ood-data",       "--out",
                             "--resume",         "--preset",
                             "--blas-threads",   "--prior",
                             "--mixture-pi",     "--mixture-sigma1",
                             "--mixture-sigma2", "--distributed",
                             "--dist-timeout"}) {
    REQUIRE_THAT(result.output, Catch::Contains(option));
  }
  // CLI11 2.x before 2.4 prints a default as "=mlp", 2.4 (Debian 13) as "[mlp]".
  const bool shows_default = result.output.find("=mlp") != std::string::npos ||
                             result.output.find("[mlp]") != std::string::npos;
  REQUIRE(shows_default);
}

TEST_CASE("bayesnn-experiment: --validation that leaves no training images is refused",
          "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(5);
  const auto result = run_experiment(
      smoke_arguments(scratch, "lenet300", scratch.file("run")) + " --validation 300", scratch);
  INFO(result.output);
  REQUIRE(result.exit_code == 1);
  REQUIRE_THAT(result.errors,
               Catch::Contains("--validation 300 leaves no training images: there are 300 in"));
}

TEST_CASE("bayesnn-experiment: idle OpenMP threads sleep unless OMP_WAIT_POLICY says otherwise",
          "[experiment]") {
  // OpenMP reads the variable as it loads, so the program re-executes itself with PASSIVE where
  // it is unset (bayesnn::wait_passively), and leaves a caller's choice alone.
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(5);
  for (const auto& [launch, policy] : std::vector<std::pair<std::string, std::string>>{
           {"env -u OMP_WAIT_POLICY", "PASSIVE"}, {"env OMP_WAIT_POLICY=ACTIVE", "ACTIVE"}}) {
    INFO(launch);
    const std::string out = scratch.file(policy);
    const auto result =
        run_experiment(smoke_arguments(scratch, "lenet300", out), scratch, 0, launch);
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    CHECK(read_json(out + "/metrics.json")["omp_wait_policy"] == policy);
  }
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

TEST_CASE(
    "bayesnn-experiment: a result file that cannot be written is one line naming it, with no "
    "temporary file left",
    "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(8);
  const std::string out = scratch.file("run");
  struct Case {
    std::string file;
    std::string message;
  };
  // A directory where the file goes: the rename over it fails, whoever runs the test.
  for (const Case& c : {Case{"metrics.json", "cannot write the metrics '"},
                        Case{"predictions.csv", "cannot write the predictions '"}}) {
    SECTION(c.file) {
      std::filesystem::create_directories(out + "/" + c.file);
      const auto result = run_experiment(smoke_arguments(scratch, "mlp", out), scratch);
      INFO(result.output);
      REQUIRE(result.exit_code == 1);
      REQUIRE(count_newlines(result.errors) == 1);
      REQUIRE(result.errors == "bayesnn-experiment: " + c.message + out + "/" + c.file +
                                   "': Is a directory (renaming '" + out + "/" + c.file +
                                   ".tmp')\n");
      REQUIRE(temporary_files(out).empty());
    }
  }
  SECTION("the learning curve") {
    std::filesystem::create_directories(out + "/curve.jsonl/kept");
    const auto result =
        run_experiment(smoke_arguments(scratch, "mlp", out) + " --eval-every 1", scratch);
    INFO(result.output);
    REQUIRE(result.exit_code == 1);
    REQUIRE(result.errors ==
            "bayesnn-experiment: cannot append to '" + out + "/curve.jsonl': Is a directory\n");
  }
}

TEST_CASE("bayesnn-experiment: two ranks under tools/launch train one network, and rank 0 writes",
          "[experiment][distributed]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(8);
  // 150 images per rank, batches of 100 per rank: 2 steps an epoch of 200 images each; a
  // constant learning rate, so that a run of 1 epoch takes the first epoch of a run of 2.
  auto arguments = [&](const std::string& out, int epochs) {
    return smoke_arguments(scratch, "mlp", out) + " --epochs " + std::to_string(epochs) +
           " --lr-final 1 --dist-timeout 60";
  };
  const std::string straight = scratch.file("straight"), resumed = scratch.file("resumed");
  const auto two = run_experiment(arguments(straight, 2), scratch, 0, launcher(2));
  INFO(two.output);
  REQUIRE(two.exit_code == 0);
  REQUIRE_THAT(two.output, Catch::Contains("distributed: 2 ranks (environment, gloo), 200 images "
                                           "per step (100 per rank)"));
  REQUIRE(count_lines(straight + "/log.jsonl") == 2);  // rank 0's lines only
  const auto metrics = read_json(straight + "/metrics.json");
  REQUIRE(metrics["distributed"]["world_size"] == 2);
  REQUIRE(metrics["distributed"]["backend"] == "gloo");
  REQUIRE(metrics["distributed"]["global_batch_size"] == 200);
  REQUIRE(metrics["epochs"] == 2);

  // Rank 0's checkpoint after epoch 1 resumes the pair: each rank's generators come back, so the
  // resumed run ends where the straight one did.
  const auto first = run_experiment(arguments(resumed, 1), scratch, 0, launcher(2));
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  const auto second = run_experiment(arguments(resumed, 2) + " --resume", scratch, 0, launcher(2));
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  REQUIRE_THAT(second.output,
               Catch::Contains("resumed from " + resumed + "/checkpoint.pt at epoch 1"));
  const auto again = read_json(resumed + "/metrics.json");
  REQUIRE(again["epochs"] == 2);
  REQUIRE(again["nll"].get<double>() == metrics["nll"].get<double>());
  REQUIRE(again["accuracy"].get<double>() == metrics["accuracy"].get<double>());
}

TEST_CASE("bayesnn-experiment: a rank that dies or hangs stops the others within --dist-timeout",
          "[experiment][distributed]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(9);
  const std::string out = scratch.file("run");
  struct Case {
    const char* name;
    const char* signal;
    int timeout;
  };
  for (const Case c : {Case{"killed", "KILL", 20}, Case{"hung", "STOP", 5}}) {
    SECTION(c.name) {
      // Rank 1 sends itself the signal once rank 0 has logged an epoch: mid-training.
      const std::string arguments = smoke_arguments(scratch, "mlp", out) +
                                    " --epochs 100000 --dist-timeout " + std::to_string(c.timeout);
      const std::string launch =
          launcher(2, "--grace 2") + " sh -c 'if [ \"$RANK\" = 1 ]; then (while [ ! -s \"" + out +
          "/log.jsonl\" ] && kill -0 $$ 2>/dev/null; do sleep 0.1; done; kill -" + c.signal +
          " $$) & fi; exec \"$0\" \"$@\"'";
      const auto start = std::chrono::steady_clock::now();
      const auto result = run_experiment(arguments, scratch, 0, launch);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      INFO(result.output);
      REQUIRE(result.exit_code != 0);
      // Rank 0's one line names the operation, its rank, and the timeout.
      REQUIRE_THAT(result.errors, Catch::Contains("bayesnn-experiment: ") &&
                                      Catch::Contains("failed on rank 0 of 2 (gloo, timeout " +
                                                      std::to_string(c.timeout) + " s)"));
      CHECK(seconds < c.timeout + 30);

      // Rank 0's last checkpoint resumes a new pair.
      int epochs = 0;
      std::ifstream log(out + "/log.jsonl");
      for (std::string line; std::getline(log, line);) epochs = json::parse(line)["epoch"];
      REQUIRE(epochs >= 1);
      const auto relaunched = run_experiment(smoke_arguments(scratch, "mlp", out) + " --epochs " +
                                                 std::to_string(epochs + 1) + " --resume",
                                             scratch, 0, launcher(2));
      INFO(relaunched.output);
      REQUIRE(relaunched.exit_code == 0);
      REQUIRE(read_json(out + "/metrics.json")["epochs"] == epochs + 1);
    }
  }
}

TEST_CASE("bayesnn-experiment: a launcher's malformed variable is an error naming it",
          "[experiment][distributed]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  TempDir scratch;
  const auto result =
      run_experiment("--out '" + scratch.file("run") + "'", scratch, 0, "env RANK=5 WORLD_SIZE=2");
  INFO(result.output);
  REQUIRE(result.exit_code == 1);
  REQUIRE_THAT(result.errors, Catch::Contains("RANK") && Catch::Contains("5"));
  REQUIRE(count_newlines(result.errors) == 1);
}

TEST_CASE("bayesnn-experiment: SIGINT stops training before a step, and --resume continues",
          "[experiment]") {
  BAYESNN_REQUIRE_EXPERIMENT_OR_RETURN();
  const SyntheticData scratch(10);
  const std::string out = scratch.file("run");
  const std::string arguments = smoke_arguments(scratch, "mlp", out) + " --epochs 100000";
  // SIGINT once the first epoch is logged (and its checkpoint written).
  const std::string interrupt = "sh -c '(while [ ! -s \"" + out +
                                "/log.jsonl\" ] && kill -0 $$ 2>/dev/null; do sleep 0.1; done; "
                                "kill -INT $$) & exec \"$0\" \"$@\"'";
  const auto stopped = run_experiment(arguments, scratch, 0, interrupt);
  INFO(stopped.output);
  REQUIRE(stopped.exit_code == 128 + SIGINT);
  REQUIRE(count_newlines(stopped.errors) == 1);
  REQUIRE_THAT(stopped.errors, Catch::StartsWith("bayesnn-experiment: Interrupt: training "
                                                 "interrupted before step ") &&
                                   Catch::Contains("; the last checkpoint, of epoch ") &&
                                   Catch::EndsWith("/checkpoint.pt; --resume continues\n"));
  REQUIRE(temporary_files(out).empty());

  int epochs = 0;
  std::ifstream log(out + "/log.jsonl");
  for (std::string line; std::getline(log, line);) epochs = json::parse(line)["epoch"];
  const auto resumed = run_experiment(smoke_arguments(scratch, "mlp", out) + " --epochs " +
                                          std::to_string(epochs + 1) + " --resume",
                                      scratch);
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  REQUIRE_THAT(resumed.output, Catch::Contains("at epoch " + std::to_string(epochs)));
}
