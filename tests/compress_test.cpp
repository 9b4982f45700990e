// Bayesian compression: the compressed network's posterior mean equals the full one's with the
// pruned units zeroed, its report counts what it kept, it exports, and bad input is refused.
#include "support/catch.h"

#include <algorithm>
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

TEST_CASE(
    "compress: a CNN drops dead filters with their bias and the consumer's channel, through "
    "pooling and Flatten, and selects the rest",
    "[compress]") {
  // conv 2→4 (3x3; one scale per output filter) → ReLU → pool → flatten (4 channels × 16) → fc
  // 64→5 → ReLU → fc 5→3. Off: the conv's filter 2 (its scale: the filter, its bias and fc1's
  // features 32-47 go), every fc1 feature of channel 1 (which removes filter 1 too), fc1's
  // features 3 and 7 of channel 0 (selected away after Flatten), and fc2's input 4 (fc1's row).
  torch::manual_seed(22);
  torch::nn::Sequential net(bnn::BayesConv2d(bnn::BayesConv2dOptions(2, 4, 3).prior(kGroup)),
                            torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch::nn::Flatten(),
                            bnn::BayesLinear(bnn::BayesLinearOptions(64, 5).prior(kGroup)),
                            torch::nn::ReLU(),
                            bnn::BayesLinear(bnn::BayesLinearOptions(5, 3).prior(kGroup)));
  {  // the biases away from zero, so that a filter left with its bias would show
    torch::NoGradGuard no_grad;
    net[0]->as<bnn::BayesConv2dImpl>()->bias_mean.fill_(0.5);
  }
  std::vector<int64_t> fc1_off{3, 7};
  for (int64_t f = 16; f < 32; ++f) fc1_off.push_back(f);
  const std::vector<std::vector<int64_t>> off{{2}, fc1_off, {4}};
  const auto& conv = weight_of<bnn::BayesConv2dImpl>(net, 0);
  REQUIRE(conv.group_scales()->dim == 0);
  REQUIRE(net[0]->as<bnn::BayesConv2dImpl>()->bias.group_scales().has_value());
  switch_off(conv, off[0]);
  switch_off(weight_of<bnn::BayesLinearImpl>(net, 4), off[1]);
  switch_off(weight_of<bnn::BayesLinearImpl>(net, 6), off[2]);
  const auto compressed = bnn::compress(net);
  // conv: 2 of 4 filters (0 and 3); fc1: channels 0 and 3 less features 3 and 7, 4 rows.
  check_report(compressed.report, {2, 30, 4}, {72, 320, 15}, {2 * 2 * 9, 30 * 4, 4 * 3});
  CHECK(compressed.report.layers[0].unit_dim == 0);
  CHECK(compressed.report.layers[0].units == 4);

  // The reference: the same network with the dead filter's scale at zero (its weights and bias
  // zeroed) and the dead dense inputs' columns zeroed.
  auto reference =
      torch::nn::Sequential(std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone()));
  {
    torch::NoGradGuard no_grad;
    auto ref_conv = reference[0]->as<bnn::BayesConv2dImpl>();
    ref_conv->weight_mean[2].zero_();
    ref_conv->bias_mean[2].zero_();
  }
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

