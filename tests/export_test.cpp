#include "support/catch.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "bayesnn/bayes_conv1d.h"
#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/bayes_module.h"
#include "bayesnn/compress.h"
#include "bayesnn/export.h"
#include "bayesnn/gaussian.h"
#include "bayesnn/version.h"
#include "support/python.h"

namespace {
namespace fs = std::filesystem;
using bayesnn::BayesConv1d;
using bayesnn::BayesConv1dOptions;
using bayesnn::BayesConv2d;
using bayesnn::BayesConv2dOptions;
using bayesnn::BayesLinear;
using bayesnn::BayesLinearOptions;
using bayesnn::Prior;

// A fresh directory under the system's temporary directory, removed with its contents.
struct TemporaryDirectory {
  TemporaryDirectory() {
    std::string pattern = (fs::temp_directory_path() / "bayesnn_export_XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  fs::path path;
};

// The experiments' MLP, narrower for speed: 784-64-64-10.
torch::nn::Sequential make_mlp(const Prior& prior, double log_sigma_init = -5.0) {
  return torch::nn::Sequential(
      torch::nn::Flatten(),
      BayesLinear(BayesLinearOptions(784, 64).prior(prior).log_sigma_init(log_sigma_init)),
      torch::nn::ReLU(),
      BayesLinear(BayesLinearOptions(64, 64).prior(prior).log_sigma_init(log_sigma_init)),
      torch::nn::ReLU(),
      BayesLinear(BayesLinearOptions(64, 10).prior(prior).log_sigma_init(log_sigma_init)));
}

// The experiments' CNN, narrower: conv 8@5x5, maxpool 2, conv 8@5x5, maxpool 2, dense 32, 10.
torch::nn::Sequential make_cnn(const Prior& prior, double log_sigma_init = -5.0) {
  return torch::nn::Sequential(
      BayesConv2d(BayesConv2dOptions(1, 8, 5).prior(prior).log_sigma_init(log_sigma_init)),
      torch::nn::ReLU(), torch::nn::MaxPool2d(2),
      BayesConv2d(BayesConv2dOptions(8, 8, 5).prior(prior).log_sigma_init(log_sigma_init)),
      torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch::nn::Flatten(),
      BayesLinear(BayesLinearOptions(128, 32).prior(prior).log_sigma_init(log_sigma_init)),
      torch::nn::ReLU(),
      BayesLinear(BayesLinearOptions(32, 10).prior(prior).log_sigma_init(log_sigma_init)));
}

// A 1-D CNN over [N, 2, 32] signals: conv 4@5 (padding 2), conv 4@3 (stride 2, dilation 2,
// 2 groups), dense 10.
torch::nn::Sequential make_cnn1d(const Prior& prior, double log_sigma_init = -5.0) {
  return torch::nn::Sequential(
      BayesConv1d(
          BayesConv1dOptions(2, 4, 5).padding(2).prior(prior).log_sigma_init(log_sigma_init)),
      torch::nn::ReLU(),
      BayesConv1d(
          BayesConv1dOptions(4, 4, 3).stride(2).dilation(2).groups(2).prior(prior).log_sigma_init(
              log_sigma_init)),
      torch::nn::Tanh(), torch::nn::Flatten(),
      BayesLinear(BayesLinearOptions(4 * 14, 10).prior(prior).log_sigma_init(log_sigma_init)));
}

torch::Tensor run_mean(torch::jit::script::Module& module, const torch::Tensor& x) {
  return module.forward({x}).toTensor();
}

c10::Dict<c10::IValue, c10::IValue> run_predictive(torch::jit::script::Module& module,
                                                   const torch::Tensor& x, int64_t samples) {
  return module.forward({x, samples}).toGenericDict();
}

// The C++ Monte Carlo predictive: mean softmax over `samples` forwards in Mode::kSample,
// the per-element standard error of that mean, and the mutual information estimate.
struct MonteCarlo {
  torch::Tensor probs, probs_se, entropy, mutual_information;
};

MonteCarlo monte_carlo(torch::nn::Sequential& model, const torch::Tensor& x, int64_t samples) {
  torch::NoGradGuard no_grad;
  bayesnn::set_mode(*model, bayesnn::Mode::kSample);
  torch::Tensor sum, sum_sq, entropy_sum;
  for (int64_t s = 0; s < samples; ++s) {
    auto log_p = torch::log_softmax(model->forward(x), -1);
    auto p = log_p.exp();
    auto h = -(p * log_p).sum(-1);
    sum = sum.defined() ? sum + p : p;
    sum_sq = sum_sq.defined() ? sum_sq + p * p : p * p;
    entropy_sum = entropy_sum.defined() ? entropy_sum + h : h;
  }
  MonteCarlo mc;
  mc.probs = sum / samples;
  auto variance = (sum_sq / samples - mc.probs * mc.probs).clamp_min(0) * samples / (samples - 1);
  mc.probs_se = (variance / samples).sqrt();
  mc.entropy = -(mc.probs * mc.probs.clamp_min(1e-30).log()).sum(-1);
  mc.mutual_information = mc.entropy - entropy_sum / samples;
  return mc;
}

nlohmann::json read_metadata(const std::string& path) {
  torch::jit::ExtraFilesMap extra{{bayesnn::kExportMetadataFile, ""}};
  torch::jit::load(path, torch::kCPU, extra);
  return nlohmann::json::parse(extra.at(bayesnn::kExportMetadataFile));
}

// y = x * s with q(s) = N(scale_mean, exp(scale_log_sigma)²): bayes_module.h's example layer,
// with the export hook.
struct BayesScaleImpl : torch::nn::Cloneable<BayesScaleImpl>, bayesnn::BayesModule {
  BayesScaleImpl() { reset(); }
  void reset() override {
    scale_mean = register_parameter("scale_mean", torch::full({1}, 2.0));
    scale_log_sigma = register_parameter("scale_log_sigma", torch::full({1}, -1.0));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto s = mode() == bayesnn::Mode::kMean ? scale_mean
                                            : bayesnn::sample_normal(scale_mean, scale_log_sigma);
    return x * s;
  }
  torch::Tensor kl() override {
    return bayesnn::kl_normal_zero_mean(scale_mean, scale_log_sigma, torch::zeros({}));
  }
  void export_torchscript(bayesnn::ExportContext& ctx) const override {
    ctx.describe("prior", "fixed(1)");
    ctx.emit("x = x * " + ctx.variational("scale", scale_mean, scale_log_sigma));
  }
  torch::Tensor scale_mean, scale_log_sigma;
};
TORCH_MODULE(BayesScale);

// The same layer without the hook: not exportable.
struct NoHookScaleImpl : torch::nn::Cloneable<NoHookScaleImpl>, bayesnn::BayesModule {
  NoHookScaleImpl() { reset(); }
  void reset() override { scale_mean = register_parameter("scale_mean", torch::ones({1})); }
  torch::Tensor forward(const torch::Tensor& x) { return x * scale_mean; }
  torch::Tensor kl() override { return torch::zeros({}); }
  torch::Tensor scale_mean;
};
TORCH_MODULE(NoHookScale);

// bayes_module.h's deterministic example: exportable through ScriptExportable.
struct ShiftImpl : torch::nn::Cloneable<ShiftImpl>, bayesnn::ScriptExportable {
  ShiftImpl() { reset(); }
  void reset() override { shift = register_buffer("shift", torch::ones({1})); }
  torch::Tensor forward(const torch::Tensor& x) { return x + shift; }
  void export_torchscript(bayesnn::ExportContext& ctx) const override {
    ctx.emit("x = x + " + ctx.tensor("shift", shift));
  }
  torch::Tensor shift;
};
TORCH_MODULE(Shift);

// A Sequential that nests in a Sequential (torch::nn::Sequential's own forward is a template,
// which AnyModule cannot hold): the usual way to nest blocks in C++.
struct BlockImpl : torch::nn::SequentialImpl {
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Block);

// docs/export.md's C++ loading snippet, verbatim between the markers (a test below checks that
// the document still holds this text), compiled here and run on files in the current directory.
void load_as_documented(const torch::Tensor& images, torch::Tensor& logits_out,
                        torch::Tensor& probs_out, std::string& metadata_out) {
  // BEGIN docs/export.md C++
  torch::jit::script::Module mean_net = torch::jit::load("posterior_mean.pt");
  torch::Tensor logits = mean_net.forward({images}).toTensor();  // images: [N, 1, 28, 28]

  torch::jit::script::Module predictive = torch::jit::load("predictive.pt");
  auto out = predictive.forward({images, 200}).toGenericDict();  // 200 posterior samples
  torch::Tensor probs = out.at("probs").toTensor();              // [N, C]
  torch::Tensor entropy = out.at("entropy").toTensor();          // [N]
  torch::Tensor mutual_information = out.at("mutual_information").toTensor();  // [N]

  torch::jit::ExtraFilesMap extra{{"bayesnn.json", ""}};
  torch::jit::load("predictive.pt", torch::kCPU, extra);  // extra["bayesnn.json"]: the metadata
  // END docs/export.md C++
  REQUIRE(entropy.sizes() == torch::IntArrayRef{images.size(0)});
  REQUIRE(mutual_information.sizes() == torch::IntArrayRef{images.size(0)});
  logits_out = logits;
  probs_out = probs;
  metadata_out = extra["bayesnn.json"];
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The lines between two marker lines, each stripped of leading whitespace.
std::string stripped_lines(const std::string& text, const std::string& begin,
                           const std::string& end) {
  std::istringstream lines(text);
  std::string line, out;
  bool inside = false;
  while (std::getline(lines, line)) {
    auto first = line.find_first_not_of(' ');
    auto content = first == std::string::npos ? std::string() : line.substr(first);
    if (content.rfind(end, 0) == 0 && inside) break;
    if (inside) out += content + "\n";
    if (content.rfind(begin, 0) == 0) inside = true;
  }
  return out;
}

}  // namespace

TEST_CASE("export: the posterior-mean module equals the C++ model in Mode::kMean", "[export]") {
  torch::manual_seed(0);
  TemporaryDirectory dir;
  const auto images = torch::rand({16, 1, 28, 28});
  const auto signals = torch::rand({16, 2, 32});
  auto check = [&](torch::nn::Sequential model, const std::string& prior, const torch::Tensor& x) {
    bayesnn::export_posterior_mean(model, dir.file("mean.pt"));
    auto loaded = torch::jit::load(dir.file("mean.pt"));
    bayesnn::set_mode(*model, bayesnn::Mode::kMean);
    torch::NoGradGuard no_grad;
    const auto expected = model->forward(x);
    const auto actual = run_mean(loaded, x);
    REQUIRE(actual.sizes() == expected.sizes());
    CHECK((actual - expected).abs().max().item<double>() <= 1e-5);
    // Deterministic: the same output twice.
    CHECK(torch::equal(run_mean(loaded, x), actual));
    const auto metadata = read_metadata(dir.file("mean.pt"));
    CHECK(metadata["format"] == "bayesnn.posterior_mean");
    const auto first_bayesian = metadata["layers"][model[0]->name() == "torch::nn::FlattenImpl"];
    CHECK(first_bayesian["prior"].get<std::string>().find(prior) == 0);
  };
  SECTION("MLP, fixed prior") { check(make_mlp(Prior::fixed(0.1)), "fixed", images); }
  SECTION("MLP, hierarchical prior") {
    check(make_mlp(Prior::hierarchical(1.0)), "hierarchical", images);
  }
  SECTION("CNN, fixed prior") { check(make_cnn(Prior::fixed(0.1)), "fixed", images); }
  SECTION("CNN, hierarchical prior") {
    check(make_cnn(Prior::hierarchical(1.0)), "hierarchical", images);
  }
  SECTION("MLP, scale-mixture prior") {
    check(make_mlp(Prior::scale_mixture()), "scale_mixture", images);
  }
  SECTION("CNN, per-unit hierarchical prior") {
    check(make_cnn(Prior::unit_hierarchical(1.0)), "unit_hierarchical", images);
  }
  SECTION("1-D CNN, hierarchical prior") {
    check(make_cnn1d(Prior::hierarchical(1.0)), "hierarchical", signals);
  }
  SECTION("1-D CNN, per-unit hierarchical prior") {
    check(make_cnn1d(Prior::unit_hierarchical(1.0)), "unit_hierarchical", signals);
  }
}

TEST_CASE("export: standard layers export to the C++ outputs", "[export]") {
  torch::manual_seed(1);
  TemporaryDirectory dir;
  torch::nn::BatchNorm2d batch_norm(4);
  torch::nn::Sequential model(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)), batch_norm,
      torch::nn::ReLU6(), torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2)),
      Block(torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3).bias(false)),
            torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2))),
      torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).ceil_mode(true)), torch::nn::Dropout(0.5),
      torch::nn::Flatten(), torch::nn::Linear(144, 32), torch::nn::ELU(), torch::nn::Linear(32, 32),
      torch::nn::SELU(), torch::nn::Linear(32, 32), torch::nn::GELU(), torch::nn::Linear(32, 32),
      torch::nn::SiLU(), torch::nn::Tanh(), torch::nn::Sigmoid(),
      torch::nn::Softplus(torch::nn::SoftplusOptions().beta(2).threshold(10)),
      torch::nn::Identity(), torch::nn::Linear(32, 10), torch::nn::LogSoftmax(1));
  {
    torch::NoGradGuard no_grad;
    batch_norm->running_mean.uniform_(-0.5, 0.5);
    batch_norm->running_var.uniform_(0.5, 2.0);
    batch_norm->weight.uniform_(0.5, 1.5);
    batch_norm->bias.uniform_(-0.5, 0.5);
  }
  model->eval();
  const auto x = torch::rand({8, 1, 28, 28});
  bayesnn::export_posterior_mean(model, dir.file("mean.pt"));
  auto loaded = torch::jit::load(dir.file("mean.pt"));
  torch::NoGradGuard no_grad;
  const auto expected = model->forward(x);
  CHECK((run_mean(loaded, x) - expected).abs().max().item<double>() <= 1e-5);
}

