#include "support/catch.h"

#include "bayesnn/metrics.h"

#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace metrics = bayesnn::metrics;
using Catch::Contains;

namespace {

constexpr double kTol = 1e-12;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// `row` repeated `times` times, as float64 [times, C].
torch::Tensor repeat_row(std::vector<double> row, int64_t times) {
  return torch::tensor(row, torch::kDouble).unsqueeze(0).repeat({times, 1});
}

torch::Tensor labels_of(std::vector<int64_t> values) { return torch::tensor(values, torch::kLong); }

// Binary entropy in nats.
double h2(double p) { return -(p * std::log(p) + (1 - p) * std::log(1 - p)); }

// S one-hot samples for one example: sample s puts all its mass on classes[s].
torch::Tensor one_hot_samples(const std::vector<int64_t>& classes, int64_t c) {
  return torch::one_hot(labels_of(classes), c).to(torch::kFloat).unsqueeze(1);  // [S, 1, C]
}

}  // namespace

TEST_CASE("metrics: accuracy, NLL and Brier match hand-computed values", "[metrics]") {
  const auto probs = torch::tensor({{0.6, 0.4}, {0.9, 0.1}, {0.2, 0.8}}, torch::kDouble);
  const auto labels = labels_of({0, 1, 1});
  // Predictions 0, 0, 1: the first and the last are right.
  CHECK(metrics::accuracy(probs, labels) == Approx(2.0 / 3.0).margin(kTol));
  // -(log 0.6 + log 0.1 + log 0.8) / 3.
  CHECK(metrics::nll(probs, labels) ==
        Approx(-(std::log(0.6) + std::log(0.1) + std::log(0.8)) / 3.0).epsilon(1e-12));
  // (0.4² + 0.4²) + (0.9² + 0.9²) + (0.2² + 0.2²) = 0.32 + 1.62 + 0.08 = 2.02, over 3 examples.
  CHECK(metrics::brier(probs, labels) == Approx(2.02 / 3.0).epsilon(1e-12));

  SECTION("a perfect one-hot prediction has NLL 0 and Brier 0; a sure wrong one Brier 2") {
    const auto sure = torch::tensor({{0.0, 1.0, 0.0}}, torch::kDouble);
    CHECK(metrics::nll(sure, labels_of({1})) == Approx(0.0).margin(kTol));
    CHECK(metrics::brier(sure, labels_of({1})) == Approx(0.0).margin(kTol));
    CHECK(metrics::brier(sure, labels_of({2})) == Approx(2.0).margin(kTol));
  }
  SECTION("a zero probability on the label gives the finite cap -log(FLT_MIN)") {
    const auto sure = torch::tensor({{0.0f, 1.0f}});
    const double cap = -std::log(static_cast<double>(std::numeric_limits<float>::min()));
    CHECK(cap == Approx(87.3365).epsilon(1e-5));
    CHECK(metrics::nll(sure, labels_of({0})) == Approx(cap).epsilon(1e-12));
  }
  SECTION("float32 and float64 inputs give the same result to float32 precision") {
    CHECK(metrics::nll(probs.to(torch::kFloat), labels) ==
          Approx(metrics::nll(probs, labels)).epsilon(1e-6));
  }
}

TEST_CASE("metrics: ECE of a perfectly calibrated toy set is 0", "[metrics]") {
  // 4 examples at confidence 0.75 with 3 right, 10 at confidence 0.9 with 9 right: each bin's
  // accuracy equals its mean confidence. 0.75 * 15 = 11.25 -> bin 11, 0.9 * 15 = 13.5 -> bin 13.
  const auto probs = torch::cat({repeat_row({0.75, 0.25}, 4), repeat_row({0.1, 0.9}, 10)});
  const auto labels = labels_of({0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0});
  CHECK(metrics::expected_calibration_error(probs, labels) == Approx(0.0).margin(kTol));

  const auto bins = metrics::reliability_diagram(probs, labels);
  REQUIRE(bins.size() == 15);
  CHECK(bins[11].count == 4);
  CHECK(bins[11].accuracy == Approx(0.75).epsilon(1e-12));
  CHECK(bins[13].count == 10);
  CHECK(bins[13].accuracy == Approx(0.9).epsilon(1e-12));
}