TEST_CASE(
    "compress: a compressed network compresses again, its selections merged, and equals the full "
    "one with every round's units zeroed",
    "[compress]") {
  SECTION("an MLP: the selection of its input") {
    torch::manual_seed(23);
    torch::nn::Sequential net(bnn::BayesLinear(bnn::BayesLinearOptions(10, 8).prior(kGroup)),
                              torch::nn::ReLU(),
                              bnn::BayesLinear(bnn::BayesLinearOptions(8, 3).prior(kGroup)));
    switch_off(weight_of<bnn::BayesLinearImpl>(net, 0), {1, 4});
    const auto first = bnn::compress(net);
    auto once = first.network;
    // Inputs kept: 0, 2, 3, 5, 6, 7, 8, 9; the second round removes the first and the sixth of
    // them (inputs 0 and 7) and fc2's input 2.
    switch_off(weight_of<bnn::BayesLinearImpl>(once, 1), {0, 5});
    switch_off(weight_of<bnn::BayesLinearImpl>(once, 3), {2});
    const auto second = bnn::compress(once);
    auto twice = second.network;
    REQUIRE(twice->size() == 4);  // one selection, merged: 0_select, 0, ReLU, 2
    const auto select = twice[0]->as<bnn::SelectUnitsImpl>();
    REQUIRE(select != nullptr);
    CHECK(select->units == 10);
    CHECK(select->indices.equal(torch::tensor({2, 3, 5, 6, 8, 9}, torch::kLong)));
    check_report(first.report.then(second.report), {6, 7}, {80, 24}, {6 * 7, 7 * 3});

    auto reference =
        torch::nn::Sequential(std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone()));
    zero_columns(weight_of<bnn::BayesLinearImpl>(reference, 0), {0, 1, 4, 7});
    zero_columns(weight_of<bnn::BayesLinearImpl>(reference, 2), {2});
    const auto x = torch::randn({7, 10});
    CHECK(torch::allclose(posterior_mean(twice, x), posterior_mean(reference, x), 1e-5, 1e-6));
  }
  SECTION("a CNN: the selection after Flatten") {
    // conv 2→4 (3x3) → ReLU → pool → flatten (4 channels × 16) → fc 64→5 → ReLU → fc 5→3. The
    // first round removes filter 2 and fc1's features 3 and 7 (channel 0), so fc1 takes 46 of the
    // 48 features of filters 0, 1 and 3; the second removes filter 1 (the compressed conv's 1)
    // and fc1's features 0 and 48 (its inputs 0 and 30).
    torch::manual_seed(24);
    torch::nn::Sequential net(bnn::BayesConv2d(bnn::BayesConv2dOptions(2, 4, 3).prior(kGroup)),
                              torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch::nn::Flatten(),
                              bnn::BayesLinear(bnn::BayesLinearOptions(64, 5).prior(kGroup)),
                              torch::nn::ReLU(),
                              bnn::BayesLinear(bnn::BayesLinearOptions(5, 3).prior(kGroup)));
    {
      torch::NoGradGuard no_grad;
      net[0]->as<bnn::BayesConv2dImpl>()->bias_mean.fill_(0.5);
    }
    switch_off(weight_of<bnn::BayesConv2dImpl>(net, 0), {2});
    switch_off(weight_of<bnn::BayesLinearImpl>(net, 4), {3, 7});
    const auto first = bnn::compress(net);
    check_report(first.report, {3, 46, 5}, {72, 320, 15}, {3 * 2 * 9, 46 * 5, 5 * 3});
    auto once = first.network;
    switch_off(weight_of<bnn::BayesConv2dImpl>(once, 0), {1});
    switch_off(weight_of<bnn::BayesLinearImpl>(once, 5), {0, 30});
    const auto second = bnn::compress(once);
    // conv keeps filters 0 and 3; fc1 channel 0's 13 features (0, 3, 7 gone) and channel 3's 15
    // (48 gone), selected from the 2 × 16 that remain.
    check_report(first.report.then(second.report), {2, 28, 5}, {72, 320, 15},
                 {2 * 2 * 9, 28 * 5, 5 * 3});
    auto twice = second.network;
    const auto select = twice[4]->as<bnn::SelectUnitsImpl>();
    REQUIRE(select != nullptr);
    CHECK(select->units == 32);
    CHECK(select->indices.numel() == 28);

    auto reference =
        torch::nn::Sequential(std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone()));
    {
      torch::NoGradGuard no_grad;
      auto conv = reference[0]->as<bnn::BayesConv2dImpl>();
      for (int64_t filter : {1, 2}) {
        conv->weight_mean[filter].zero_();
        conv->bias_mean[filter].zero_();
      }
    }
    zero_columns(weight_of<bnn::BayesLinearImpl>(reference, 4), {0, 3, 7, 48});
    const auto x = torch::randn({5, 2, 10, 10});
    CHECK(torch::allclose(posterior_mean(twice, x), posterior_mean(reference, x), 1e-5, 1e-6));
    bayesnn::test::TempDir dir;
    bnn::export_posterior_mean(twice, dir.file("compressed.pt"));
    CHECK(torch::allclose(torch::jit::load(dir.file("compressed.pt")).forward({x}).toTensor(),
                          posterior_mean(twice, x), 1e-5, 1e-6));
  }
}

