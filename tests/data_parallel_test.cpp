#include "support/catch.h"

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "bayesnn/bayes_linear.h"
#include "bayesnn/data_parallel.h"
#include "bayesnn/process_group.h"
#include "support/ranks.h"
#include "support/temp_dir.h"

using Catch::Contains;
using namespace std::chrono_literals;

namespace {
using bayesnn::test::run_ranks;

torch::nn::Sequential small_net() {
  return torch::nn::Sequential(bayesnn::BayesLinear(bayesnn::BayesLinearOptions(6, 5)),
                               torch::nn::ReLU(), torch::nn::Linear(5, 3));
}

// The same with a batch norm: buffers as well as parameters.
torch::nn::Sequential small_net_with_buffers() {
  return torch::nn::Sequential(bayesnn::BayesLinear(bayesnn::BayesLinearOptions(6, 5)),
                               torch::nn::ReLU(), torch::nn::Linear(5, 3),
                               torch::nn::BatchNorm1d(3));
}
}  // namespace

TEST_CASE("ProcessGroup: Gloo sums over ranks and agrees on a flag", "[distributed]") {
  if (!bayesnn::has_gloo_backend()) {
    WARN("this LibTorch has no Gloo backend");
    return;
  }
  // What each rank saw; checked on the test's thread (Catch's assertions are not thread-safe).
  struct Seen {
    std::string backend;
    int64_t world_size = 0;
    torch::Tensor sum, broadcast;
    bool flag = false, no_flag = true;
  };
  std::vector<Seen> seen(3);
  run_ranks(3, [&](const bayesnn::ProcessGroup& group) {
    auto& s = seen[group.rank()];
    s.backend = group.backend();
    s.world_size = group.world_size();
    s.sum = torch::full({4}, static_cast<double>(group.rank() + 1));
    group.all_reduce_sum(s.sum, "x");
    s.broadcast = torch::full({2}, static_cast<double>(group.rank()));
    group.broadcast(s.broadcast, 2, "y");
    s.flag = group.any(group.rank() == 1, "a flag");
    s.no_flag = group.any(false, "no flag");
  });
  for (const auto& s : seen) {
    CHECK(s.backend == "gloo");
    CHECK(s.world_size == 3);
    CHECK(torch::equal(s.sum, torch::full({4}, 6.0)));
    CHECK(torch::equal(s.broadcast, torch::full({2}, 2.0)));
    CHECK(s.flag);
    CHECK_FALSE(s.no_flag);
  }
}

TEST_CASE("GradientBuckets: every rank gets the mean gradient, and buckets keep to their size",
          "[distributed]") {
  if (!bayesnn::has_gloo_backend()) {
    WARN("this LibTorch has no Gloo backend");
    return;
  }
  SECTION("buckets: reverse order, at most the size unless one parameter is larger") {
    auto net = small_net();
    const auto parameters = net->parameters();  // 30, 30, 5, 5, [5 x 3 = 15], 3 floats
    bayesnn::GradientBuckets buckets(parameters, /*bucket_bytes=*/4 * 30);
    const auto& b = buckets.buckets();
    REQUIRE(b.size() == 3u);
    CHECK(b[0].size() == 4u);  // 3 + 15 + 5 + 5 floats
    CHECK(b[0][0].is_same(parameters.back()));
    CHECK(b[1].size() == 1u);  // 30 floats: one more would exceed the size
    CHECK(b[2].size() == 1u);
    REQUIRE_THROWS_WITH(bayesnn::GradientBuckets(parameters, 0),
                        Contains("bucket_bytes must be positive, got 0"));
  }
  SECTION("the mean over two ranks, a missing gradient counted as zeros") {
    std::vector<std::vector<torch::Tensor>> gradients(2);
    run_ranks(2, [&](const bayesnn::ProcessGroup& group) {
      torch::manual_seed(7);
      auto net = small_net();
      bayesnn::GradientBuckets buckets(net->parameters(), /*bucket_bytes=*/64);
      const auto parameters = net->parameters();
      for (size_t i = 0; i + 1 < parameters.size(); ++i) {  // the last has no gradient
        parameters[i].mutable_grad() =
            torch::full_like(parameters[i], static_cast<double>((group.rank() + 1) * (i + 1)));
      }
      buckets.average(group);
      for (const auto& p : parameters) gradients[group.rank()].push_back(p.grad());
    });
    for (const auto& rank : gradients) {
      REQUIRE(rank.size() == small_net()->parameters().size());
      for (size_t i = 0; i + 1 < rank.size(); ++i) {
        INFO("parameter " << i);
        CHECK(torch::allclose(rank[i], torch::full_like(rank[i], 1.5 * (i + 1))));
      }
      CHECK(torch::equal(rank.back(), torch::zeros_like(rank.back())));
    }
  }
}

