// The README's examples, compiled and run here; a test checks that the README still holds them
// verbatim, so the front door never shows code that does not build.
#include "support/catch.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <torch/torch.h>

#include "bayesnn/bayesnn.h"
#include "support/idx_files.h"

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Each line stripped of leading whitespace; with markers, only the lines between them.
std::string stripped(const std::string& text, const std::string& begin = {},
                     const std::string& end = {}) {
  std::istringstream lines(text);
  std::string line, out;
  bool inside = begin.empty();
  while (std::getline(lines, line)) {
    const auto first = line.find_first_not_of(' ');
    const auto content = first == std::string::npos ? std::string() : line.substr(first);
    if (!end.empty() && inside && content.rfind(end, 0) == 0) break;
    if (inside) out += content + "\n";
    if (!begin.empty() && content.rfind(begin, 0) == 0) inside = true;
  }
  return out;
}

// Points bayesnn::data_root() at `dir` for the lifetime of the guard.
class DataRootGuard {
 public:
  explicit DataRootGuard(const std::string& dir) {
    const char* previous = std::getenv("BAYESNN_DATA");
    if (previous != nullptr) previous_ = previous;
    setenv("BAYESNN_DATA", dir.c_str(), 1);
  }
  ~DataRootGuard() {
    if (previous_.empty()) {
      unsetenv("BAYESNN_DATA");
    } else {
      setenv("BAYESNN_DATA", previous_.c_str(), 1);
    }
  }

 private:
  std::string previous_;
};

// The README's "The article's hierarchical MLP in ten lines", verbatim between the markers.
double readme_hierarchical_mlp(torch::nn::Sequential& net_out) {
  // BEGIN README hierarchical MLP
  namespace bnn = bayesnn;
  auto layer = [](int64_t in, int64_t out) {
    return bnn::BayesLinear(bnn::BayesLinearOptions(in, out)
                                .prior(bnn::Prior::hierarchical(/*tau=*/1.0))
                                .estimator(bnn::Estimator::kLocalReparameterization));
  };
  torch::nn::Sequential net(torch::nn::Flatten(), layer(784, 800), torch::nn::ReLU(),
                            layer(800, 800), torch::nn::ReLU(), layer(800, 10));
  auto train = bnn::load_mnist(bnn::data_dir("mnist"), bnn::Split::kTrain);
  bnn::Trainer(net, bnn::TrainerOptions().epochs(10).batch_size(128)).fit(train);
  auto test = bnn::load_mnist(bnn::data_dir("mnist"), bnn::Split::kTest);
  auto prediction = bnn::predict(net, test.inputs, /*samples=*/100);
  double accuracy = bnn::metrics::accuracy(prediction.probs, test.targets);
  auto scales = bnn::prior_scales(*net);  // {"1.weight_prior": 0.04, ...}: learned prior sds
  // END README hierarchical MLP
  CHECK(scales.count("1.weight_prior") == 1);
  net_out = net;
  return accuracy;
}

// The README's "From a trained network", verbatim between the markers.
double readme_to_bayesian(torch::nn::Sequential& net_out) {
  // BEGIN README to_bayesian
  namespace bnn = bayesnn;
  torch::nn::Sequential net(torch::nn::Flatten(), torch::nn::Linear(784, 100), torch::nn::ReLU(),
                            torch::nn::Linear(100, 10));
  auto train = bnn::load_mnist(bnn::data_dir("mnist"), bnn::Split::kTrain);
  bnn::Trainer(net, bnn::TrainerOptions().epochs(5)).fit(train);  // or load_trained(file, *net)
  auto bayesian = bnn::to_bayesian(net, bnn::ConvertOptions().moped_delta(0.1));  // MOPED
  bnn::Trainer(bayesian, bnn::TrainerOptions().epochs(1)).fit(train);  // fine-tuned: the full ELBO
  auto test = bnn::load_mnist(bnn::data_dir("mnist"), bnn::Split::kTest);
  auto prediction = bnn::predict(bayesian, test.inputs, /*samples=*/100);
  // END README to_bayesian
  net_out = bayesian;
  return bnn::metrics::accuracy(prediction.probs, test.targets);
}