TEST_CASE("metrics: ECE of an overconfident toy set matches the hand-computed value", "[metrics]") {
  // 4 examples at confidence 0.95 and 4 at confidence 0.75, each group half right (accuracy 0.5).
  // Bins (15): 0.95 * 15 = 14.25 -> bin 14, 0.75 * 15 = 11.25 -> bin 11.
  // ECE = 4/8 |0.5 - 0.95| + 4/8 |0.5 - 0.75| = 0.225 + 0.125 = 0.35.
  const auto probs = torch::cat({repeat_row({0.95, 0.05}, 4), repeat_row({0.25, 0.75}, 4)});
  const auto labels = labels_of({0, 0, 1, 1, 1, 1, 0, 0});
  CHECK(metrics::accuracy(probs, labels) == Approx(0.5).margin(kTol));
  CHECK(metrics::expected_calibration_error(probs, labels) == Approx(0.35).epsilon(1e-12));

  SECTION("the reliability bins hold the edges, counts, confidences and accuracies") {
    const auto bins = metrics::reliability_diagram(probs, labels);
    REQUIRE(bins.size() == 15);
    int64_t total = 0;
    for (size_t b = 0; b < bins.size(); ++b) {
      CHECK(bins[b].lower == Approx(b / 15.0).margin(kTol));
      CHECK(bins[b].upper == Approx((b + 1) / 15.0).margin(kTol));
      total += bins[b].count;
      if (b != 11 && b != 14) {
        CHECK(bins[b].count == 0);
        CHECK(bins[b].mean_confidence == 0.0);
        CHECK(bins[b].accuracy == 0.0);
      }
    }
    CHECK(total == 8);
    CHECK(bins[11].count == 4);
    CHECK(bins[11].mean_confidence == Approx(0.75).epsilon(1e-12));
    CHECK(bins[11].accuracy == Approx(0.5).epsilon(1e-12));
    CHECK(bins[14].count == 4);
    CHECK(bins[14].mean_confidence == Approx(0.95).epsilon(1e-12));
    CHECK(bins[14].accuracy == Approx(0.5).epsilon(1e-12));
  }
  SECTION(
      "one bin: |accuracy - mean confidence| = |0.5 - 0.85|; over- and under-confidence "
      "in separate bins do not cancel") {
    CHECK(metrics::expected_calibration_error(probs, labels, 1) == Approx(0.35).epsilon(1e-12));
    // Group at 0.75 now all right (accuracy 1, underconfident by 0.25), group at 0.95 half right
    // (overconfident by 0.45): 15 bins give 0.5 * 0.45 + 0.5 * 0.25 = 0.35, one bin gives
    // |0.75 - 0.85| = 0.1.
    const auto labels2 = labels_of({0, 0, 1, 1, 1, 1, 1, 1});
    CHECK(metrics::expected_calibration_error(probs, labels2) == Approx(0.35).epsilon(1e-12));
    CHECK(metrics::expected_calibration_error(probs, labels2, 1) == Approx(0.1).epsilon(1e-12));
  }
  SECTION("confidence 1 falls in the last bin") {
    const auto bins = metrics::reliability_diagram(torch::tensor({{1.0, 0.0}}, torch::kDouble),
                                                   labels_of({0}), 4);
    CHECK(bins[3].count == 1);
    CHECK(bins[3].accuracy == 1.0);
  }
}