TEST_CASE("export: the predictive converges to the C++ Monte Carlo predictive", "[export]") {
  // log_sigma = -3 makes the posterior wide enough that the samples disagree.
  constexpr int64_t kSamples = 2000;
  TemporaryDirectory dir;
  auto check = [&](torch::nn::Sequential model, int64_t samples,
                   std::vector<int64_t> input_shape = {8, 1, 28, 28}) {
    torch::manual_seed(2);
    const auto x = torch::rand(input_shape);
    bayesnn::export_predictive(model, dir.file("predictive.pt"), 7);
    auto loaded = torch::jit::load(dir.file("predictive.pt"));
    const auto mc = monte_carlo(model, x, samples);
    torch::manual_seed(3);
    const auto out = run_predictive(loaded, x, samples);
    const auto probs = out.at("probs").toTensor();
    const auto entropy = out.at("entropy").toTensor();
    const auto mutual_information = out.at("mutual_information").toTensor();
    REQUIRE(probs.sizes() == mc.probs.sizes());
    REQUIRE(entropy.sizes() == torch::IntArrayRef{8});
    REQUIRE(mutual_information.sizes() == torch::IntArrayRef{8});
    CHECK((probs.sum(-1) - 1).abs().max().item<double>() <= 1e-5);
    // Each probability within 5 standard errors of the difference of two independent
    // estimates (standard error sqrt(2) * that of the C++ one).
    const auto z = ((probs - mc.probs).abs() / (mc.probs_se * std::sqrt(2.0)).clamp_min(1e-6));
    INFO("max |z| " << z.max().item<double>() << ", C++ probs " << mc.probs[0]);
    CHECK(z.max().item<double>() <= 5.0);
    // The entropy is that of the returned probs; the mutual information is within 0.02 nats
    // (plus 10 %) of the C++ estimate: the samples do disagree (positive information).
    const auto entropy_of_probs = -(probs * probs.log()).sum(-1);
    CHECK((entropy - entropy_of_probs).abs().max().item<double>() <= 1e-4);
    INFO("mutual information " << mutual_information << " C++ " << mc.mutual_information);
    CHECK(((mutual_information - mc.mutual_information).abs() - 0.1 * mc.mutual_information.abs())
              .max()
              .item<double>() <= 0.02);
    CHECK(mutual_information.min().item<double>() > 1e-3);
    // It really samples: two one-sample calls differ; the default is the exported count.
    CHECK_FALSE(torch::equal(run_predictive(loaded, x, 1).at("probs").toTensor(),
                             run_predictive(loaded, x, 1).at("probs").toTensor()));
    const auto default_out = loaded.forward({x}).toGenericDict();
    CHECK(default_out.at("probs").toTensor().sizes() == mc.probs.sizes());
    CHECK(read_metadata(dir.file("predictive.pt"))["samples"] == 7);
  };
  SECTION("MLP, hierarchical prior") {
    check(make_mlp(Prior::hierarchical(1.0), /*log_sigma_init=*/-3.0), kSamples);
  }
  SECTION("CNN, fixed prior") {
    check(make_cnn(Prior::fixed(0.1), /*log_sigma_init=*/-2.0), kSamples / 2);
  }
  SECTION("MLP, per-unit hierarchical prior") {
    check(make_mlp(Prior::unit_hierarchical(1.0), /*log_sigma_init=*/-3.0), kSamples);
  }
  SECTION("CNN, scale-mixture prior") {
    check(make_cnn(Prior::scale_mixture(), /*log_sigma_init=*/-2.0), kSamples / 2);
  }
  SECTION("1-D CNN, fixed prior") {
    check(make_cnn1d(Prior::fixed(0.1), /*log_sigma_init=*/-1.5), kSamples, {8, 2, 32});
  }
}

