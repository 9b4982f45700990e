#include "support/catch.h"

#include <array>
#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include "bayesnn/bayes_conv1d.h"
#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/bayes_module.h"
#include "bayesnn/convert.h"
#include "bayesnn/export.h"
#include "bayesnn/gaussian.h"
#include "bayesnn/trainer.h"
#include "support/temp_dir.h"

using Catch::Contains;
namespace nn = torch::nn;

namespace {

// The deterministic network's output and the converted one's posterior-mean output.
void check_mean_reproduces(nn::Module& deterministic, nn::Module& converted,
                           const std::function<torch::Tensor(const torch::Tensor&)>& det_forward,
                           const std::function<torch::Tensor(const torch::Tensor&)>& bnn_forward,
                           const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  deterministic.eval();
  bayesnn::set_mode(converted, bayesnn::Mode::kMean);
  const auto expected = det_forward(x);
  const auto got = bnn_forward(x);
  INFO("max |difference| " << (expected - got).abs().max().item<double>());
  CHECK(torch::equal(expected, got));
}

// A CNN with every Conv2d option the converter carries over, and an MLP head.
nn::Sequential conv_net() {
  return nn::Sequential(
      nn::Conv2d(nn::Conv2dOptions(3, 8, 3).stride(2).padding(1)), nn::ReLU(),
      nn::Conv2d(nn::Conv2dOptions(8, 8, {3, 5}).padding({2, 1}).dilation({2, 1}).groups(4)),
      nn::Conv2d(nn::Conv2dOptions(8, 6, 3).padding(torch::kSame).bias(false)), nn::Tanh(),
      nn::Conv2d(nn::Conv2dOptions(6, 4, 1).padding(torch::kValid)), nn::MaxPool2d(2),
      nn::Flatten(), nn::Linear(nn::LinearOptions(4 * 3 * 1, 7).bias(false)), nn::ReLU(),
      nn::Linear(7, 3));
}

}  // namespace