TEST_CASE("metrics: entropies and mutual information of uniform and one-hot samples", "[metrics]") {
  SECTION("uniform samples: predictive and expected entropy log C, mutual information 0") {
    const auto samples = torch::full({4, 3, 5}, 0.2, torch::kDouble);
    const auto pe = metrics::predictive_entropy(samples);
    REQUIRE(pe.sizes() == torch::IntArrayRef({3}));
    CHECK(pe.scalar_type() == torch::kDouble);
    CHECK(torch::allclose(pe, torch::full({3}, std::log(5.0), torch::kDouble), 0, 1e-12));
    CHECK(torch::allclose(metrics::expected_entropy(samples),
                          torch::full({3}, std::log(5.0), torch::kDouble), 0, 1e-12));
    CHECK(metrics::mutual_information(samples).abs().max().item<double>() < 1e-12);
  }
  SECTION("identical one-hot samples: every entropy and the mutual information are 0") {
    const auto samples = one_hot_samples({2, 2, 2}, 3);
    CHECK(metrics::predictive_entropy(samples).item<double>() == 0.0);
    CHECK(metrics::expected_entropy(samples).item<double>() == 0.0);
    CHECK(metrics::mutual_information(samples).item<double>() == 0.0);
  }
  SECTION("one-hot samples split evenly over two classes: mutual information log 2") {
    const auto samples = one_hot_samples({0, 1, 0, 1}, 2);
    CHECK(metrics::predictive_entropy(samples).item<double>() ==
          Approx(std::log(2.0)).epsilon(1e-12));
    CHECK(metrics::expected_entropy(samples).item<double>() == 0.0);
    CHECK(metrics::mutual_information(samples).item<double>() ==
          Approx(std::log(2.0)).epsilon(1e-12));
  }
  SECTION("two soft samples: H(mean) - mean H by hand") {
    // Samples (0.2, 0.8) and (0.6, 0.4): mean (0.4, 0.6).
    const auto samples = torch::tensor({{{0.2, 0.8}}, {{0.6, 0.4}}}, torch::kDouble);
    const double pe = h2(0.4);
    const double ee = (h2(0.2) + h2(0.6)) / 2.0;
    CHECK(metrics::predictive_entropy(samples).item<double>() == Approx(pe).epsilon(1e-12));
    CHECK(metrics::expected_entropy(samples).item<double>() == Approx(ee).epsilon(1e-12));
    CHECK(metrics::mutual_information(samples).item<double>() == Approx(pe - ee).epsilon(1e-12));
  }
}

TEST_CASE("metrics: chi-square statistic, variation ratio and modal class of sampled labels",
          "[metrics]") {
  SECTION("all S samples on one class: chi-square S (C - 1), variation ratio 0") {
    // S = 6, C = 3, counts (0, 6, 0), S/C = 2: ((0-2)² + (6-2)² + (0-2)²) / 2 = 24 / 2 = 12.
    const auto samples = one_hot_samples({1, 1, 1, 1, 1, 1}, 3);
    CHECK(metrics::chi_square_uniformity(samples).item<double>() == Approx(12.0).epsilon(1e-12));
    CHECK(metrics::variation_ratio(samples).item<double>() == 0.0);
    CHECK(metrics::modal_class(samples).item<int64_t>() == 1);
  }
  SECTION("an even split: chi-square 0") {
    const auto samples = one_hot_samples({0, 1, 2, 2, 1, 0}, 3);
    CHECK(metrics::chi_square_uniformity(samples).item<double>() == Approx(0.0).margin(kTol));
    CHECK(metrics::variation_ratio(samples).item<double>() == Approx(2.0 / 3.0).epsilon(1e-12));
    // A three-way tie goes to the smallest class.
    CHECK(metrics::modal_class(samples).item<int64_t>() == 0);
  }
  SECTION("counts (1, 3, 2) from soft samples: chi-square 1, variation ratio 1/2, mode 1") {
    // Only each sample's argmax counts. S/C = 2: ((1-2)² + (3-2)² + (2-2)²) / 2 = 1.
    const auto samples = torch::tensor({{{0.5f, 0.3f, 0.2f}},
                                        {{0.2f, 0.5f, 0.3f}},
                                        {{0.1f, 0.6f, 0.3f}},
                                        {{0.3f, 0.4f, 0.3f}},
                                        {{0.1f, 0.2f, 0.7f}},
                                        {{0.3f, 0.3f, 0.4f}}});
    CHECK(metrics::chi_square_uniformity(samples).item<double>() == Approx(1.0).epsilon(1e-12));
    CHECK(metrics::variation_ratio(samples).item<double>() == Approx(0.5).epsilon(1e-12));
    CHECK(metrics::modal_class(samples).item<int64_t>() == 1);
  }
  SECTION("per-example over a batch: [S, N, C] -> [N]") {
    // Example 0: all on class 2; example 1: split 2-2 over classes 0 and 1 (S = 4, C = 3,
    // S/C = 4/3: ((2-4/3)² * 2 + (4/3)²) / (4/3) = (8/9 + 16/9) * 3/4 = 2).
    const auto a = one_hot_samples({2, 2, 2, 2}, 3);
    const auto b = one_hot_samples({0, 1, 1, 0}, 3);
    const auto samples = torch::cat({a, b}, 1);
    const auto chi = metrics::chi_square_uniformity(samples);
    REQUIRE(chi.sizes() == torch::IntArrayRef({2}));
    CHECK(chi[0].item<double>() == Approx(8.0).epsilon(1e-12));
    CHECK(chi[1].item<double>() == Approx(2.0).epsilon(1e-12));
    const auto vr = metrics::variation_ratio(samples);
    CHECK(vr[0].item<double>() == 0.0);
    CHECK(vr[1].item<double>() == Approx(0.5).epsilon(1e-12));
    const auto mode = metrics::modal_class(samples);
    CHECK(mode.scalar_type() == torch::kLong);
    CHECK(mode[0].item<int64_t>() == 2);
    CHECK(mode[1].item<int64_t>() == 0);
  }
}

