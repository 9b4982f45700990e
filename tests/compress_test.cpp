// Bayesian compression: the compressed network's posterior mean equals the full one's with the
// pruned units zeroed, its report counts what it kept, it exports, and bad input is refused.
#include "support/catch.h"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/bayes_module.h"
#include "bayesnn/compress.h"
#include "bayesnn/export.h"
#include "support/temp_dir.h"

namespace bnn = bayesnn;
using Catch::Contains;

namespace {

const bnn::Prior kGroup = bnn::Prior::group_horseshoe(1.0, -2.0);

// Switches the input units `off` of a layer's weight off: their local scale far below the rule's
// min_scale (E[z] ~ e^-20).
void switch_off(const bnn::VariationalTensor& weight, const std::vector<int64_t>& off) {
  torch::NoGradGuard no_grad;
  auto local = weight.prior()->named_parameters(false)["local_a_mean"];
  for (auto j : off) local[j] = -40.0;
}

// The same columns zeroed in the posterior mean: what the compressed network must equal.
void zero_columns(const bnn::VariationalTensor& weight, const std::vector<int64_t>& off) {
  torch::NoGradGuard no_grad;
  for (auto j : off) weight.mean().select(1, j).zero_();
}

torch::Tensor posterior_mean(torch::nn::Sequential& net, const torch::Tensor& x) {
  bnn::set_mode(*net, bnn::Mode::kMean);
  torch::NoGradGuard no_grad;
  return net->forward(x);
}

template <typename Layer>
const bnn::VariationalTensor& weight_of(torch::nn::Sequential& net, size_t i) {
  return net[i]->as<Layer>()->weight;
}

void check_report(const bnn::CompressionReport& report, const std::vector<int64_t>& units_kept,
                  const std::vector<int64_t>& weights, const std::vector<int64_t>& weights_kept) {
  REQUIRE(report.layers.size() == units_kept.size());
  int64_t total = 0, kept = 0;
  for (size_t k = 0; k < units_kept.size(); ++k) {
    INFO("layer " << report.layers[k].path);
    CHECK(report.layers[k].units_kept == units_kept[k]);
    CHECK(report.layers[k].weights == weights[k]);
    CHECK(report.layers[k].weights_kept == weights_kept[k]);
    total += weights[k];
    kept += weights_kept[k];
  }
  CHECK(report.weights() == total);
  CHECK(report.weights_kept() == kept);
  CHECK(report.ratio() == Approx(static_cast<double>(total) / kept));
  CHECK(report.kept_fraction() == Approx(static_cast<double>(kept) / total));
}

}  // namespace

TEST_CASE("compress: an MLP's posterior mean equals the full one's with the pruned units zeroed",
          "[compress]") {
  torch::manual_seed(21);
  auto make = [] {
    return torch::nn::Sequential(
        bnn::BayesLinear(bnn::BayesLinearOptions(10, 8).prior(kGroup)), torch::nn::ReLU(),
        bnn::BayesLinear(bnn::BayesLinearOptions(8, 6).prior(kGroup)), torch::nn::Tanh(),
        bnn::BayesLinear(bnn::BayesLinearOptions(6, 3).prior(kGroup)));
  };
  auto net = make();
  const std::vector<std::vector<int64_t>> off{{1, 4}, {0, 5}, {2}};
  for (size_t k = 0; k < 3; ++k) switch_off(weight_of<bnn::BayesLinearImpl>(net, 2 * k), off[k]);
  const auto compressed = bnn::compress(net);
  // Inputs 10 → 8, hidden 8 → 6, 6 → 5; each layer keeps its kept inputs × its consumer's.
  check_report(compressed.report, {8, 6, 5}, {80, 48, 18}, {8 * 6, 6 * 5, 5 * 3});

  auto zeroed = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone());
  torch::nn::Sequential reference(zeroed);
  for (size_t k = 0; k < 3; ++k)
    zero_columns(weight_of<bnn::BayesLinearImpl>(reference, 2 * k), off[k]);
  auto small = compressed.network;
  const auto x = torch::randn({7, 10});
  CHECK(torch::allclose(posterior_mean(small, x), posterior_mean(reference, x), 1e-5, 1e-6));

  // It is a bayesnn network: it samples, has a finite KL, and its export gives the same output.
  bnn::set_mode(*small, bnn::Mode::kSample);
  CHECK(small->forward(x).sizes() == torch::IntArrayRef({7, 3}));
  CHECK(std::isfinite(bnn::kl_divergence(*small).item<double>()));
  bayesnn::test::TempDir dir;
  bnn::export_posterior_mean(small, dir.file("compressed.pt"));
  auto scripted = torch::jit::load(dir.file("compressed.pt"));
  CHECK(torch::allclose(scripted.forward({x}).toTensor(), posterior_mean(small, x), 1e-5, 1e-6));
}