TEST_CASE("compress: a threshold per layer", "[compress]") {
  // Normal-Jeffreys scales with log α_j = -4, -3, ..., 1 on each layer's six input units: the
  // first layer at its own threshold -2.5 keeps 2 units, the second at -1 keeps 3.
  torch::nn::Sequential net(
      bnn::BayesLinear(bnn::BayesLinearOptions(6, 6).prior(bnn::Prior::group_normal_jeffreys())),
      torch::nn::ReLU(),
      bnn::BayesLinear(bnn::BayesLinearOptions(6, 2).prior(bnn::Prior::group_normal_jeffreys())));
  for (size_t i : {0, 2}) {
    torch::NoGradGuard no_grad;
    auto prior = net[i]->as<bnn::BayesLinearImpl>()->weight_prior;
    prior->named_parameters(false)["scale_log_sd"].copy_(
        torch::arange(-4.0, 2.0, 1.0).to(torch::kFloat) / 2);  // μ = 1: log α = 2 log σ
  }
  const auto options =
      bnn::CompressOptions().max_log_alpha(-1.0).layer_max_log_alpha({{"0", -2.5}});
  CHECK(options.threshold("0") == -2.5);
  CHECK(options.threshold("2") == -1.0);
  const auto report = bnn::compress(net, options).report;
  CHECK(report.layers[0].units_kept == 2);  // log α -4, -3
  CHECK(report.layers[0].max_log_alpha == -2.5);
  CHECK(report.layers[1].units_kept == 3);  // -4, -3, -2
  CHECK(report.layers[1].max_log_alpha == -1.0);
  CHECK(report.layers[0].weights_kept == 2 * 3);  // its outputs: the second layer's kept inputs
}

TEST_CASE("compress: multiply-adds per example", "[compress]") {
  // conv 1→2 (3x3) on 6x6: 2·4·4 outputs × 9; pool → 2x2; flatten 8 → linear 8→3: 3 × 8.
  torch::nn::Sequential net(bnn::BayesConv2d(bnn::BayesConv2dOptions(1, 2, 3)), torch::nn::ReLU(),
                            torch::nn::MaxPool2d(2), torch::nn::Flatten(), torch::nn::Linear(8, 3));
  CHECK(bnn::multiply_adds(net, torch::randn({1, 1, 6, 6})) == 2 * 16 * 9 + 24);
  REQUIRE_THROWS_WITH(bnn::multiply_adds(net, torch::randn({2, 1, 6, 6})),
                      Contains("one input of batch size 1, got shape [2, 1, 6, 6]"));
}

