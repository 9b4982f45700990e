// The trainer's data-parallel mode, its ranks threads over one file store (support/ranks.h):
// two ranks at batch B take the steps one process takes at batch 2B, for every estimator and
// the hierarchical prior; one rank through a group is the plain trainer, bit for bit; a loss
// that is not finite on one rank stops every rank; a group's checkpoint resumes a group.
#include "support/catch.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bayesnn/bayesnn.h"
#include "support/ranks.h"
#include "support/temp_dir.h"

using Catch::Contains;
namespace bnn = bayesnn;
using bayesnn::test::run_ranks;

namespace {

bool gloo_or_warn() {
  if (!bnn::has_gloo_backend()) WARN("this LibTorch has no Gloo backend");
  return bnn::has_gloo_backend();
}

// Three Gaussian classes in four dimensions.
bnn::Dataset blobs(int64_t n, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  auto labels = torch::randint(0, 3, {n}, generator, torch::kLong);
  auto centres = torch::eye(4).narrow(0, 0, 3).mul(2).index_select(0, labels);
  return {centres + torch::randn({n, 4}, generator), labels};
}

torch::nn::Sequential mlp(bnn::Estimator estimator, const bnn::Prior& prior, double log_sigma) {
  auto layer = [&](int64_t in, int64_t out) {
    return bnn::BayesLinear(
        bnn::BayesLinearOptions(in, out).estimator(estimator).prior(prior).log_sigma_init(
            log_sigma));
  };
  return torch::nn::Sequential(layer(4, 16), torch::nn::ReLU(), layer(16, 3));
}

// A cosine decay and a KL warm-up, so that both must follow the global step.
bnn::TrainerOptions options(int64_t batch) {
  return bnn::TrainerOptions()
      .epochs(2)
      .batch_size(batch)
      .lr(1e-2)
      .lr_final_fraction(0.1)
      .kl_warmup_steps(5)
      .seed(7)
      .progress(false);
}

std::vector<torch::Tensor> parameters_of(const torch::nn::Module& module) {
  std::vector<torch::Tensor> copies;
  for (const auto& parameter : module.parameters()) copies.push_back(parameter.detach().clone());
  return copies;
}

double max_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  REQUIRE(a.size() == b.size());
  double largest = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    largest = std::max(largest, (a[i] - b[i]).abs().max().item<double>());
  }
  return largest;
}

// A layer whose `bad_call`-th forward returns NaN.
struct NanAtImpl : torch::nn::Cloneable<NanAtImpl> {
  explicit NanAtImpl(int64_t bad_call) : bad_call_(bad_call) {}
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) {
    return ++calls_ == bad_call_ ? x * std::nan("") : x;
  }
  int64_t bad_call_, calls_ = 0;
};
TORCH_MODULE(NanAt);

// torch's generators are the process's: the ranks' threads seed and build one at a time.
std::mutex seeding;
}  // namespace

TEST_CASE("Trainer: two ranks at batch B take the steps of one process at batch 2B",
          "[distributed][trainer]") {
  if (!gloo_or_warn()) return;
  // sigma = e^-30: the estimators' noise moves no weight by a float's resolution, so the ranks'
  // draws (theirs, not the single process's) leave the gradients of the means as they are, and
  // those of log sigma are the KL's (the noise's part, ~1e-13, is far below Adam's epsilon even
  // while the warm-up weighs the KL by 0); every code path of each estimator still runs.
  // The hierarchical prior's scales reach their optimum given the weights within a few steps,
  // where their gradient is a difference of near-equal terms: there Adam's division by the
  // gradient's own size turns float rounding (the two runs sum in different orders) into steps of
  // the learning rate's size, so that case takes plain SGD, whose step is the gradient.
  struct Case {
    const char* name;
    bnn::Estimator estimator;
    bnn::Prior prior;
    bool sgd;
  };
  const std::vector<Case> cases{
      {"reparameterization", bnn::Estimator::kReparameterization, bnn::Prior::fixed(0.5), false},
      {"local reparameterization", bnn::Estimator::kLocalReparameterization, bnn::Prior::fixed(0.5),
       false},
      {"flipout", bnn::Estimator::kFlipout, bnn::Prior::fixed(0.5), false},
      {"hierarchical prior", bnn::Estimator::kLocalReparameterization, bnn::Prior::hierarchical(),
       true},
  };
  auto use_sgd = [](bnn::Trainer& trainer) {
    trainer.set_optimizer(
        std::make_unique<torch::optim::SGD>(trainer.parameters(), torch::optim::SGDOptions(0.5)));
  };
  const auto train = blobs(102, 3);  // 51 per rank: batches of 8, 8, 8, 8, 8, 8, 3
  for (const auto& c : cases) {
    INFO(c.name);
    torch::manual_seed(11);
    auto single_net = mlp(c.estimator, c.prior, -30);
    bnn::Trainer single(single_net, options(16));
    if (c.sgd) use_sgd(single);
    single.fit(train);
    const auto reference = parameters_of(*single_net);

    std::vector<std::vector<torch::Tensor>> ranks(2);
    std::vector<int64_t> steps(2);
    run_ranks(2, [&](const bnn::ProcessGroup& group) {
      torch::nn::Sequential net;
      {
        // Rank 1 starts elsewhere: the broadcast before the first step makes it rank 0's.
        std::lock_guard<std::mutex> lock(seeding);
        torch::manual_seed(11 + 100 * group.rank());
        net = mlp(c.estimator, c.prior, -30);
      }
      bnn::Trainer trainer(net, options(8).process_group(group));
      if (c.sgd) use_sgd(trainer);
      trainer.fit(train);
      ranks[group.rank()] = parameters_of(*net);
      steps[group.rank()] = trainer.step();
    });
    CHECK(steps[0] == single.step());
    CHECK(steps[1] == single.step());
    CHECK(max_difference(ranks[0], reference) < 2e-5);
    CHECK(max_difference(ranks[1], ranks[0]) == 0);
    // Far from the start: the comparison is not of two untrained nets.
    torch::manual_seed(11);
    CHECK(max_difference(reference, parameters_of(*mlp(c.estimator, c.prior, -30))) > 1e-2);
  }
}

