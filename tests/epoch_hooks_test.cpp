#include "support/catch.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bayesnn/bayesnn.h"
#include "support/file_size_limit.h"
#include "support/temp_dir.h"

using Catch::Contains;
namespace bnn = bayesnn;

namespace {
// Seeds torch's generators with `seed`, then draws two classes of points around 0 and (2, 2).
bnn::Dataset seeded_blobs(uint64_t seed, int64_t n) {
  torch::manual_seed(seed);
  auto labels = torch::randint(0, 2, {n});
  return {torch::randn({n, 2}) + labels.to(torch::kFloat).unsqueeze(1) * 2, labels};
}

// What each case trains, seeded (members are built in order): `n` points and a Bayesian
// layer, with a directory for the files the hooks write.
struct Setup {
  Setup(uint64_t seed, int64_t n) : train(seeded_blobs(seed, n)) {}
  bayesnn::test::TempDir dir;
  bnn::Dataset train;
  bnn::BayesLinear fc{2, 2};
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream file(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  return lines;
}
}  // namespace

TEST_CASE("Trainer: the epoch hooks run in order, log and checkpoint first",
          "[epoch_hooks][trainer]") {
  Setup setup(91, 60);
  bnn::Trainer trainer(setup.fc, bnn::TrainerOptions()
                                     .epochs(2)
                                     .batch_size(20)
                                     .progress(false)
                                     .log_path(setup.dir.file("log.jsonl"))
                                     .checkpoint_path(setup.dir.file("ckpt.pt")));
  std::vector<std::string> calls;
  trainer.add_epoch_hook([&](const bnn::Trainer& seen, const bnn::EpochStats& stats) {
    // The options' hooks ran before this one: the epoch's line and checkpoint are written.
    CHECK(lines_of(setup.dir.file("log.jsonl")).size() == static_cast<size_t>(stats.epoch));
    CHECK(std::filesystem::exists(setup.dir.file("ckpt.pt")));
    CHECK(&seen == &trainer);
    CHECK(seen.epoch() == stats.epoch);
    CHECK(seen.step() == stats.step);
    calls.push_back("first " + std::to_string(stats.epoch));
  });
  trainer.add_epoch_hook([&](const bnn::Trainer&, const bnn::EpochStats& stats) {
    calls.push_back("second " + std::to_string(stats.epoch));
  });
  trainer.fit(setup.train);
  CHECK(calls == std::vector<std::string>{"first 1", "second 1", "first 2", "second 2"});
  REQUIRE_THROWS_WITH(trainer.add_epoch_hook(nullptr),
                      Contains("Trainer::add_epoch_hook: the hook is empty"));
}

TEST_CASE("json_log_hook and checkpoint_hook: what the options install, added by hand",
          "[epoch_hooks]") {
  Setup setup(92, 60);
  bnn::Trainer trainer(setup.fc, bnn::TrainerOptions().epochs(3).batch_size(30).progress(false));
  // The examples of epoch_hooks.h, with their paths in the test's directory.
  trainer.add_epoch_hook(bayesnn::json_log_hook(setup.dir.file("log.jsonl")));
  trainer.add_epoch_hook(bayesnn::checkpoint_hook(setup.dir.file("checkpoint.pt")));
  std::vector<double> elbos;
  trainer.add_epoch_hook([&elbos](const bayesnn::Trainer&, const bayesnn::EpochStats& stats) {
    elbos.push_back(stats.elbo);
  });
  const auto history = trainer.fit(setup.train);
  const auto lines = lines_of(setup.dir.file("log.jsonl"));
  REQUIRE(lines.size() == 3);
  CHECK(nlohmann::json::parse(lines.back())["elbo"].get<double>() == Approx(history.back().elbo));
  CHECK(elbos.size() == 3);

  bnn::BayesLinear copy(2, 2);
  bnn::Trainer reader(copy, bnn::TrainerOptions().progress(false));
  reader.load_checkpoint(setup.dir.file("checkpoint.pt"));
  CHECK(reader.epoch() == 3);
  CHECK(torch::equal(copy->weight_mean, setup.fc->weight_mean));
}

TEST_CASE("json_log_hook: an unwritable log is an error naming the file", "[epoch_hooks]") {
  Setup setup(93, 20);
  auto options = bnn::TrainerOptions().epochs(1).batch_size(20).progress(false);
  SECTION("a missing directory") {
    bnn::Trainer trainer(setup.fc, options.log_path(setup.dir.file("missing/log.jsonl")));
    REQUIRE_THROWS_WITH(trainer.fit(setup.train),
                        Contains("cannot open the log file '" +
                                 setup.dir.file("missing/log.jsonl") + "' for appending"));
  }
  SECTION("a full disk") {
    if (!std::filesystem::exists("/dev/full")) {
      WARN("no /dev/full here: the full-disk check not run");
      return;
    }
    bnn::Trainer trainer(setup.fc, options.log_path("/dev/full"));
    REQUIRE_THROWS_WITH(trainer.fit(setup.train),
                        Contains("cannot write to the log file '/dev/full': No space left on "
                                 "device"));
  }
}

TEST_CASE("json_log_hook: a log line cut short by a full disk is taken back", "[epoch_hooks]") {
  // A forked child appends a line to a log of whole lines under a file-size limit 10 bytes
  // above the log's size (SIGXFSZ ignored, so write(2) writes 10 bytes, then fails with EFBIG,
  // as on a nearly full disk). The log must end as it was, its last line whole.
  Setup setup(95, 20);
  const auto log = setup.dir.file("log.jsonl");
  bnn::Trainer trainer(
      setup.fc, bnn::TrainerOptions().epochs(1).batch_size(20).progress(false).log_path(log));
  trainer.fit(setup.train);
  const auto before = lines_of(log);
  REQUIRE(before.size() == 1);
  const auto size = std::filesystem::file_size(log);
  const auto report =
      bayesnn::test::under_file_size_limit(size + 10, [&]() -> bayesnn::test::ChildReport {
        try {
          bnn::json_log_hook(log)(trainer, bnn::EpochStats{});
          return {0, "no error"};
        } catch (const c10::Error& error) {
          return {0, error.what_without_backtrace()};
        }
      });
  REQUIRE(report.exit_code == 0);
  const auto& message = report.message;
  CHECK_THAT(message, Contains("cannot write to the log file '" + log + "': File too large"));
  CHECK(std::filesystem::file_size(log) == size);
  CHECK(lines_of(log) == before);
}

TEST_CASE("checkpoint_hook, save_checkpoint: parameters made non-finite are not saved",
          "[epoch_hooks][trainer]") {
  Setup setup(94, 40);
  // One step per epoch: each step's loss is read finite before its update breaks the weights.
  bnn::Trainer trainer(
      setup.fc, bnn::TrainerOptions().epochs(2).batch_size(40).progress(false).checkpoint_path(
                    setup.dir.file("ckpt.pt")));
  trainer.train_epoch(setup.train);
  const auto good = setup.fc->weight_mean.detach().clone();
  trainer.set_optimizer(std::make_unique<torch::optim::SGD>(trainer.parameters(),
                                                            torch::optim::SGDOptions(INFINITY)));
  REQUIRE_THROWS_AS(trainer.train_epoch(setup.train), bnn::NonFiniteLossError);
  REQUIRE_THROWS_WITH(
      bnn::checkpoint_hook(setup.dir.file("ckpt.pt"))(trainer, bnn::EpochStats()),
      Contains("training stopped after step 2 (epoch 2): its update made the parameter "
               "'weight_mean' non-finite; the last good checkpoint is " +
               setup.dir.file("ckpt.pt")));
  // The refusal is the checkpoint writer's: saving by hand refuses too, and writes nothing.
  REQUIRE_THROWS_AS(trainer.save_checkpoint(setup.dir.file("by_hand.pt")), bnn::NonFiniteLossError);
  CHECK_FALSE(std::filesystem::exists(setup.dir.file("by_hand.pt")));

  bnn::BayesLinear copy(2, 2);
  bnn::Trainer reader(copy, bnn::TrainerOptions().progress(false));
  reader.load_checkpoint(setup.dir.file("ckpt.pt"));
  CHECK(reader.epoch() == 1);
  CHECK(torch::equal(copy->weight_mean, good));
}