TEST_CASE(
    "choose_thresholds: the most pruning within the budget, judged on the validation set alone",
    "[compress]") {
  // A toy MLP whose units' log α spread over [-6, 2]; the validation labels are the full
  // network's own predictions (100 %), the test labels random: a search that looked at the
  // test set would see about a third.
  torch::manual_seed(24);
  const auto prior = bnn::Prior::group_normal_jeffreys();
  torch::nn::Sequential net(bnn::BayesLinear(bnn::BayesLinearOptions(12, 16).prior(prior)),
                            torch::nn::ReLU(),
                            bnn::BayesLinear(bnn::BayesLinearOptions(16, 3).prior(prior)));
  for (size_t i : {0, 2}) {
    torch::NoGradGuard no_grad;
    auto weight_prior = net[i]->as<bnn::BayesLinearImpl>()->weight_prior;
    auto log_sd = weight_prior->named_parameters(false)["scale_log_sd"];
    log_sd.copy_(torch::rand_like(log_sd) * 4 - 3);  // log α = 2 log σ in [-6, 2]
  }
  const auto inputs = torch::randn({400, 12});
  const auto targets = posterior_mean(net, inputs).argmax(1);
  const auto test_targets = torch::randint(0, 3, {400}, torch::kLong);
  (void)test_targets;  // never passed: the search sees only (inputs, targets)
  const double budget = 5.0;
  const auto choice =
      bnn::choose_thresholds(net, inputs, targets, bnn::ThresholdSearchOptions().budget(budget));
  CHECK(choice.full_accuracy == Approx(100.0));
  CHECK(choice.accuracy >= 100.0 - budget);
  CHECK(choice.ratio > 1.0);
  // What it reports is what compress gives at the chosen thresholds.
  auto small = bnn::compress(net, choice.options);
  const double accuracy = 100.0 * posterior_mean(small.network, inputs)
                                      .argmax(1)
                                      .eq(targets)
                                      .to(torch::kDouble)
                                      .mean()
                                      .item<double>();
  CHECK(accuracy == Approx(choice.accuracy));
  CHECK(small.report.ratio() == Approx(choice.ratio));
  const auto nll_of = [&](const torch::Tensor& logits) {
    return torch::nll_loss(torch::log_softmax(logits.to(torch::kDouble), 1), targets)
        .item<double>();
  };
  const double full_nll = nll_of(posterior_mean(net, inputs));
  // Greedy to the end: one more step down on any layer leaves the budget (or no step is left).
  const auto candidates = bnn::ThresholdSearchOptions().candidates();
  for (const auto& [path, threshold] : choice.options.layer_max_log_alpha()) {
    // The next candidate that switches another unit of the layer off.
    const auto& weight = net[path == "0" ? 0 : 2]->as<bnn::BayesLinearImpl>()->weight;
    const auto kept = [&](double c) { return bnn::kept_units(*weight.group_scales(), c, 1e-3); };
    const auto next = std::find_if(candidates.begin(), candidates.end(), [&](double c) {
      return c < threshold && !kept(c).equal(kept(threshold));
    });
    if (next == candidates.end() || !kept(*next).any().item<bool>()) continue;
    auto lower = choice.options;
    lower.layer_max_log_alpha()[path] = *next;
    auto tried = bnn::compress(net, lower).network;
    const auto logits = posterior_mean(tried, inputs);
    const double tried_accuracy =
        100.0 * logits.argmax(1).eq(targets).to(torch::kDouble).mean().item<double>();
    INFO("layer " << path << " at " << *next);
    // Out of the budget: the accuracy, or the NLL (at most 10 % above the full network's).
    CHECK((tried_accuracy < 100.0 - budget || nll_of(logits) > 1.1 * full_nll));
  }
  // The trade-off curve: every trial, the taken path within the budget, the ratio non-decreasing.
  double last_ratio = 0;
  for (const auto& trial : choice.trials) {
    if (!trial.taken) continue;
    CHECK(trial.ratio >= last_ratio);
    last_ratio = trial.ratio;
  }
  // The NLL it reports is the chosen network's, within the tolerance; with none, the accuracy
  // alone decides which networks are within the budget.
  CHECK(choice.full_nll == Approx(full_nll));
  CHECK(choice.nll == Approx(nll_of(posterior_mean(small.network, inputs))));
  CHECK(choice.nll <= 1.1 * full_nll);
  const auto unlimited = bnn::choose_thresholds(
      net, inputs, targets, bnn::ThresholdSearchOptions().budget(budget).nll_tolerance(INFINITY));
  CHECK(unlimited.accuracy >= 100.0 - budget);
  for (const auto& trial : unlimited.trials) {
    CHECK(trial.within_budget == (trial.accuracy >= 100.0 - budget));
  }
  // A budget counted from another network's accuracy and NLL (the original one, in a second
  // round of compression): every trial is judged against those.
  const auto referenced = bnn::choose_thresholds(
      net, inputs, targets,
      bnn::ThresholdSearchOptions().budget(budget).reference_accuracy(90.0).reference_nll(
          2 * full_nll));
  CHECK(referenced.full_accuracy == Approx(100.0));  // still the model's own, measured
  CHECK(referenced.accuracy >= 90.0 - budget);
  CHECK(referenced.ratio >= choice.ratio);
  for (const auto& trial : referenced.trials) {
    CHECK(trial.within_budget == (trial.accuracy >= 90.0 - budget && trial.nll <= 2.2 * full_nll));
  }
  REQUIRE_THROWS_WITH(
      bnn::choose_thresholds(net, inputs, targets,
                             bnn::ThresholdSearchOptions().reference_accuracy(std::nan(""))),
      Contains("the reference accuracy must be finite (percent), got nan"));
  REQUIRE_THROWS_WITH(
      bnn::choose_thresholds(net, inputs, targets, bnn::ThresholdSearchOptions().reference_nll(-1)),
      Contains("the reference NLL must be non-negative and finite, got -1"));
  {
    // A network so sure of itself that its NLL is 0 in double: no limit is still no limit (a
    // ceiling of 0 · inf would be nan and refuse every network).
    torch::NoGradGuard no_grad;
    net[2]->as<bnn::BayesLinearImpl>()->weight.mean().mul_(1e4);
    const auto top2 = std::get<0>(posterior_mean(net, inputs).topk(2, 1));
    // The images whose two largest logits are 50 apart: exp(-50) vanishes beside 1.
    const auto clear = inputs.index({(top2.select(1, 0) - top2.select(1, 1)).gt(50)});
    REQUIRE(clear.size(0) > 100);
    const auto sure_targets = posterior_mean(net, clear).argmax(1);
    const auto sure = bnn::choose_thresholds(
        net, clear, sure_targets,
        bnn::ThresholdSearchOptions().budget(budget).nll_tolerance(INFINITY));
    CHECK(sure.full_nll == 0.0);
    CHECK(sure.trials.front().within_budget);
  }
  REQUIRE_THROWS_WITH(
      bnn::choose_thresholds(net, inputs, targets, bnn::ThresholdSearchOptions().budget(-1)),
      Contains("the budget must be non-negative and finite (accuracy points), got -1"));
  REQUIRE_THROWS_WITH(bnn::choose_thresholds(net, inputs, targets,
                                             bnn::ThresholdSearchOptions().nll_tolerance(-0.5)),
                      Contains("the NLL tolerance must be non-negative (a fraction, or inf), "
                               "got -0.5"));
  REQUIRE_THROWS_WITH(bnn::choose_thresholds(net, inputs, targets.slice(0, 0, 10)),
                      Contains("got 400 inputs and 10 targets"));
  {  // a layer its scales have switched off entirely: nothing to search
    torch::NoGradGuard no_grad;
    net[0]->as<bnn::BayesLinearImpl>()->weight_prior->named_parameters(false)["scale_log_sd"].fill_(
        10);
  }
  REQUIRE_THROWS_WITH(bnn::choose_thresholds(net, inputs, targets),
                      Contains("'0' keeps none of its 12 units at the largest candidate threshold "
                               "4 (min_scale 0.001)"));
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

  REQUIRE_THROWS_WITH(
      bnn::compress(grouped, bnn::CompressOptions().layer_max_log_alpha({{"0", std::nan("")}})),
      Contains("the threshold of '0' must be a number, got nan"));
  REQUIRE_THROWS_WITH(bnn::compress(grouped, bnn::CompressOptions().max_log_alpha(-100)),
                      Contains("'0' would keep none of its input units (threshold -100"));

  // A grouped convolution whose filters would be removed.
  torch::nn::Sequential conv(
      bnn::BayesConv2d(bnn::BayesConv2dOptions(4, 4, 3).groups(2).prior(kGroup)), torch::nn::ReLU(),
      bnn::BayesConv2d(bnn::BayesConv2dOptions(4, 2, 1)));
  switch_off(weight_of<bnn::BayesConv2dImpl>(conv, 0), {1});
  REQUIRE_THROWS_WITH(bnn::compress(conv),
                      Contains("compress: '0': BayesConv2d with groups=2 would keep 3 of 4 output "
                               "channels and 2 of 2 input channels per group"));

  // Two reports of different networks; a selection after Flatten that does not say its size.
  bnn::CompressionReport one, two;
  one.layers.push_back({"fc1", 1, 4, 4, 12, 12, 0});
  REQUIRE_THROWS_WITH(
      one.then(two), Contains("CompressionReport::then: the next report has 0 layers, this one 1"));
  two.layers.push_back({"fc2", 1, 4, 4, 12, 12, 0});
  REQUIRE_THROWS_WITH(one.then(two),
                      Contains("layer 0 is 'fc1' here but 'fc2' in the next report"));
  torch::nn::Sequential unsized(bnn::BayesConv2d(bnn::BayesConv2dOptions(1, 2, 3).prior(kGroup)),
                                torch::nn::Flatten(), bnn::SelectUnits(torch::arange(4)),
                                bnn::BayesLinear(bnn::BayesLinearOptions(4, 3).prior(kGroup)));
  REQUIRE_THROWS_WITH(bnn::compress(unsized),
                      Contains("the SelectUnits before '3' does not say how many units it selects "
                               "from (its `units` is -1)"));
  torch::nn::Sequential mismatched(bnn::BayesConv2d(bnn::BayesConv2dOptions(1, 2, 3).prior(kGroup)),
                                   torch::nn::Flatten(), bnn::SelectUnits(torch::arange(4), 8),
                                   bnn::BayesLinear(bnn::BayesLinearOptions(5, 3).prior(kGroup)));
  REQUIRE_THROWS_WITH(bnn::compress(mismatched),
                      Contains("the SelectUnits before '3' selects 4 of 8 units, but '3' takes 5 "
                               "(every index below 8)"));

  // A dead filter followed by a module that does not keep zero at zero.
  torch::nn::Sequential sigmoid(bnn::BayesConv2d(bnn::BayesConv2dOptions(1, 3, 3).prior(kGroup)),
                                torch::nn::Sigmoid(),
                                bnn::BayesConv2d(bnn::BayesConv2dOptions(3, 2, 1)));
  switch_off(weight_of<bnn::BayesConv2dImpl>(sigmoid, 0), {0});
  REQUIRE_THROWS_WITH(bnn::compress(sigmoid), Contains("'0' drops 1 of its output units") &&
                                                  Contains("'1' (torch::nn::Sigmoid") &&
                                                  Contains("keep zero at zero"));
}