TEST_CASE("broadcast_module: every rank starts from the root's parameters and buffers",
          "[distributed]") {
  if (!bayesnn::has_gloo_backend()) {
    WARN("this LibTorch has no Gloo backend");
    return;
  }
  // Each rank's parameters and buffers, flattened, before and after the broadcast.
  std::vector<torch::Tensor> before(2), after(2);
  run_ranks(2, [&](const bayesnn::ProcessGroup& group) {
    auto net = small_net_with_buffers();  // a different initialisation on each rank
    auto flatten = [&] {
      std::vector<torch::Tensor> pieces;
      for (const auto& t : net->parameters()) pieces.push_back(t.detach().reshape({-1}).clone());
      for (const auto& t : net->buffers()) pieces.push_back(t.reshape({-1}).to(torch::kFloat));
      return torch::cat(pieces);
    };
    {
      torch::NoGradGuard no_grad;
      for (auto& t : net->buffers()) t.add_(group.rank());  // buffers differ too
    }
    before[group.rank()] = flatten();
    bayesnn::broadcast_module(*net, group, /*root=*/1);
    after[group.rank()] = flatten();
  });
  CHECK_FALSE(torch::equal(before[0], before[1]));
  CHECK(torch::equal(after[0], before[1]));
  CHECK(torch::equal(after[1], before[1]));
}

TEST_CASE("ProcessGroup: a rank that never joins is an error naming the job", "[distributed]") {
  if (!bayesnn::has_gloo_backend()) {
    WARN("this LibTorch has no Gloo backend");
    return;
  }
  bayesnn::test::TempDir dir;
  REQUIRE_THROWS_WITH(bayesnn::ProcessGroup::over_file(dir.file("store"), 0, 2, torch::kCPU, 1s),
                      Contains("joining the job as rank 0 of 2 over the file store"));
  REQUIRE_THROWS_WITH(bayesnn::ProcessGroup::over_file(dir.file("other"), 2, 2, torch::kCPU, 1s),
                      Contains("rank 2 of world size 2: expected 0 <= rank < world size"));
}

TEST_CASE("ProcessGroup: a collective a peer does not join times out naming the operation",
          "[distributed]") {
  if (!bayesnn::has_gloo_backend()) {
    WARN("this LibTorch has no Gloo backend");
    return;
  }
  REQUIRE_THROWS_WITH(run_ranks(
                          2,
                          [](const bayesnn::ProcessGroup& group) {
                            // Both ranks joined (a rank that returned at once could close its
                            // connections while rank 0 was still making them); then rank 1
                            // stays, without joining, past rank 0's timeout.
                            auto greeting = torch::ones({1});
                            group.all_reduce_sum(greeting, "the greeting");
                            if (group.rank() == 1) {
                              std::this_thread::sleep_for(4s);
                              return;
                            }
                            auto x = torch::ones({3});
                            group.all_reduce_sum(x, "the lonely tensor");
                          },
                          2s),
                      Contains("all-reduce of the lonely tensor failed on rank 0 of 2 (gloo"));
}