TEST_CASE("metrics: AUROC handles ties and equals the Mann-Whitney statistic", "[metrics]") {
  SECTION("all scores equal: 0.5") {
    CHECK(metrics::auroc(torch::ones({6}), torch::tensor({true, false, true, false, false,
                                                          true})) == Approx(0.5).epsilon(1e-12));
  }
  SECTION("a known permutation") {
    // Positives score 0.35 and 0.8, negatives 0.1 and 0.4: of the 4 (positive, negative) pairs,
    // 0.35 > 0.1, 0.8 > 0.1, 0.8 > 0.4 are ordered right, 0.35 < 0.4 is not: AUROC 3/4.
    const auto scores = torch::tensor({0.1, 0.4, 0.35, 0.8}, torch::kDouble);
    const auto positives = torch::tensor({false, false, true, true});
    CHECK(metrics::auroc(scores, positives) == Approx(0.75).epsilon(1e-12));
    CHECK(metrics::auroc(-scores, positives) == Approx(0.25).epsilon(1e-12));
    CHECK(metrics::auroc(scores, ~positives) == Approx(0.25).epsilon(1e-12));
  }
  SECTION("a tie between a positive and a negative counts one half") {
    // Positives 2 and 3, negatives 1 and 2: 2 > 1, 2 = 2 (1/2), 3 > 1, 3 > 2: 3.5 / 4.
    const auto scores = torch::tensor({1.0, 2.0, 2.0, 3.0}, torch::kDouble);
    const auto positives = torch::tensor({false, true, false, true});
    CHECK(metrics::auroc(scores, positives) == Approx(0.875).epsilon(1e-12));
  }
  SECTION("perfect separation: 1") {
    CHECK(metrics::auroc(torch::tensor({3, 1, 4, 2}), torch::tensor({true, false, true, false})) ==
          1.0);
  }
  SECTION("seeded random scores with many ties: equal to the brute-force pair count") {
    torch::manual_seed(7);
    for (int trial = 0; trial < 5; ++trial) {
      const int64_t n = 300;
      const auto scores = torch::randint(0, 20, {n}).to(torch::kFloat);  // many ties
      const auto positives = torch::rand({n}) < 0.3;
      const auto s = scores.accessor<float, 1>();
      const auto p = positives.accessor<bool, 1>();
      double wins = 0.0;
      int64_t pairs = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (!p[i]) continue;
        for (int64_t j = 0; j < n; ++j) {
          if (p[j]) continue;
          ++pairs;
          wins += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
        }
      }
      REQUIRE(pairs > 0);
      CHECK(metrics::auroc(scores, positives) == Approx(wins / pairs).epsilon(1e-12));
    }
  }
}

