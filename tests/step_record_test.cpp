// The trainer's record of its steps (an internal part: bayesnn/src/train/step_record.h).
#include "support/catch.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "train/step_record.h"

namespace {
bayesnn::detail::StepResult step(double nll, double kl, int64_t correct, int64_t examples,
                                 double kl_weight) {
  return {torch::tensor(nll, torch::kFloat),
          torch::tensor(kl, torch::kDouble),
          torch::tensor(correct),
          examples,
          examples,
          kl_weight};
}
}  // namespace

TEST_CASE("StepRecord: sums the steps it read, weighting each by its examples",
          "[step_record][trainer]") {
  bayesnn::detail::StepRecord record(/*n_train=*/100);
  record.add(step(2.0, 50.0, 3, 10, 0.5));
  record.add(step(1.0, 40.0, 6, 8, 1.0));
  CHECK(record.steps_added() == 2);
  CHECK(record.examples_added() == 18);
  CHECK(record.totals().steps == 0);  // nothing read yet
  REQUIRE_FALSE(record.read().has_value());
  record.add(step(0.5, 30.0, 4, 4, 1.0));
  REQUIRE_FALSE(record.read().has_value());
  REQUIRE_FALSE(record.read().has_value());  // nothing new: the totals stay

  const auto& totals = record.totals();
  CHECK(totals.steps == 3);
  CHECK(totals.examples == 22);
  CHECK(totals.predictions == 22);
  CHECK(totals.correct == 13);
  CHECK(totals.nll_sum == Approx(2.0 * 10 + 1.0 * 8 + 0.5 * 4));
  CHECK(totals.loss_sum ==
        Approx((2.0 + 0.5 * 50 / 100) * 10 + (1.0 + 40.0 / 100) * 8 + (0.5 + 30.0 / 100) * 4));
  CHECK(totals.last_kl == 30.0);
  CHECK(totals.last_kl_weight == 1.0);
}

TEST_CASE("StepRecord: names the first step whose NLL or KL is not finite", "[step_record]") {
  bayesnn::detail::StepRecord record(10);
  record.add(step(1.0, 1.0, 0, 5, 1.0));
  REQUIRE_FALSE(record.read().has_value());
  record.add(step(1.0, 1.0, 0, 5, 1.0));
  SECTION("the NLL, also when the KL is bad too") {
    record.add(step(std::nan(""), INFINITY, 0, 5, 1.0));
    record.add(step(1.0, std::nan(""), 0, 5, 1.0));
    const auto bad = record.read();
    REQUIRE(bad.has_value());
    CHECK(bad->index == 2);
    CHECK(std::string(bad->term) == "NLL");
    CHECK(std::isnan(bad->value));
  }
  SECTION("the KL") {
    record.add(step(1.0, -INFINITY, 0, 5, 1.0));
    const auto bad = record.read();
    REQUIRE(bad.has_value());
    CHECK(bad->index == 2);
    CHECK(std::string(bad->term) == "KL");
    CHECK(bad->value == -INFINITY);
  }
  CHECK(record.totals().steps == 2);  // the steps before the bad one
}

TEST_CASE("StepRecord: a long epoch is stacked on the way, and regression has no correct count",
          "[step_record]") {
  bayesnn::detail::StepRecord record(1000);
  const int64_t steps = 3 * bayesnn::detail::StepRecord::kStackEvery + 7;
  for (int64_t i = 0; i < steps; ++i) {
    record.add(
        {torch::tensor(static_cast<double>(i)), torch::tensor(0.0, torch::kFloat), {}, 0, 2, 0.0});
  }
  REQUIRE_FALSE(record.read().has_value());
  CHECK(record.totals().steps == steps);
  CHECK(record.totals().nll_sum == Approx(2.0 * steps * (steps - 1) / 2));
  CHECK(record.totals().correct == 0);
  CHECK(record.totals().predictions == 0);
}
