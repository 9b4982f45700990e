#include "support/catch.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <typeinfo>

#include <torch/torch.h>

#include "bayesnn/bayesnn.h"

using Catch::Contains;
namespace bnn = bayesnn;

namespace {
// The LrSchedule example of schedule.h, verbatim.
struct LinearWarmup : bayesnn::LrSchedule {
  double lr(double base_lr, int64_t step, int64_t /*total_steps*/) const override {
    return base_lr * std::min(1.0, static_cast<double>(step + 1) / 100);
  }
};
}  // namespace

TEST_CASE("ConstantLrSchedule: the base rate at every step", "[schedule]") {
  const bnn::ConstantLrSchedule schedule;
  CHECK(schedule.lr(0.01, 0, 100) == 0.01);
  CHECK(schedule.lr(0.01, 99, 100) == 0.01);
  CHECK(schedule.lr(0.5, 1000, 0) == 0.5);
}

TEST_CASE("CosineLrSchedule: from the base rate down a half cosine to the floor", "[schedule]") {
  const bnn::CosineLrSchedule schedule(0.1);
  CHECK(schedule.final_fraction() == 0.1);
  CHECK(schedule.lr(2.0, 0, 100) == Approx(2.0));
  // Halfway: base * (f + (1 - f) / 2).
  CHECK(schedule.lr(2.0, 50, 100) == Approx(2.0 * (0.1 + 0.9 * 0.5)));
  CHECK(schedule.lr(2.0, 25, 100) == Approx(2.0 * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI / 4)))));
  CHECK(schedule.lr(2.0, 100, 100) == Approx(0.2));
  CHECK(schedule.lr(2.0, 150, 100) == Approx(0.2));  // past the end: the floor
  CHECK(schedule.lr(2.0, 10, 0) == 2.0);             // no length: the base rate
  CHECK(bnn::CosineLrSchedule(1.0).lr(2.0, 50, 100) == 2.0);
  REQUIRE_THROWS_WITH(bnn::CosineLrSchedule(0.0),
                      Contains("CosineLrSchedule: final_fraction must be in (0, 1], got 0"));
  REQUIRE_THROWS_WITH(bnn::CosineLrSchedule(1.5),
                      Contains("CosineLrSchedule: final_fraction must be in (0, 1], got 1.5"));
}

TEST_CASE("kl_warmup_weight: a linear ramp to the KL weight, or the weight without warm-up",
          "[schedule]") {
  CHECK(bnn::kl_warmup_weight(0.5, 0, 0) == 0.5);
  CHECK(bnn::kl_warmup_weight(0.5, 10, 0) == 0.0);
  CHECK(bnn::kl_warmup_weight(0.5, 10, 4) == Approx(0.2));
  CHECK(bnn::kl_warmup_weight(0.5, 10, 10) == 0.5);
  CHECK(bnn::kl_warmup_weight(0.5, 10, 50) == 0.5);
}

TEST_CASE("Trainer: applies its schedule to every parameter group from the group's own rate",
          "[schedule][trainer]") {
  torch::manual_seed(90);
  bnn::Dataset train{torch::randn({40, 3}), torch::randint(0, 2, {40})};
  bnn::BayesLinear fc(3, 2);
  bnn::Trainer trainer(fc, bnn::TrainerOptions().epochs(3).batch_size(10).progress(false));
  CHECK(typeid(trainer.lr_schedule()) == typeid(bnn::ConstantLrSchedule));
  CHECK(typeid(bnn::Trainer(fc, bnn::TrainerOptions().lr_final_fraction(0.5)).lr_schedule()) ==
        typeid(bnn::CosineLrSchedule));

  SECTION("the default: the optimizer's own rate, untouched by the options' lr") {
    trainer.set_optimizer(
        std::make_unique<torch::optim::SGD>(trainer.parameters(), torch::optim::SGDOptions(0.25)));
    CHECK(trainer.fit(train).back().lr == 0.25);
  }
  SECTION("a user's schedule, here the header's example") {
    trainer.set_lr_schedule(std::make_unique<LinearWarmup>());
    const auto history = trainer.fit(train);
    // 4 steps per epoch; the last step of epoch e is step 4e - 1 (0-based).
    CHECK(history[0].lr == Approx(1e-3 * 4 / 100));
    CHECK(history[2].lr == Approx(1e-3 * 12 / 100));
  }
  SECTION("the cosine, and the examples of the other two schedules") {
    trainer.set_lr_schedule(std::make_unique<bayesnn::ConstantLrSchedule>());
    trainer.set_lr_schedule(std::make_unique<bayesnn::CosineLrSchedule>(/*final_fraction=*/0.01));
    const auto history = trainer.fit(train);
    CHECK(history.back().lr == Approx(bnn::CosineLrSchedule(0.01).lr(1e-3, 11, 12)));
  }
  REQUIRE_THROWS_WITH(trainer.set_lr_schedule(nullptr),
                      Contains("Trainer::set_lr_schedule: the schedule is empty"));
}