TEST_CASE("metrics: invalid inputs are rejected with messages naming the bad value", "[metrics]") {
  const auto probs = torch::tensor({{0.7, 0.3}, {0.4, 0.6}}, torch::kDouble);
  const auto labels = labels_of({0, 1});

  SECTION("every probs-and-labels function names itself and the bad shape") {
    using Fn = std::function<double(const torch::Tensor&, const torch::Tensor&)>;
    const std::vector<std::pair<std::string, Fn>> fns = {
        {"accuracy", metrics::accuracy},
        {"nll", metrics::nll},
        {"brier", metrics::brier},
        {"expected_calibration_error",
         [](const torch::Tensor& p, const torch::Tensor& y) {
           return metrics::expected_calibration_error(p, y);
         }},
        {"reliability_diagram",
         [](const torch::Tensor& p, const torch::Tensor& y) {
           return static_cast<double>(metrics::reliability_diagram(p, y).size());
         }},
    };
    for (const auto& [name, fn] : fns) {
      INFO(name);
      REQUIRE_THROWS_WITH(fn(torch::rand({2, 2, 2}), labels),
                          Contains(name + ": probs must be 2-D [N, C], got shape [2, 2, 2]"));
      REQUIRE_THROWS_WITH(fn(probs, labels_of({0, 2})),
                          Contains(name + ": labels must lie in [0, C) = [0, 2), got values "
                                          "from 0 to 2"));
      REQUIRE_NOTHROW(fn(probs, labels));
    }
  }
  SECTION("probs") {
    REQUIRE_THROWS_WITH(metrics::accuracy(torch::ones({2, 2}, torch::kLong), labels),
                        Contains("accuracy: probs must have a floating-point dtype, got Long"));
    REQUIRE_THROWS_WITH(metrics::nll(torch::ones({0, 2}), labels_of({})),
                        Contains("nll: need at least one example, got probs of shape [0, 2]"));
    REQUIRE_THROWS_WITH(metrics::brier(torch::ones({2, 0}), labels),
                        Contains("brier: need at least one class, got probs of shape [2, 0]"));
    REQUIRE_THROWS_WITH(
        metrics::expected_calibration_error(
            torch::tensor({{kNaN, 0.5}, {0.5, 0.5}}, torch::kDouble), labels),
        Contains("expected_calibration_error: probs must be finite, got 1 NaN or infinite "
                 "values"));
  }
  SECTION("labels") {
    REQUIRE_THROWS_WITH(metrics::accuracy(probs, labels.to(torch::kInt)),
                        Contains("accuracy: labels must be int64, got Int"));
    REQUIRE_THROWS_WITH(metrics::nll(probs, labels.unsqueeze(0)),
                        Contains("nll: labels must be 1-D [N], got shape [1, 2]"));
    REQUIRE_THROWS_WITH(metrics::brier(probs, labels_of({0, 1, 1})),
                        Contains("brier: labels has N = 3 but probs has N = 2"));
    REQUIRE_THROWS_WITH(metrics::accuracy(probs, labels_of({-1, 1})),
                        Contains("accuracy: labels must lie in [0, C) = [0, 2), got values from "
                                 "-1 to 1"));
  }
  SECTION("bins") {
    REQUIRE_THROWS_WITH(metrics::expected_calibration_error(probs, labels, 0),
                        Contains("expected_calibration_error: bins must be positive, got 0"));
    REQUIRE_THROWS_WITH(metrics::reliability_diagram(probs, labels, -3),
                        Contains("reliability_diagram: bins must be positive, got -3"));
  }
  SECTION("every sampled-probabilities function names itself and the bad shape") {
    using Fn = at::Tensor (*)(const at::Tensor&);
    const std::vector<std::pair<std::string, Fn>> fns = {
        {"predictive_entropy", metrics::predictive_entropy},
        {"expected_entropy", metrics::expected_entropy},
        {"mutual_information", metrics::mutual_information},
        {"modal_class", metrics::modal_class},
        {"variation_ratio", metrics::variation_ratio},
        {"chi_square_uniformity", metrics::chi_square_uniformity},
    };
    for (const auto& [name, fn] : fns) {
      INFO(name);
      REQUIRE_THROWS_WITH(fn(probs),
                          Contains(name + ": samples must be 3-D [S, N, C], got shape [2, 2]"));
      REQUIRE_THROWS_WITH(fn(torch::ones({2, 2, 2}, torch::kInt)),
                          Contains(name + ": samples must have a floating-point dtype, got Int"));
      REQUIRE_THROWS_WITH(
          fn(torch::ones({0, 2, 2})),
          Contains(name + ": need at least one sample, got samples of shape [0, 2, 2]"));
      REQUIRE_THROWS_WITH(
          fn(torch::ones({2, 2, 0})),
          Contains(name + ": need at least one class, got samples of shape [2, 2, 0]"));
      REQUIRE(fn(torch::full({3, 2, 2}, 0.5)).sizes() == torch::IntArrayRef({2}));
    }
  }
  SECTION("auroc") {
    const auto scores = torch::tensor({0.1, 0.9, 0.5}, torch::kDouble);
    const auto positives = torch::tensor({false, true, true});
    REQUIRE_THROWS_WITH(metrics::auroc(scores.unsqueeze(0), positives),
                        Contains("auroc: scores must be 1-D [N], got shape [1, 3]"));
    REQUIRE_THROWS_WITH(metrics::auroc(scores, positives.to(torch::kLong)),
                        Contains("auroc: positives must be bool, got Long"));
    REQUIRE_THROWS_WITH(metrics::auroc(scores, positives.unsqueeze(1)),
                        Contains("auroc: positives must be 1-D [N], got shape [3, 1]"));
    REQUIRE_THROWS_WITH(metrics::auroc(scores, torch::tensor({true, false})),
                        Contains("auroc: positives has N = 2 but scores has N = 3"));
    REQUIRE_THROWS_WITH(metrics::auroc(torch::tensor({0.1, kNaN, kInf}, torch::kDouble), positives),
                        Contains("auroc: scores must be finite, got 2 NaN or infinite values"));
    REQUIRE_THROWS_WITH(metrics::auroc(scores, torch::ones({3}, torch::kBool)),
                        Contains("auroc: needs at least one positive and one negative, got 3 "
                                 "positives and 0 negatives"));
    REQUIRE_THROWS_WITH(metrics::auroc(scores, torch::zeros({3}, torch::kBool)),
                        Contains("auroc: needs at least one positive and one negative, got 0 "
                                 "positives and 3 negatives"));
  }
}