TEST_CASE("Trainer: one rank through a group is the plain trainer, bit for bit",
          "[distributed][trainer]") {
  if (!gloo_or_warn()) return;
  const auto train = blobs(100, 4);
  const auto prior = bnn::Prior::scale_mixture();
  torch::manual_seed(12);
  auto plain_net = mlp(bnn::Estimator::kLocalReparameterization, prior, -5);
  bnn::Trainer plain(plain_net, options(10));
  const auto plain_history = plain.fit(train);

  run_ranks(1, [&](const bnn::ProcessGroup& group) {
    torch::manual_seed(12);
    auto net = mlp(bnn::Estimator::kLocalReparameterization, prior, -5);
    bnn::Trainer trainer(net, options(10).process_group(group));
    const auto history = trainer.fit(train);
    CHECK(max_difference(parameters_of(*net), parameters_of(*plain_net)) == 0);
    REQUIRE(history.size() == plain_history.size());
    CHECK(history.back().elbo == plain_history.back().elbo);
    CHECK(history.back().accuracy == plain_history.back().accuracy);
  });
}

TEST_CASE("Trainer: the epoch's statistics are the global minibatches'", "[distributed][trainer]") {
  if (!gloo_or_warn()) return;
  const auto train = blobs(100, 5);
  std::vector<bnn::EpochStats> stats(2);
  run_ranks(2, [&](const bnn::ProcessGroup& group) {
    torch::nn::Sequential net;
    {
      std::lock_guard<std::mutex> lock(seeding);
      torch::manual_seed(13);
      net = mlp(bnn::Estimator::kFlipout, bnn::Prior::fixed(0.5), -5);
    }
    bnn::Trainer trainer(net, options(10).epochs(1).process_group(group));
    stats[group.rank()] = trainer.train_epoch(train);
  });
  for (const auto& s : stats) {
    CHECK(s.images_per_second * s.seconds == Approx(100));  // both ranks' examples
    CHECK(s.accuracy >= 0);
    CHECK(std::isfinite(s.elbo));
  }
  CHECK(stats[0].nll == stats[1].nll);
  CHECK(stats[0].accuracy == stats[1].accuracy);
  CHECK(stats[0].kl == stats[1].kl);
}

TEST_CASE("Trainer: a loss that is not finite on one rank stops every rank",
          "[distributed][trainer]") {
  if (!gloo_or_warn()) return;
  bayesnn::test::TempDir dir;
  const auto train = blobs(100, 6);  // 50 per rank, two steps an epoch
  const auto errors = bayesnn::test::run_ranks_caught(2, [&](const bnn::ProcessGroup& group) {
    torch::nn::Sequential net;
    {
      std::lock_guard<std::mutex> lock(seeding);
      torch::manual_seed(14);
      // Rank 1's last step of epoch 2 is NaN: rank 0 has seen only finite losses by then.
      net = torch::nn::Sequential(bnn::BayesLinear(4, 3), NanAt(group.rank() == 1 ? 4 : 0));
    }
    bnn::Trainer trainer(
        net, options(25).epochs(5).checkpoint_path(dir.file("checkpoint.pt")).process_group(group));
    trainer.fit(train);
  });
  REQUIRE(errors[0]);
  REQUIRE(errors[1]);
  REQUIRE_THROWS_MATCHES(std::rethrow_exception(errors[0]), bnn::NonFiniteLossError,
                         Catch::Matchers::Message(
                             "training stopped in epoch 2 on rank 0 of 2: another rank's loss was "
                             "not finite (its own message names the step)"));
  REQUIRE_THROWS_MATCHES(std::rethrow_exception(errors[1]), bnn::NonFiniteLossError,
                         Catch::Matchers::Message(
                             "training stopped at step 4 (epoch 2, batch 2, rank 1 of 2): the NLL "
                             "is nan; the last good checkpoint is " +
                             dir.file("checkpoint.pt")));
  // Rank 0 wrote the checkpoint of epoch 1, the last good one; rank 1 writes none.
  torch::nn::Sequential fresh(bnn::BayesLinear(4, 3), NanAt(0));
  bnn::Trainer reader(fresh, bnn::TrainerOptions().progress(false));
  reader.load_checkpoint(dir.file("checkpoint.pt"));
  CHECK(reader.epoch() == 1);
}