TEST_CASE("export: custom modules export through the ScriptExportable hook", "[export]") {
  torch::manual_seed(4);
  TemporaryDirectory dir;
  torch::nn::Sequential model(torch::nn::Flatten(), torch::nn::Linear(784, 10), BayesScale(),
                              Shift());
  const auto x = torch::rand({4, 1, 28, 28});
  bayesnn::export_posterior_mean(model, dir.file("mean.pt"));
  bayesnn::export_predictive(model, dir.file("predictive.pt"), 50);
  auto mean = torch::jit::load(dir.file("mean.pt"));
  bayesnn::set_mode(*model, bayesnn::Mode::kMean);
  torch::NoGradGuard no_grad;
  CHECK((run_mean(mean, x) - model->forward(x)).abs().max().item<double>() <= 1e-5);
  auto predictive = torch::jit::load(dir.file("predictive.pt"));
  CHECK_FALSE(torch::equal(run_predictive(predictive, x, 1).at("probs").toTensor(),
                           run_predictive(predictive, x, 1).at("probs").toTensor()));
  const auto metadata = read_metadata(dir.file("predictive.pt"));
  CHECK(metadata["layers"][2]["path"] == "2");
  CHECK(metadata["layers"][2]["prior"] == "fixed(1)");
}

TEST_CASE("export: unsupported modules are named with their path", "[export]") {
  TemporaryDirectory dir;
  SECTION("a torch module without an exporter") {
    torch::nn::Sequential model(torch::nn::Linear(4, 4),
                                Block(torch::nn::ReLU(), torch::nn::LSTM(4, 4)));
    REQUIRE_THROWS_WITH(
        bayesnn::export_posterior_mean(model, dir.file("mean.pt")),
        Catch::Contains("export_posterior_mean: unsupported module torch::nn::LSTM at '1.1'"));
    REQUIRE_THROWS_WITH(
        bayesnn::export_predictive(model, dir.file("predictive.pt")),
        Catch::Contains("export_predictive: unsupported module torch::nn::LSTM at '1.1'"));
    CHECK_FALSE(fs::exists(dir.file("mean.pt")));
  }
  SECTION("a BayesModule without the hook") {
    torch::nn::Sequential model(torch::nn::Linear(4, 4), NoHookScale());
    REQUIRE_THROWS_WITH(bayesnn::export_posterior_mean(model, dir.file("mean.pt")),
                        Catch::Contains("unsupported module") &&
                            Catch::Contains("at '1' (a BayesModule that does not override "
                                            "export_torchscript)"));
  }
  SECTION("a model that is not a Sequential") {
    torch::nn::LSTM model(4, 4);
    REQUIRE_THROWS_WITH(bayesnn::export_posterior_mean(model, dir.file("mean.pt")),
                        Catch::Contains("unsupported module torch::nn::LSTM at ''"));
  }
  SECTION("a Conv2d with reflection padding") {
    torch::nn::Sequential model(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(1, 1, 3).padding(1).padding_mode(torch::kReflect)));
    REQUIRE_THROWS_WITH(bayesnn::export_posterior_mean(model, dir.file("mean.pt")),
                        Catch::Contains("unsupported module torch::nn::Conv2d at '0' (only zero "
                                        "padding_mode is supported)"));
  }
}