TEST_CASE("metrics: CUDA inputs give the CPU results", "[metrics][cuda]") {
  BAYESNN_REQUIRE_CUDA_OR_RETURN();
  torch::manual_seed(3);
  const auto samples = torch::softmax(torch::randn({8, 50, 4}), 2);
  const auto probs = samples.mean(0);
  const auto labels = torch::randint(0, 4, {50}, torch::kLong);
  const auto cuda = torch::Device(torch::kCUDA);
  CHECK(metrics::nll(probs.to(cuda), labels.to(cuda)) ==
        Approx(metrics::nll(probs, labels)).epsilon(1e-12));
  CHECK(metrics::expected_calibration_error(probs.to(cuda), labels.to(cuda)) ==
        Approx(metrics::expected_calibration_error(probs, labels)).epsilon(1e-12));
  CHECK(torch::allclose(metrics::mutual_information(samples.to(cuda)).cpu(),
                        metrics::mutual_information(samples), 0, 1e-12));
  CHECK(torch::allclose(metrics::chi_square_uniformity(samples.to(cuda)).cpu(),
                        metrics::chi_square_uniformity(samples)));
  const auto scores = metrics::predictive_entropy(samples);
  const auto wrong = probs.argmax(1).ne(labels);
  CHECK(metrics::auroc(scores.to(cuda), wrong.to(cuda)) ==
        Approx(metrics::auroc(scores, wrong)).epsilon(1e-12));
}