// Users' modules (in a named namespace: their type names appear in the report).
namespace convert_test {

// A user's block around a Sequential (a Sequential cannot hold a Sequential in C++).
struct BlockImpl : nn::Cloneable<BlockImpl> {
  explicit BlockImpl(bool norm = false) : norm_(norm) { reset(); }
  void reset() override {
    body = norm_ ? nn::Sequential(nn::BatchNorm1d(4), nn::Linear(4, 4))
                 : nn::Sequential(nn::Linear(5, 5), nn::Tanh());
    register_module("body", body);
  }
  torch::Tensor forward(const torch::Tensor& x) { return body->forward(x); }
  nn::Sequential body{nullptr};
  bool norm_;
};
TORCH_MODULE(Block);

// A user's module whose layers live in Sequentials: the converter reaches them in place.
struct TwoTowersImpl : nn::Cloneable<TwoTowersImpl> {
  TwoTowersImpl() { reset(); }
  void reset() override {
    features = register_module("features", nn::Sequential(nn::Linear(6, 5), nn::ReLU(), Block()));
    head = register_module("head", nn::Sequential(nn::Linear(5, 2)));
  }
  torch::Tensor forward(const torch::Tensor& x) { return head->forward(features->forward(x)); }
  nn::Sequential features{nullptr}, head{nullptr};
};
TORCH_MODULE(TwoTowers);

// A user's module that calls its Linear by type, and one that computes with its own weight.
struct TypedChildImpl : nn::Cloneable<TypedChildImpl> {
  TypedChildImpl() { reset(); }
  void reset() override { fc = register_module("fc", nn::Linear(4, 4)); }
  torch::Tensor forward(const torch::Tensor& x) { return fc(x); }
  nn::Linear fc{nullptr};
};
TORCH_MODULE(TypedChild);

struct OwnWeightImpl : nn::Cloneable<OwnWeightImpl> {
  OwnWeightImpl() { reset(); }
  void reset() override { scale = register_parameter("scale", torch::ones({4})); }
  torch::Tensor forward(const torch::Tensor& x) { return x * scale; }
  torch::Tensor scale;
};
TORCH_MODULE(OwnWeight);

// A deterministic layer whose export hook stores its tensors in another order than it registers
// them (both of one shape: read back in the wrong order, they would swap unnoticed).
struct ScaleShiftImpl : nn::Cloneable<ScaleShiftImpl>, bayesnn::ScriptExportable {
  ScaleShiftImpl() { reset(); }
  void reset() override {
    scale = register_parameter("scale", torch::randn({3}));
    shift = register_parameter("shift", torch::randn({3}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return x * scale + shift; }
  void export_torchscript(bayesnn::ExportContext& ctx) const override {
    const std::string stored_first = ctx.tensor("shift", shift);
    ctx.emit("x = x * " + ctx.tensor("scale", scale) + " + " + stored_first);
  }
  torch::Tensor scale, shift;
};
TORCH_MODULE(ScaleShift);

struct NotClonable : nn::Module {
  NotClonable() { register_module("fc", nn::Linear(2, 2)); }
};

}  // namespace convert_test

using convert_test::Block;
using convert_test::NotClonable;
using convert_test::OwnWeight;
using convert_test::ScaleShift;
using convert_test::TwoTowers;
using convert_test::TwoTowersImpl;
using convert_test::TypedChild;
using convert_test::TypedChildImpl;

namespace {

std::vector<std::string> paths(const std::vector<bayesnn::ConvertReport::Entry>& entries) {
  std::vector<std::string> result;
  for (const auto& entry : entries) result.push_back(entry.path);
  return result;
}

}  // namespace

TEST_CASE("to_bayesian: an MLP's posterior mean is the trained network, bit for bit", "[convert]") {
  torch::manual_seed(1);
  nn::Sequential net(nn::Flatten(), nn::Linear(12, 16), nn::ReLU(), nn::Linear(16, 3));
  bayesnn::ConvertReport report;
  auto bnn = bayesnn::to_bayesian(net, bayesnn::ConvertOptions(), &report);
  CHECK(paths(report.converted) == std::vector<std::string>{"1", "3"});
  nn::Sequential named;
  named->push_back("fc", nn::Linear(2, 2));
  CHECK(bayesnn::to_bayesian(named)->named_children()[0].key() == "fc");  // names kept
  CHECK(report.converted[0].type == "torch::nn::LinearImpl");
  CHECK(report.converted[0].what == "bayesnn::BayesLinear");
  CHECK(report.deterministic.empty());
  REQUIRE(bnn->size() == 4);
  CHECK(bnn->ptr(1)->as<bayesnn::BayesLinear>() != nullptr);
  CHECK(bnn->named_children()[1].value().get() == bnn->ptr(1).get());  // registry == list
  check_mean_reproduces(
      *net, *bnn, [&](const torch::Tensor& x) { return net->forward(x); },
      [&](const torch::Tensor& x) { return bnn->forward(x); }, torch::randn({5, 3, 4}));
  // In Mode::kSample it samples: the outputs differ from the mean's.
  bayesnn::set_mode(*bnn, bayesnn::Mode::kSample);
  const auto x = torch::randn({5, 12});
  CHECK(!torch::equal(bnn->forward(x), net->forward(x)));
}

TEST_CASE(
    "to_bayesian: Conv2d stride, padding (numbers, same, valid), dilation, groups and bias "
    "carried over exactly",
    "[convert]") {
  torch::manual_seed(2);
  auto net = conv_net();
  auto bnn = bayesnn::to_bayesian(net);
  auto* conv = bnn->ptr(2)->as<bayesnn::BayesConv2d>();
  REQUIRE(conv != nullptr);
  CHECK(*conv->options.stride() == std::array<int64_t, 2>{1, 1});
  CHECK(*conv->options.padding() == std::array<int64_t, 2>{2, 1});
  CHECK(*conv->options.dilation() == std::array<int64_t, 2>{2, 1});
  CHECK(*conv->options.kernel_size() == std::array<int64_t, 2>{3, 5});
  CHECK(conv->options.groups() == 4);
  auto* same = bnn->ptr(3)->as<bayesnn::BayesConv2d>();
  REQUIRE(same != nullptr);
  CHECK(*same->options.padding() == std::array<int64_t, 2>{1, 1});
  CHECK(!same->options.bias());
  CHECK(!same->bias.defined());
  CHECK(*bnn->ptr(0)->as<bayesnn::BayesConv2d>()->options.stride() == std::array<int64_t, 2>{2, 2});
  CHECK(!bnn->ptr(8)->as<bayesnn::BayesLinear>()->options.bias());
  CHECK(bayesnn::count_bayes_modules(*bnn) == 6);
  check_mean_reproduces(
      *net, *bnn, [&](const torch::Tensor& x) { return net->forward(x); },
      [&](const torch::Tensor& x) { return bnn->forward(x); }, torch::randn({2, 3, 12, 8}));
}

TEST_CASE(
    "to_bayesian: Conv1d stride, padding (numbers, same, valid), dilation, groups and bias "
    "carried over exactly",
    "[convert]") {
  torch::manual_seed(5);
  nn::Sequential net(nn::Conv1d(nn::Conv1dOptions(3, 8, 3).stride(2).padding(1)), nn::ReLU(),
                     nn::Conv1d(nn::Conv1dOptions(8, 8, 5).padding(2).dilation(2).groups(4)),
                     nn::Conv1d(nn::Conv1dOptions(8, 6, 3).padding(torch::kSame).bias(false)),
                     nn::Tanh(), nn::Conv1d(nn::Conv1dOptions(6, 4, 1).padding(torch::kValid)));
  bayesnn::ConvertReport report;
  auto bnn = bayesnn::to_bayesian(net, bayesnn::ConvertOptions(), &report);
  REQUIRE(report.converted.size() == 4);
  CHECK(report.converted[0].what == "bayesnn::BayesConv1d");
  auto* conv = bnn->ptr(2)->as<bayesnn::BayesConv1d>();
  REQUIRE(conv != nullptr);
  CHECK(*conv->options.kernel_size() == std::array<int64_t, 1>{5});
  CHECK(*conv->options.padding() == std::array<int64_t, 1>{2});
  CHECK(*conv->options.dilation() == std::array<int64_t, 1>{2});
  CHECK(conv->options.groups() == 4);
  auto* same = bnn->ptr(3)->as<bayesnn::BayesConv1d>();
  REQUIRE(same != nullptr);
  CHECK(*same->options.padding() == std::array<int64_t, 1>{1});
  CHECK(!same->bias.defined());
  CHECK(*bnn->ptr(0)->as<bayesnn::BayesConv1d>()->options.stride() == std::array<int64_t, 1>{2});
  check_mean_reproduces(
      *net, *bnn, [&](const torch::Tensor& x) { return net->forward(x); },
      [&](const torch::Tensor& x) { return bnn->forward(x); }, torch::randn({2, 3, 21}));

  nn::Sequential refused(
      nn::Conv1d(nn::Conv1dOptions(2, 2, 3).padding(1).padding_mode(torch::kReflect)),
      nn::Conv1d(nn::Conv1dOptions(2, 2, 2).padding(torch::kSame)));
  try {
    bayesnn::to_bayesian(refused);
    FAIL("no ConvertError");
  } catch (const bayesnn::ConvertError& error) {
    CHECK_THAT(error.what(), Contains("\n  0 (torch::nn::Conv1dImpl): pads with padding_mode "
                                      "kReflect: BayesConv1d pads with zeros only"));
    CHECK_THAT(error.what(), Contains("\n  1 (torch::nn::Conv1dImpl): pads 'same' with an even "
                                      "kernel extent, one more on one side than on the other: "
                                      "BayesConv1d pads both sides alike"));
  }
}

TEST_CASE("to_bayesian: nested Sequentials, also inside a user's module, are converted in place",
          "[convert]") {
  torch::manual_seed(3);
  TwoTowers net;
  bayesnn::ConvertReport report;
  auto converted = bayesnn::to_bayesian(*net, bayesnn::ConvertOptions(), &report);
  auto bnn = std::dynamic_pointer_cast<TwoTowersImpl>(converted);
  REQUIRE(bnn != nullptr);
  CHECK(paths(report.converted) ==
        std::vector<std::string>{"features.0", "features.2.body.0", "head.0"});
  CHECK(bayesnn::count_bayes_modules(*bnn) == 3);
  // The user's typed members see the new layers: its forward runs the Bayesian ones.
  CHECK(bnn->features->ptr(0)->as<bayesnn::BayesLinear>() != nullptr);
  check_mean_reproduces(
      *net, *bnn, [&](const torch::Tensor& x) { return net->forward(x); },
      [&](const torch::Tensor& x) { return bnn->forward(x); }, torch::randn({4, 6}));
  bayesnn::set_mode(*bnn, bayesnn::Mode::kSample);
  const auto x = torch::randn({4, 6});
  CHECK(!torch::equal(bnn->forward(x), net->forward(x)));
  // The original still holds its plain layers.
  CHECK(net->features->ptr(0)->as<nn::Linear>() != nullptr);
}

TEST_CASE("to_bayesian: the converted parameters are fresh tensors", "[convert]") {
  torch::manual_seed(4);
  nn::Sequential net(nn::Linear(3, 2), nn::BatchNorm1d(2));
  const auto weight = net->ptr(0)->as<nn::Linear>()->weight.detach().clone();
  const auto bn_weight = net->ptr(1)->as<nn::BatchNorm1d>()->weight.detach().clone();
  auto bnn = bayesnn::to_bayesian(net, bayesnn::ConvertOptions().strict(false));
  {
    torch::NoGradGuard no_grad;
    bnn->ptr(0)->as<bayesnn::BayesLinear>()->weight_mean.add_(1.0);
    bnn->ptr(1)->as<nn::BatchNorm1d>()->weight.add_(1.0);  // the kept module is a copy too
  }
  CHECK(torch::equal(net->ptr(0)->as<nn::Linear>()->weight, weight));
  CHECK(torch::equal(net->ptr(1)->as<nn::BatchNorm1d>()->weight, bn_weight));
  {
    torch::NoGradGuard no_grad;
    net->ptr(0)->as<nn::Linear>()->weight.zero_();
  }
  CHECK(torch::equal(bnn->ptr(0)->as<bayesnn::BayesLinear>()->weight_mean, weight + 1));
}

TEST_CASE(
    "to_bayesian: kl_divergence reaches every converted layer, with the options' prior and "
    "estimator",
    "[convert]") {
  torch::manual_seed(5);
  auto net = conv_net();
  const auto options = bayesnn::ConvertOptions()
                           .prior(bayesnn::Prior::scale_mixture())
                           .estimator(bayesnn::Estimator::kFlipout)
                           .log_sigma_init(-4.0);
  auto bnn = bayesnn::to_bayesian(net, options);
  torch::Tensor sum = torch::zeros({});
  int64_t layers = 0;
  for (const auto& module : bnn->modules(/*include_self=*/false)) {
    if (auto* linear = module->as<bayesnn::BayesLinearImpl>()) {
      CHECK(bayesnn::to_string(linear->options.prior()) ==
            "scale_mixture(pi=0.5, sigma1=1, "
            "sigma2=0.00247875)");
      CHECK(linear->options.estimator() == bayesnn::Estimator::kFlipout);
      CHECK(torch::equal(linear->weight_log_sigma, torch::full_like(linear->weight_log_sigma, -4)));
      ++layers;
    } else if (auto* conv = module->as<bayesnn::BayesConv2dImpl>()) {
      CHECK(conv->options.estimator() == bayesnn::Estimator::kFlipout);
      ++layers;
    }
  }
  CHECK(layers == 6);
  // One seed for both: the scale mixture's KL is a Monte Carlo estimate.
  torch::manual_seed(6);
  const auto total = bayesnn::kl_divergence(*bnn);
  torch::manual_seed(6);
  for (const auto& module : bnn->modules(/*include_self=*/false)) {
    if (auto* bayes = dynamic_cast<bayesnn::BayesModule*>(module.get())) sum = sum + bayes->kl();
  }
  CHECK(total.item<double>() == Approx(sum.item<double>()).epsilon(1e-6));
  total.backward();
  for (const auto& parameter : bnn->named_parameters()) {
    INFO(parameter.key());
    CHECK(parameter.value().grad().defined());
  }
}

TEST_CASE(
    "to_bayesian: MOPED's sigmas are delta |w| with the floor, and its prior is centred on "
    "the trained weights",
    "[convert]") {
  torch::manual_seed(7);
  nn::Sequential net(nn::Linear(5, 4), nn::Conv2d(nn::Conv2dOptions(1, 2, 2)));
  {
    torch::NoGradGuard no_grad;
    net->ptr(0)->as<nn::Linear>()->weight[0][0] = 0.0;     // at the floor
    net->ptr(0)->as<nn::Linear>()->weight[0][1] = 1e-5;    // below it: 0.1 |w| = 1e-6
    net->ptr(0)->as<nn::Linear>()->weight[0][2] = -0.375;  // above it
  }
  const double delta = 0.1, floor = 1e-4;
  for (const bool centred : {false, true}) {
    DYNAMIC_SECTION("moped_prior(" << centred << ")") {
      const auto options =
          bayesnn::ConvertOptions().moped_delta(delta).moped_sigma_floor(floor).moped_prior(
              centred);
      auto bnn = bayesnn::to_bayesian(net, options);
      auto* fc = bnn->ptr(0)->as<bayesnn::BayesLinear>();
      auto* conv = bnn->ptr(1)->as<bayesnn::BayesConv2d>();
      const auto& w = net->ptr(0)->as<nn::Linear>()->weight;
      const auto expected = (w.detach().abs() * delta).clamp_min(floor);
      CHECK(torch::allclose(fc->weight_log_sigma.exp(), expected, 1e-6, 0));
      CHECK(fc->weight_log_sigma[0][0].exp().item<double>() == Approx(floor).epsilon(1e-6));
      CHECK(fc->weight_log_sigma[0][1].exp().item<double>() == Approx(floor).epsilon(1e-6));
      CHECK(fc->weight_log_sigma[0][2].exp().item<double>() == Approx(0.0375).epsilon(1e-6));
      const auto& conv_bias = net->ptr(1)->as<nn::Conv2d>()->bias;
      CHECK(torch::allclose(conv->bias_log_sigma.exp(),
                            (conv_bias.detach().abs() * delta).clamp_min(floor), 1e-6, 0));
      CHECK(torch::equal(fc->weight_mean, w));
      if (centred) {
        CHECK(bayesnn::to_string(fc->options.prior()) == "moped(delta=0.1)");
        CHECK(torch::equal(fc->weight_prior->buffer("mean"), w));
        CHECK(torch::allclose(fc->weight_prior->buffer("sd"), expected, 1e-6, 0));
        CHECK(torch::equal(conv->bias_prior->buffer("mean"), conv_bias));
        // q equals the prior: the converted network starts with a KL of zero.
        CHECK(bayesnn::kl_divergence(*bnn).item<double>() == Approx(0.0).margin(1e-3));
        // And moving a mean away from the trained weight costs (m - w)² / 2 s².
        torch::NoGradGuard no_grad;
        fc->weight_mean[0][2] += 0.0375;
        CHECK(fc->kl().item<double>() == Approx(0.5).margin(1e-3));
      } else {
        CHECK(bayesnn::to_string(fc->options.prior()) == "fixed(0.1)");
      }
    }
  }
}

TEST_CASE("to_bayesian: what cannot be converted is named by path and type, never skipped",
          "[convert]") {
  torch::manual_seed(8);
  nn::Sequential net(
      nn::Conv3d(nn::Conv3dOptions(2, 2, 3)),
      nn::ConvTranspose2d(nn::ConvTranspose2dOptions(2, 2, 2)),
      nn::Conv2d(nn::Conv2dOptions(2, 2, 3).padding(1).padding_mode(torch::kReflect)),
      nn::Conv2d(nn::Conv2dOptions(2, 2, 2).padding(torch::kSame)), TypedChild(), OwnWeight(),
      Block(/*norm=*/true), nn::ReLU());
  const std::vector<std::string> expected{"0", "1", "2", "3", "4.fc", "5", "6.body.0"};

  SECTION("strict: ConvertError lists each, with the report") {
    try {
      bayesnn::to_bayesian(net);
      FAIL("no ConvertError");
    } catch (const bayesnn::ConvertError& error) {
      const std::string message = error.what();
      INFO(message);
      CHECK(paths(error.report().deterministic) == expected);
      CHECK_THAT(message, Contains("7 module(s) cannot be converted"));
      CHECK_THAT(message, Contains("ConvertOptions().strict(false) keeps them deterministic"));
      CHECK_THAT(message, Contains("\n  0 (torch::nn::Conv3dImpl): has parameters of its own and "
                                   "no Bayesian counterpart"));
      CHECK_THAT(message, Contains("\n  1 (torch::nn::ConvTranspose2dImpl)"));
      CHECK_THAT(message, Contains("\n  2 (torch::nn::Conv2dImpl): pads with padding_mode "
                                   "kReflect: BayesConv2d pads with zeros only"));
      CHECK_THAT(message, Contains("\n  3 (torch::nn::Conv2dImpl): pads 'same' with an even "
                                   "kernel extent"));
      CHECK_THAT(message, Contains("\n  4.fc (torch::nn::LinearImpl): a child of "
                                   "convert_test::TypedChildImpl, which calls it through its "
                                   "C++ type"));
      CHECK_THAT(message,
                 Contains("\n  5 (convert_test::OwnWeightImpl): has parameters of its own"));
      CHECK_THAT(message, Contains("\n  6.body.0 (torch::nn::BatchNorm1dImpl)"));
    }
  }
  SECTION("strict(false): kept deterministic, listed in the report, the rest converted") {
    bayesnn::ConvertReport report;
    auto bnn = bayesnn::to_bayesian(net, bayesnn::ConvertOptions().strict(false), &report);
    CHECK(paths(report.deterministic) == expected);
    CHECK(paths(report.converted) == std::vector<std::string>{"6.body.1"});
    CHECK(bnn->ptr(4)->as<TypedChildImpl>()->fc->as<nn::Linear>() != nullptr);
    CHECK_THAT(report.to_string(),
               Contains("converted 6.body.1 (torch::nn::LinearImpl): bayesnn::BayesLinear\n"));
    CHECK_THAT(report.to_string(), Contains("kept deterministic 4.fc (torch::nn::LinearImpl): "));
  }
}

TEST_CASE("to_bayesian: a single layer, a Bayesian one already there, and refusals", "[convert]") {
  torch::manual_seed(9);
  nn::Linear linear(3, 2);
  auto converted = bayesnn::to_bayesian(*linear);
  auto* bayes = converted->as<bayesnn::BayesLinearImpl>();
  REQUIRE(bayes != nullptr);
  CHECK(torch::equal(bayes->weight_mean, linear->weight));
  linear->to(torch::kDouble);  // the dtype carried over: the mean network is the trained one
  auto converted_double = bayesnn::to_bayesian(*linear);
  bayesnn::set_mode(*converted_double, bayesnn::Mode::kMean);
  const auto x = torch::randn({4, 3}, torch::kDouble);
  CHECK(torch::equal(converted_double->as<bayesnn::BayesLinearImpl>()->forward(x),
                     linear->forward(x)));

  nn::Sequential mixed(bayesnn::BayesLinear(3, 3), nn::Linear(3, 2));
  bayesnn::ConvertReport report;
  auto bnn = bayesnn::to_bayesian(mixed, bayesnn::ConvertOptions(), &report);
  CHECK(paths(report.converted) == std::vector<std::string>{"1"});
  CHECK(torch::equal(bnn->ptr(0)->as<bayesnn::BayesLinear>()->weight_mean,
                     mixed->ptr(0)->as<bayesnn::BayesLinear>()->weight_mean));
  CHECK(bnn->ptr(0).get() != mixed->ptr(0).get());

  REQUIRE_THROWS_WITH(bayesnn::to_bayesian(mixed, bayesnn::ConvertOptions().moped_prior(true)),
                      Contains("moped_prior(true) needs moped_delta(delta)"));
  REQUIRE_THROWS_WITH(bayesnn::to_bayesian(mixed, bayesnn::ConvertOptions().moped_delta(0.0)),
                      Contains("moped_delta must be positive and finite, got 0"));
  REQUIRE_THROWS_WITH(
      bayesnn::to_bayesian(mixed, bayesnn::ConvertOptions().moped_delta(0.1).moped_sigma_floor(-1)),
      Contains("moped_sigma_floor must be positive and finite, got -1"));
  REQUIRE_THROWS_WITH(bayesnn::to_bayesian(mixed, bayesnn::ConvertOptions().log_sigma_init(NAN)),
                      Contains("log_sigma_init must be finite, got nan"));
  REQUIRE_THROWS_WITH(bayesnn::to_bayesian(nn::Sequential(nullptr)),
                      Contains("to_bayesian: the Sequential is empty (nullptr)"));
  nn::Conv2d reflecting(nn::Conv2dOptions(1, 1, 3).padding(1).padding_mode(torch::kCircular));
  REQUIRE_THROWS_WITH(bayesnn::to_bayesian(*reflecting),
                      Contains("\n  (the model) (torch::nn::Conv2dImpl): pads with padding_mode "
                               "kCircular"));
  const auto kept = bayesnn::to_bayesian(*reflecting, bayesnn::ConvertOptions().strict(false));
  CHECK(kept->as<nn::Conv2dImpl>() != nullptr);
  CHECK(kept.get() != reflecting.ptr().get());
  NotClonable plain;
  REQUIRE_THROWS_WITH(bayesnn::to_bayesian(plain),
                      Contains("to_bayesian: cannot copy convert_test::NotClonable (derive it from "
                               "torch::nn::Cloneable<convert_test::NotClonable>)"));
}

TEST_CASE(
    "to_bayesian: a converted network exports, and its posterior-mean file is the trained "
    "network",
    "[convert]") {
  torch::manual_seed(10);
  nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 4, 3).padding(1)), nn::ReLU(),
                     nn::MaxPool2d(2), nn::Flatten(), nn::Linear(4 * 4 * 4, 5));
  auto bnn =
      bayesnn::to_bayesian(net, bayesnn::ConvertOptions().moped_delta(0.05).moped_prior(true));
  bayesnn::test::TempDir dir;
  bayesnn::export_posterior_mean(bnn, dir.file("mean.pt"));
  bayesnn::export_predictive(bnn, dir.file("predictive.pt"), 8);
  const auto x = torch::randn({3, 1, 8, 8});
  auto mean_net = torch::jit::load(dir.file("mean.pt"));
  const auto from_file = mean_net.forward({x}).toTensor();
  torch::NoGradGuard no_grad;
  CHECK(torch::allclose(from_file, net->forward(x), 1e-5, 1e-6));
  auto predictive = torch::jit::load(dir.file("predictive.pt"));
  const auto probs = predictive.forward({x}).toGenericDict().at("probs").toTensor();
  CHECK(probs.sizes() == torch::IntArrayRef({3, 5}));
  CHECK(torch::allclose(probs.sum(1), torch::ones({3}), 1e-5, 0));
}