// The README's "Compressing a network", verbatim between the markers; returns the compression
// ratio (the network is the compressed one).
double readme_compress(torch::nn::Sequential& net_out) {
  // BEGIN README compress
  namespace bnn = bayesnn;
  auto layer = [](int64_t in, int64_t out) {
    return bnn::BayesLinear(
        bnn::BayesLinearOptions(in, out).prior(bnn::Prior::group_normal_jeffreys()));
  };
  torch::nn::Sequential net(torch::nn::Flatten(), layer(784, 300), torch::nn::ReLU(),
                            layer(300, 100), torch::nn::ReLU(), layer(100, 10));
  auto all = bnn::load_mnist(bnn::data_dir("mnist"), bnn::Split::kTrain);
  auto train = all.head(all.size() * 5 / 6), held_out = all.slice(train.size(), all.size());
  auto settings = bnn::TrainerOptions().scale_lr(1e-2).max_log_sigma(std::log(0.2));
  bnn::Trainer(net, settings.epochs(10)).fit(train);
  auto search = bnn::ThresholdSearchOptions().budget(1).nll_tolerance(INFINITY);  // 1 point
  auto rule = bnn::choose_thresholds(net, held_out.inputs, held_out.targets, search);
  auto small = bnn::compress(net, rule.options);  // small.report: units, weights kept, ratio()
  bnn::Trainer(small.network, settings.epochs(2)).fit(train);  // fine-tuning wins it back
  auto bits = bnn::reduce_precision(small.network, small.report.weights());  // bits.ratio()
  bnn::export_posterior_mean(small.network, "compressed.pt", {}, bits.storage());
  // END README compress
  net_out = small.network;
  return small.report.ratio();
}

// Runs a README example on a synthetic MNIST (2000 training, 500 test images, separable
// classes) under BAYESNN_DATA, seeded; returns its test accuracy and the network it built.
double on_synthetic_mnist(uint32_t seed, double (*example)(torch::nn::Sequential&),
                          torch::nn::Sequential& net) {
  bayesnn::test::TempDir dir;
  bayesnn::test::SyntheticMnist data;
  data.train = 2000;
  data.test = 500;
  data.seed = seed;
  bayesnn::test::write_synthetic_mnist(dir.file("mnist"), data);
  DataRootGuard root(dir.path());
  torch::manual_seed(seed + 1);
  return example(net);
}

}  // namespace

TEST_CASE("README: the to_bayesian example converts, fine-tunes and predicts", "[readme]") {
  torch::nn::Sequential net;
  CHECK(on_synthetic_mnist(82, readme_to_bayesian, net) > 0.9);
  CHECK(bayesnn::count_bayes_modules(*net) == 2);
}

TEST_CASE("README: the hierarchical MLP example trains and predicts", "[readme]") {
  torch::nn::Sequential net;
  // The synthetic classes are separable; ten epochs of 2000 images learn them.
  CHECK(on_synthetic_mnist(80, readme_hierarchical_mlp, net) > 0.9);
  CHECK(bayesnn::count_bayes_modules(*net) == 3);
}

TEST_CASE("README: the compression example trains, compresses and exports", "[readme]") {
  // In a directory of its own: the example writes compressed.pt where it runs.
  bayesnn::test::TempDir dir;
  const auto previous = fs::current_path();
  fs::current_path(dir.path());
  torch::nn::Sequential net;
  const double ratio = on_synthetic_mnist(84, readme_compress, net);
  fs::current_path(previous);
  CHECK(ratio >= 1.0);
  CHECK(bayesnn::count_bayes_modules(*net) == 3);
  CHECK(fs::file_size(dir.file("compressed.pt")) > 0);
}

TEST_CASE("README: holds the examples that the tests compile, verbatim", "[readme]") {
  const fs::path source(BAYESNN_SOURCE_DIR);
  const auto readme = stripped(read_text(source / "README.md"));
  REQUIRE_FALSE(readme.empty());
  SECTION("the hierarchical MLP") {
    const auto example = stripped(read_text(source / "tests" / "readme_test.cpp"),
                                  "// BEGIN README hierarchical MLP", "// END README");
    REQUIRE_FALSE(example.empty());
    CHECK(readme.find(example) != std::string::npos);
  }
  SECTION("to_bayesian") {
    const auto example = stripped(read_text(source / "tests" / "readme_test.cpp"),
                                  "// BEGIN README to_bayesian", "// END README");
    REQUIRE_FALSE(example.empty());
    CHECK(readme.find(example) != std::string::npos);
  }
  SECTION("compress") {
    const auto example = stripped(read_text(source / "tests" / "readme_test.cpp"),
                                  "// BEGIN README compress", "// END README");
    REQUIRE_FALSE(example.empty());
    CHECK(readme.find(example) != std::string::npos);
  }
  SECTION("docs/export.md: loading an exported model in C++ (run by the export tests)") {
    const auto example = stripped(read_text(source / "tests" / "export_test.cpp"),
                                  "// BEGIN docs/export.md C++", "// END docs/export.md C++");
    REQUIRE_FALSE(example.empty());
    CHECK(stripped(read_text(source / "docs" / "export.md")).find(example) != std::string::npos);
  }
  SECTION("the test command is what CI runs") {
    CHECK(readme.find("tools/test\n") != std::string::npos);
    CHECK(read_text(source / ".ci" / "run").find("\ntools/test\n") != std::string::npos);
  }
}