TEST_CASE("Trainer: a group resumes from rank 0's checkpoint, which every rank reads",
          "[distributed][trainer]") {
  if (!gloo_or_warn()) return;
  bayesnn::test::TempDir dir;
  const auto train = blobs(100, 7);
  auto make_net = [](int64_t rank) {
    std::lock_guard<std::mutex> lock(seeding);
    torch::manual_seed(15 + rank);
    auto net = mlp(bnn::Estimator::kLocalReparameterization, bnn::Prior::fixed(0.5), -30);
    return net;
  };
  // Straight to 3 epochs, against 2 of the 3 epochs, a checkpoint, and a new group resuming.
  std::vector<std::vector<torch::Tensor>> straight(2), resumed(2);
  std::vector<int64_t> loaded_epoch(2);
  run_ranks(2, [&](const bnn::ProcessGroup& group) {
    auto net = make_net(group.rank());
    bnn::Trainer trainer(net, options(10).epochs(3).process_group(group));
    trainer.fit(train);
    straight[group.rank()] = parameters_of(*net);
  });
  run_ranks(2, [&](const bnn::ProcessGroup& group) {
    auto net = make_net(group.rank());
    bnn::Trainer trainer(
        net, options(10).epochs(3).checkpoint_path(dir.file("checkpoint.pt")).process_group(group));
    trainer.train_epoch(train);
    trainer.train_epoch(train);
  });
  run_ranks(2, [&](const bnn::ProcessGroup& group) {
    auto net = make_net(group.rank() + 10);  // not the nets that wrote the checkpoint
    bnn::Trainer trainer(net, options(10).epochs(3).process_group(group));
    trainer.load_checkpoint(dir.file("checkpoint.pt"));
    loaded_epoch[group.rank()] = trainer.epoch();
    trainer.fit(train);
    resumed[group.rank()] = parameters_of(*net);
  });
  CHECK(loaded_epoch == std::vector<int64_t>{2, 2});
  CHECK(max_difference(resumed[0], straight[0]) < 2e-5);
  CHECK(max_difference(resumed[1], resumed[0]) == 0);

  // The checkpoint holds each rank's generators; a missing file is named on every rank.
  torch::serialize::InputArchive archive;
  archive.load_from(dir.file("checkpoint.pt"));
  torch::Tensor state;
  CHECK(archive.try_read("rng_cpu_rank_0", state, true));
  CHECK(archive.try_read("rng_cpu_rank_1", state, true));
  const auto errors = bayesnn::test::run_ranks_caught(2, [&](const bnn::ProcessGroup& group) {
    auto net = make_net(0);
    bnn::Trainer trainer(net, options(10).process_group(group));
    trainer.load_checkpoint(dir.file("nope.pt"));
  });
  for (const auto& error : errors) {
    REQUIRE(error);
    REQUIRE_THROWS_WITH(std::rethrow_exception(error),
                        Contains("no checkpoint at '" + dir.file("nope.pt") +
                                 "' (on rank 0, which reads it for every rank)"));
  }
}

TEST_CASE("rank_seed: rank 0 keeps the seed, other ranks get distinct seeds", "[distributed]") {
  CHECK(bnn::rank_seed(42, 0) == 42);
  std::vector<uint64_t> seeds;
  for (int64_t rank = 0; rank < 64; ++rank) seeds.push_back(bnn::rank_seed(42, rank));
  std::sort(seeds.begin(), seeds.end());
  CHECK(std::adjacent_find(seeds.begin(), seeds.end()) == seeds.end());
  CHECK(bnn::rank_seed(42, 1) != bnn::rank_seed(43, 1));
}

TEST_CASE("Trainer: a stop one rank asks for stops every rank at the same step",
          "[distributed][trainer]") {
  if (!gloo_or_warn()) return;
  const auto train = blobs(100, 8);
  std::vector<int64_t> steps(2, -1);
  const auto errors = bayesnn::test::run_ranks_caught(2, [&](const bnn::ProcessGroup& group) {
    torch::nn::Sequential net;
    {
      std::lock_guard<std::mutex> lock(seeding);
      torch::manual_seed(16);
      net = mlp(bnn::Estimator::kLocalReparameterization, bnn::Prior::fixed(0.5), -5);
    }
    bnn::Trainer trainer(net, options(10).epochs(3).process_group(group));
    int asked = 0;
    trainer.stop_requested = [&] { return group.rank() == 1 && ++asked == 8; };
    try {
      trainer.fit(train);
    } catch (...) {
      steps[group.rank()] = trainer.step();
      throw;
    }
  });
  for (const auto& error : errors) {
    REQUIRE(error);
    REQUIRE_THROWS_AS(std::rethrow_exception(error), bnn::TrainingInterrupted);
  }
  CHECK(steps[0] == 7);
  CHECK(steps[1] == 7);
}