TEST_CASE("export: bad arguments give clear errors", "[export]") {
  TemporaryDirectory dir;
  auto model = make_mlp(Prior::fixed(0.1));
  REQUIRE_THROWS_WITH(bayesnn::export_predictive(model, dir.file("p.pt"), 0),
                      Catch::Contains("export_predictive: samples must be positive, got 0"));
  REQUIRE_THROWS_WITH(bayesnn::export_posterior_mean(model, dir.file("missing/dir/mean.pt")),
                      Catch::Contains("export_posterior_mean: cannot write '" +
                                      dir.file("missing/dir/mean.pt") + "'"));
  bayesnn::export_predictive(model, dir.file("p.pt"), 3);
  auto loaded = torch::jit::load(dir.file("p.pt"));
  REQUIRE_THROWS_WITH(run_predictive(loaded, torch::rand({2, 1, 28, 28}), 0),
                      Catch::Contains("predictive: samples must be positive"));
}

TEST_CASE("export: the metadata is readable from extra_files", "[export]") {
  torch::manual_seed(5);
  TemporaryDirectory dir;
  auto model = make_cnn(Prior::hierarchical(1.0));
  bayesnn::ExportMetadata metadata;
  metadata.training_command = "mnist_cnn --prior hierarchical --epochs 3";
  metadata.extra["dataset"] = "mnist";
  bayesnn::export_predictive(model, dir.file("predictive.pt"), 42, metadata);
  const auto json = read_metadata(dir.file("predictive.pt"));
  CHECK(json["format"] == "bayesnn.predictive");
  CHECK(json["bayesnn_version"] == bayesnn::kVersion);
  CHECK(json["training_command"] == metadata.training_command);
  CHECK(json["extra"]["dataset"] == "mnist");
  CHECK(json["samples"] == 42);
  std::ostringstream architecture;
  architecture << *model;
  CHECK(json["architecture"] == architecture.str());
  REQUIRE(json["layers"].size() == 10);
  CHECK(json["layers"][0]["path"] == "0");
  CHECK(json["layers"][0]["type"] == "bayesnn::BayesConv2d");
  CHECK(json["layers"][0]["prior"] == "hierarchical(tau=1)");
  CHECK(json["layers"][0]["estimator"] == "reparam");
  CHECK(std::stod(json["layers"][0]["weight_prior_scale"].get<std::string>()) > 0);
  CHECK(json["layers"][1]["type"] == "torch::nn::ReLU");
}