TEST_CASE("compress: a CNN drops whole channels through Flatten and selects the rest",
          "[compress]") {
  // conv 2→4 (3x3) → ReLU → pool → flatten (4 channels × 16) → fc 64→5 → ReLU → fc 5→3. Off:
  // the conv's input channel 1 (selected away before it), every feature of channel 2 (which
  // removes the channel), features 3 and 7 of channel 0 (selected away after Flatten), and the
  // last layer's input 4 (the row of fc1).
  torch::manual_seed(22);
  torch::nn::Sequential net(bnn::BayesConv2d(bnn::BayesConv2dOptions(2, 4, 3).prior(kGroup)),
                            torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch::nn::Flatten(),
                            bnn::BayesLinear(bnn::BayesLinearOptions(64, 5).prior(kGroup)),
                            torch::nn::ReLU(),
                            bnn::BayesLinear(bnn::BayesLinearOptions(5, 3).prior(kGroup)));
  std::vector<int64_t> fc1_off{3, 7};
  for (int64_t f = 32; f < 48; ++f) fc1_off.push_back(f);
  const std::vector<std::vector<int64_t>> off{{1}, fc1_off, {4}};
  const std::vector<size_t> at{0, 4, 6};
  switch_off(weight_of<bnn::BayesConv2dImpl>(net, 0), off[0]);
  switch_off(weight_of<bnn::BayesLinearImpl>(net, 4), off[1]);
  switch_off(weight_of<bnn::BayesLinearImpl>(net, 6), off[2]);
  const auto compressed = bnn::compress(net);
  check_report(compressed.report, {1, 46, 4}, {72, 320, 15}, {1 * 3 * 9, 46 * 4, 4 * 3});

  auto reference =
      torch::nn::Sequential(std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone()));
  zero_columns(weight_of<bnn::BayesConv2dImpl>(reference, 0), off[0]);
  zero_columns(weight_of<bnn::BayesLinearImpl>(reference, 4), off[1]);
  zero_columns(weight_of<bnn::BayesLinearImpl>(reference, 6), off[2]);
  auto small = compressed.network;
  const auto x = torch::randn({5, 2, 10, 10});
  CHECK(torch::allclose(posterior_mean(small, x), posterior_mean(reference, x), 1e-5, 1e-6));
  bayesnn::test::TempDir dir;
  bnn::export_posterior_mean(small, dir.file("compressed.pt"));
  CHECK(torch::allclose(torch::jit::load(dir.file("compressed.pt")).forward({x}).toTensor(),
                        posterior_mean(small, x), 1e-5, 1e-6));
}

TEST_CASE("compress: the predictive export of a compressed network draws z and v", "[compress]") {
  // With every posterior sd tiny, each sample is the posterior mean: the exported predictive's
  // probabilities equal the softmax of the posterior-mean output.
  torch::manual_seed(23);
  const auto tight = bnn::Prior::group_horseshoe(1.0, -12.0);
  torch::nn::Sequential net(
      bnn::BayesLinear(bnn::BayesLinearOptions(6, 5).prior(tight).log_sigma_init(-12)),
      torch::nn::ReLU(),
      bnn::BayesLinear(bnn::BayesLinearOptions(5, 3).prior(tight).log_sigma_init(-12)));
  switch_off(weight_of<bnn::BayesLinearImpl>(net, 2), {1});
  auto small = bnn::compress(net).network;
  bayesnn::test::TempDir dir;
  bnn::export_predictive(small, dir.file("predictive.pt"), 5);
  const auto x = torch::randn({4, 6});
  auto scripted = torch::jit::load(dir.file("predictive.pt"));
  const auto probs = scripted.forward({x}).toGenericDict().at("probs").toTensor();
  CHECK(torch::allclose(probs, torch::softmax(posterior_mean(small, x), 1), 1e-4, 1e-5));
}

TEST_CASE("compress: refusals name the module and the value", "[compress]") {
  torch::nn::Sequential plain(bnn::BayesLinear(4, 3));
  REQUIRE_THROWS_WITH(bnn::compress(plain), Contains("the model has no layer with group scales"));

  torch::nn::Sequential grouped(bnn::BayesLinear(bnn::BayesLinearOptions(4, 3).prior(kGroup)));
  REQUIRE_THROWS_WITH(bnn::compress(grouped, bnn::CompressOptions().max_log_alpha(std::nan(""))),
                      Contains("max_log_alpha must be a number, got nan"));
  REQUIRE_THROWS_WITH(bnn::compress(grouped, bnn::CompressOptions().min_scale(-1)),
                      Contains("min_scale must be non-negative and finite, got -1"));

  // A pruned unit whose producer sits behind a module compress cannot shrink.
  torch::nn::Sequential normed(bnn::BayesLinear(bnn::BayesLinearOptions(4, 6).prior(kGroup)),
                               torch::nn::BatchNorm1d(6),
                               bnn::BayesLinear(bnn::BayesLinearOptions(6, 3).prior(kGroup)));
  switch_off(weight_of<bnn::BayesLinearImpl>(normed, 2), {2});
  REQUIRE_THROWS_WITH(bnn::compress(normed), Contains("'2' prunes 1 of its input units") &&
                                                 Contains("'1' (torch::nn::BatchNorm1d") &&
                                                 Contains("between it and '0'"));

  // A grouped convolution whose units would be removed.
  torch::nn::Sequential conv(
      bnn::BayesConv2d(bnn::BayesConv2dOptions(4, 4, 3).groups(2).prior(kGroup)));
  switch_off(weight_of<bnn::BayesConv2dImpl>(conv, 0), {1});
  REQUIRE_THROWS_WITH(bnn::compress(conv), Contains("'0' has groups=2"));
}