TEST_CASE("load_trained: a network from a bayesnn checkpoint or a TorchScript file", "[convert]") {
  torch::manual_seed(11);
  auto make = [] {
    return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 2, 3)), nn::BatchNorm2d(2), nn::Flatten(),
                          nn::Linear(8, 3));
  };
  auto trained = make();
  {
    torch::NoGradGuard no_grad;
    for (auto& buffer : trained->buffers()) {  // the running statistics too
      if (buffer.is_floating_point()) buffer.uniform_(0.5, 1.5);
    }
  }
  bayesnn::test::TempDir dir;
  bayesnn::Trainer(trained, bayesnn::TrainerOptions()).save_checkpoint(dir.file("ckpt.pt"));
  trained->eval();
  bayesnn::export_posterior_mean(trained, dir.file("mean.pt"));
  const auto x = torch::randn({2, 1, 4, 4});
  torch::NoGradGuard no_grad;
  for (const auto* file : {"ckpt.pt", "mean.pt"}) {
    INFO(file);
    auto net = make();
    bayesnn::load_trained(dir.file(file), *net);
    net->eval();
    CHECK(torch::equal(net->forward(x), trained->forward(x)));
  }

  auto other = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 2, 3)), nn::BatchNorm2d(2),
                              nn::Flatten(), nn::Linear(8, 4));
  REQUIRE_THROWS_WITH(bayesnn::load_trained(dir.file("mean.pt"), *other),
                      Contains("'" + dir.file("mean.pt") +
                               "': parameter 4 has shape [3, 8], the network's [4, 8]"));
  REQUIRE_THROWS_WITH(bayesnn::load_trained(dir.file("ckpt.pt"), *other),
                      Contains("' is a bayesnn checkpoint of another network: '3.weight' has shape "
                               "[3, 8], the network's [4, 8]"));
  nn::Sequential renamed;
  renamed->push_back("head", nn::Linear(8, 3));
  REQUIRE_THROWS_WITH(bayesnn::load_trained(dir.file("ckpt.pt"), *renamed),
                      Contains("' is a bayesnn checkpoint of another network: it has no 'head'"));
  nn::Sequential small(nn::Linear(8, 3));
  REQUIRE_THROWS_WITH(bayesnn::load_trained(dir.file("mean.pt"), *small),
                      Contains("' holds 6 parameters, the network 2"));
  REQUIRE_THROWS_WITH(bayesnn::load_trained(dir.file("missing.pt"), *small),
                      Contains("load_trained: cannot read '" + dir.file("missing.pt") + "'"));
  std::ofstream(dir.file("text.pt")) << "not an archive";
  REQUIRE_THROWS_WITH(bayesnn::load_trained(dir.file("text.pt"), *small),
                      Contains("' is neither a bayesnn checkpoint nor a TorchScript file: "));
}

TEST_CASE("load_trained: an export holds each module's tensors in the order it registers them",
          "[convert][export]") {
  torch::manual_seed(12);
  nn::Sequential trained(ScaleShift(), nn::Linear(3, 2));
  bayesnn::test::TempDir dir;
  bayesnn::export_posterior_mean(trained, dir.file("mean.pt"));
  nn::Sequential net(ScaleShift(), nn::Linear(3, 2));
  bayesnn::load_trained(dir.file("mean.pt"), *net);
  const auto* scale_shift = net->ptr(0)->as<ScaleShift>();
  const auto* original = trained->ptr(0)->as<ScaleShift>();
  CHECK(torch::equal(scale_shift->scale, original->scale));
  CHECK(torch::equal(scale_shift->shift, original->shift));
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({4, 3});
  CHECK(torch::equal(net->forward(x), trained->forward(x)));
}