TEST_CASE("export: the documented C++ snippet loads both files", "[export]") {
  torch::manual_seed(6);
  TemporaryDirectory dir;
  auto model = make_cnn(Prior::fixed(0.1));
  bayesnn::export_posterior_mean(model, dir.file("posterior_mean.pt"));
  bayesnn::export_predictive(model, dir.file("predictive.pt"));
  const auto images = torch::rand({5, 1, 28, 28});
  torch::Tensor logits, probs;
  std::string metadata;
  const auto previous = fs::current_path();
  fs::current_path(dir.path);
  load_as_documented(images, logits, probs, metadata);
  fs::current_path(previous);
  bayesnn::set_mode(*model, bayesnn::Mode::kMean);
  torch::NoGradGuard no_grad;
  CHECK((logits - model->forward(images)).abs().max().item<double>() <= 1e-5);
  CHECK(probs.sizes() == torch::IntArrayRef{5, 10});
  CHECK(nlohmann::json::parse(metadata)["format"] == "bayesnn.predictive");

  const auto doc = read_text(fs::path(BAYESNN_SOURCE_DIR) / "docs" / "export.md");
  const auto in_doc = stripped_lines(doc, "```cpp", "```");
  const auto in_test =
      stripped_lines(read_text(fs::path(BAYESNN_SOURCE_DIR) / "tests" / "export_test.cpp"),
                     "// BEGIN docs/export.md C++", "// END docs/export.md C++");
  REQUIRE_FALSE(in_doc.empty());
  CHECK(in_doc == in_test);
}

namespace {

// Python's torch.jit.load reads both files of `model` (tests/python/check_export.py): the
// posterior mean equals the C++ output on `images`, the predictive the C++ Monte Carlo one.
void check_in_python(torch::nn::Sequential model, const torch::Tensor& images) {
  constexpr int64_t kSamples = 1000;
  TemporaryDirectory dir;
  bayesnn::export_posterior_mean(model, dir.file("posterior_mean.pt"));
  bayesnn::export_predictive(model, dir.file("predictive.pt"));
  const auto mc = monte_carlo(model, images, kSamples);
  bayesnn::set_mode(*model, bayesnn::Mode::kMean);
  torch::jit::Module references("References");
  {
    torch::NoGradGuard no_grad;
    references.register_buffer("input", images);
    references.register_buffer("mean_output", model->forward(images));
  }
  references.register_buffer("probs", mc.probs);
  references.register_buffer("probs_se", mc.probs_se);
  references.register_buffer("samples", torch::tensor(kSamples));
  references.save(dir.file("references.pt"));

  const std::string command = std::string(bayesnn::test::kPython) + " " + BAYESNN_SOURCE_DIR +
                              "/tests/python/check_export.py " + dir.path.string() + " " +
                              BAYESNN_SOURCE_DIR + "/docs/export.md 2>&1";
  const auto [status, output] = bayesnn::test::run_command(command);
  INFO(command << "\n" << output);
  CHECK(status == 0);
  CHECK(output.find("check_export.py: OK") != std::string::npos);
}

}  // namespace

TEST_CASE("export: Python's torch.jit.load reads both files", "[export]") {
  if (!bayesnn::test::python_has_torch()) {
    REQUIRE_FALSE(bayesnn::test::in_ci());  // CI installs python3-torch: its absence fails
    WARN(bayesnn::test::kPython
         << " cannot import torch (install python3-torch): Python interop not checked");
    return;
  }
  torch::manual_seed(7);
  SECTION("CNN") {
    auto model = make_cnn(Prior::hierarchical(1.0), /*log_sigma_init=*/-2.0);
    check_in_python(model, torch::rand({6, 1, 28, 28}));
  }
  SECTION("compressed CNN with group priors") {
    // The compressed network (units switched off in conv2 and fc1) exports its product weights.
    auto model = make_cnn(Prior::group_horseshoe(1.0, -2.0), /*log_sigma_init=*/-2.0);
    for (const char* layer : {"3", "7"}) {  // conv2, fc1
      torch::NoGradGuard no_grad;
      auto local = model->named_parameters()[std::string(layer) + ".weight_prior.local_a_mean"];
      local.slice(0, 0, local.size(0) / 2).fill_(-40.0);
    }
    auto compressed = bayesnn::compress(model);
    REQUIRE(compressed.report.ratio() > 1.5);
    check_in_python(compressed.network, torch::rand({6, 1, 28, 28}));
  }
  SECTION("1-D CNN") {
    auto model = make_cnn1d(Prior::hierarchical(1.0), /*log_sigma_init=*/-1.5);
    check_in_python(model, torch::rand({6, 2, 32}));
  }
}

TEST_CASE(
    "read_export_info: reads back what each export recorded, and names a file that is not one",
    "[export]") {
  TemporaryDirectory dir;
  torch::nn::Sequential model(BayesLinear(4, 3));
  bayesnn::ExportMetadata metadata;
  metadata.training_command = "train --epochs 3";
  metadata.extra["dataset"] = "mnist";
  bayesnn::export_posterior_mean(model, dir.file("mean.pt"), metadata);
  bayesnn::export_predictive(model, dir.file("predictive.pt"), 7, metadata);

  const auto mean = bayesnn::read_export_info(dir.file("mean.pt"));
  CHECK(mean.format == "bayesnn.posterior_mean");
  CHECK(mean.samples == 0);
  CHECK(mean.bayesnn_version == bayesnn::kVersion);
  CHECK(mean.torch_version == TORCH_VERSION);
  CHECK(mean.metadata.training_command == "train --epochs 3");
  CHECK(mean.metadata.extra == metadata.extra);
  const auto predictive = bayesnn::read_export_info(dir.file("predictive.pt"));
  CHECK(predictive.format == "bayesnn.predictive");
  CHECK(predictive.samples == 7);
  CHECK(nlohmann::json::parse(predictive.json).at("samples") == 7);

  // A missing file, a file that is no archive, and a TorchScript file without bayesnn's metadata.
  std::ofstream(dir.file("text.pt")) << "not an archive";
  torch::jit::script::Module plain("Plain");
  plain.save(dir.file("plain.pt"));
  const std::vector<std::pair<std::string, std::string>> cases{
      {dir.file("missing.pt"), "no such file"},
      {dir.file("text.pt"), "not a TorchScript archive"},
      {dir.file("plain.pt"), "it holds no extra/bayesnn.json"},
  };
  for (const auto& c : cases) {
    const std::string path = c.first, reason = c.second;  // lambdas cannot capture a binding
    REQUIRE_THROWS_MATCHES(
        bayesnn::read_export_info(path), bayesnn::ExportReadError,
        Catch::Matchers::Predicate<std::exception>([&](const std::exception& error) {
          const std::string message = error.what();
          return message.rfind("'" + path + "' is not a readable bayesnn export: " + reason, 0) ==
                     0 &&
                 message.find('\n') == std::string::npos;
        }));
  }
}
