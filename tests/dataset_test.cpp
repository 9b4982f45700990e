#include "support/catch.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <vector>

#include "bayesnn/dataset.h"
#include "bayesnn/idx.h"
#include "bayesnn/mnist.h"
#include "support/idx_files.h"
#include "support/real_data.h"

namespace bnn = bayesnn;
using bnn::test::counting_bytes;
using bnn::test::idx_bytes;
using bnn::test::real_data_dir;
using bnn::test::real_data_present;
using bnn::test::TempDir;
using bnn::test::write_file;

namespace {

// A dataset whose example i has label i and every pixel equal to i: a batch shows which
// examples it gathered.
bnn::Dataset numbered_dataset(int64_t n) {
  auto index = torch::arange(n, torch::kInt64);
  auto images = index.to(torch::kFloat32).view({n, 1, 1, 1}).expand({n, 1, 2, 3}).contiguous();
  return bnn::Dataset{images, index};
}

// All the dataset positions one epoch visits, in visiting order, checking that every batch
// carries the examples its indices name.
torch::Tensor visited(const bnn::Epoch& epoch) {
  std::vector<torch::Tensor> indices;
  for (const auto& batch : epoch) {
    REQUIRE(torch::equal(batch.targets, batch.indices));
    REQUIRE(torch::equal(batch.inputs.select(1, 0).select(1, 1).select(1, 2),
                         batch.indices.to(torch::kFloat32)));
    indices.push_back(batch.indices);
  }
  return torch::cat(indices);
}

// Restores an environment variable on scope exit.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    const char* value = std::getenv(name);
    had_value_ = value != nullptr;
    value_ = had_value_ ? value : "";
  }
  ~EnvGuard() {
    if (had_value_) {
      setenv(name_, value_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  bool had_value_;
  std::string value_;
};

// The directory of a real dataset: $BAYESNN_DATA/name, else the build's BAYESNN_DATA_DIR/name.

}  // namespace

TEST_CASE("load_mnist: images become float [N, 1, rows, cols] in [0, 1] and labels int64",
          "[dataset]") {
  TempDir dir;
  std::vector<uint8_t> pixels = {0, 255, 51, 102, 7, 8, 9, 10, 11, 12, 13, 14};
  write_file(dir.file("train-images-idx3-ubyte"), idx_bytes(0x803, {2, 2, 3}, pixels));
  write_file(dir.file("train-labels-idx1-ubyte"), idx_bytes(0x801, {2}, {7, 3}));

  const auto train = bnn::load_mnist(dir.path(), bnn::Split::kTrain);
  REQUIRE(train.size() == 2);
  REQUIRE(train.inputs.scalar_type() == torch::kFloat32);
  REQUIRE(train.inputs.sizes() == torch::IntArrayRef({2, 1, 2, 3}));
  REQUIRE(train.inputs[0][0][0][0].item<float>() == 0.0f);
  REQUIRE(train.inputs[0][0][0][1].item<float>() == 1.0f);
  REQUIRE(train.inputs[0][0][0][2].item<float>() == Approx(0.2f));
  REQUIRE(train.inputs[1][0][1][2].item<float>() == Approx(14.0f / 255.0f));
  REQUIRE(train.targets.scalar_type() == torch::kInt64);
  REQUIRE(torch::equal(train.targets, torch::tensor({7, 3}, torch::kInt64)));
}

TEST_CASE("Dataset: head and slice are views of a range of examples", "[dataset]") {
  const auto data = numbered_dataset(10);
  const auto head = data.head(4);
  REQUIRE(head.size() == 4);
  REQUIRE(torch::equal(head.targets, torch::arange(4, torch::kInt64)));
  const auto middle = data.slice(3, 7);
  REQUIRE(torch::equal(middle.targets, torch::arange(3, 7, torch::kInt64)));
  REQUIRE(middle.inputs.data_ptr() == data.inputs[3].data_ptr());
  REQUIRE(data.head(0).size() == 0);

  REQUIRE_THROWS_WITH(data.head(11),
                      Catch::Contains("Dataset::head: n = 11 must be in [0, 10] (the number of "
                                      "examples)"));
  REQUIRE_THROWS_WITH(data.head(-1), Catch::Contains("Dataset::head: n = -1 must be in [0, 10]"));
  REQUIRE_THROWS_WITH(data.slice(5, 3),
                      Catch::Contains("Dataset::slice: [5, 3) is not a range within the 10 "
                                      "examples"));
}

TEST_CASE("data_root: BAYESNN_DATA where set, else \"data\"", "[dataset]") {
  EnvGuard guard("BAYESNN_DATA");
  setenv("BAYESNN_DATA", "/somewhere/else", 1);
  REQUIRE(bnn::data_root() == "/somewhere/else");
  REQUIRE(bnn::data_dir("mnist") == "/somewhere/else/mnist");
  setenv("BAYESNN_DATA", "", 1);
  REQUIRE(bnn::data_root() == "data");
  unsetenv("BAYESNN_DATA");
  REQUIRE(bnn::data_root() == "data");
  REQUIRE(bnn::data_dir("fashion-mnist") == "data/fashion-mnist");
  REQUIRE(bnn::to_string(bnn::Split::kTrain) == "train");
  REQUIRE(bnn::to_string(bnn::Split::kTest) == "test");
}

TEST_CASE("BatchLoader: every example is visited exactly once per epoch", "[dataset]") {
  const auto data = numbered_dataset(103);
  bnn::BatchLoader loader(data, bnn::BatchOptions(10).seed(7));
  REQUIRE(loader.batches_per_epoch() == 11);
  for (int64_t e = 0; e < 3; ++e) {
    const auto epoch = loader.epoch(e);
    REQUIRE(epoch.size() == 11);
    std::vector<int64_t> sizes;
    for (const auto& batch : epoch) {
      sizes.push_back(batch.size());
      REQUIRE(batch.inputs.sizes() == torch::IntArrayRef({batch.size(), 1, 2, 3}));
    }
    REQUIRE(sizes == std::vector<int64_t>{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3});
    const auto order = visited(epoch);
    REQUIRE(torch::equal(order, epoch.order()));
    REQUIRE(torch::equal(std::get<0>(order.sort()), torch::arange(103, torch::kInt64)));
    // Shuffled: not the dataset order.
    REQUIRE_FALSE(torch::equal(order, torch::arange(103, torch::kInt64)));
  }
}

TEST_CASE("BatchLoader: an epoch's order is reproducible for a seed and differs between epochs",
          "[dataset]") {
  const auto data = numbered_dataset(1000);
  bnn::BatchLoader loader(data, bnn::BatchOptions(100).seed(42));
  bnn::BatchLoader same_seed(data, bnn::BatchOptions(100).seed(42));
  bnn::BatchLoader other_seed(data, bnn::BatchOptions(100).seed(43));

  REQUIRE(torch::equal(visited(loader.epoch(3)), visited(same_seed.epoch(3))));
  REQUIRE(torch::equal(loader.epoch(3).order(), loader.epoch(3).order()));
  // Independent of what was drawn before: the global generator does not enter.
  torch::manual_seed(0);
  const auto before = loader.epoch(5).order();
  torch::manual_seed(1);
  torch::rand({10});
  REQUIRE(torch::equal(before, loader.epoch(5).order()));

  for (int64_t e = 0; e < 4; ++e) {
    // Two random permutations of 1000 agree in about 1 place; 50 is far beyond chance.
    const auto agree = [](const torch::Tensor& a, const torch::Tensor& b) {
      return a.eq(b).sum().item<int64_t>();
    };
    REQUIRE(agree(loader.epoch(e).order(), loader.epoch(e + 1).order()) < 50);
    REQUIRE(agree(loader.epoch(e).order(), other_seed.epoch(e).order()) < 50);
  }
}

TEST_CASE("BatchLoader: drop_last drops only a partial last batch", "[dataset]") {
  SECTION("103 examples in batches of 10") {
    bnn::BatchLoader loader(numbered_dataset(103), bnn::BatchOptions(10).drop_last(true));
    const auto epoch = loader.epoch(0);
    REQUIRE(loader.batches_per_epoch() == 10);
    REQUIRE(epoch.size() == 10);
    int64_t batches = 0;
    for (const auto& batch : epoch) {
      REQUIRE(batch.size() == 10);
      ++batches;
    }
    REQUIRE(batches == 10);
    const auto order = visited(epoch);
    REQUIRE(order.size(0) == 100);
    const auto* first = order.data_ptr<int64_t>();
    REQUIRE(std::set<int64_t>(first, first + order.size(0)).size() == 100);
  }
  SECTION("100 examples in batches of 10: nothing to drop") {
    bnn::BatchLoader keep(numbered_dataset(100), bnn::BatchOptions(10));
    bnn::BatchLoader drop(numbered_dataset(100), bnn::BatchOptions(10).drop_last(true));
    REQUIRE(keep.batches_per_epoch() == 10);
    REQUIRE(drop.batches_per_epoch() == 10);
    REQUIRE(visited(drop.epoch(0)).size(0) == 100);
  }
  SECTION("a batch as large as the dataset") {
    bnn::BatchLoader loader(numbered_dataset(7), bnn::BatchOptions(7).drop_last(true));
    REQUIRE(visited(loader.epoch(0)).size(0) == 7);
  }
}

TEST_CASE("BatchLoader: without shuffle, batches are consecutive views in dataset order",
          "[dataset]") {
  const auto data = numbered_dataset(25);
  bnn::BatchLoader loader(data, bnn::BatchOptions(10).shuffle(false));
  const auto epoch = loader.epoch(3);
  REQUIRE(torch::equal(visited(epoch), torch::arange(25, torch::kInt64)));
  REQUIRE(epoch.batch(1).inputs.data_ptr() == data.inputs[10].data_ptr());
  REQUIRE(epoch.batch(2).size() == 5);
}

TEST_CASE("BatchLoader: shards are disjoint and equal, and together the batches of one process",
          "[dataset]") {
  const auto data = numbered_dataset(103);  // 34 per shard of 3; one example left out each epoch
  for (const bool shuffle : {true, false}) {
    INFO("shuffle " << shuffle);
    const auto whole =
        bnn::BatchLoader(data, bnn::BatchOptions(15).seed(9).shuffle(shuffle)).epoch(2);
    std::vector<bnn::Epoch> shards;
    for (int64_t shard = 0; shard < 3; ++shard) {
      bnn::BatchLoader loader(data,
                              bnn::BatchOptions(5).seed(9).shuffle(shuffle).shard(shard).shards(3));
      CHECK(loader.shard_size() == 34);
      CHECK(loader.batches_per_epoch() == 7);  // 6 of 5 and one of 4
      shards.push_back(loader.epoch(2));
      CHECK(shards.back().size() == 7);
    }
    std::set<int64_t> seen;
    for (int64_t i = 0; i < 7; ++i) {
      std::vector<torch::Tensor> pieces;
      for (const auto& shard : shards) {
        const auto batch = shard.batch(i);
        CHECK(batch.size() == (i < 6 ? 5 : 4));
        CHECK(torch::equal(batch.targets, batch.indices));
        pieces.push_back(batch.indices);
        for (int64_t k = 0; k < batch.size(); ++k) seen.insert(batch.indices[k].item<int64_t>());
      }
      // Batch i of the shards together is batch i of one process at 3 x 5 (the last cut to 12).
      auto together = std::get<0>(torch::cat(pieces).sort());
      const auto reference = whole.batch(i).indices.narrow(0, 0, together.numel());
      CHECK(torch::equal(together, std::get<0>(reference.sort())));
    }
    CHECK(seen.size() == 102u);  // disjoint: 3 x 34 distinct examples
  }
}

TEST_CASE("BatchLoader: bad arguments are rejected naming the value", "[dataset]") {
  const auto data = numbered_dataset(103);
  REQUIRE_THROWS_WITH(bnn::BatchLoader(data, bnn::BatchOptions(0)),
                      Catch::Contains("BatchLoader: batch_size 0 must be in [1, 103] (the dataset "
                                      "size)"));
  REQUIRE_THROWS_WITH(bnn::BatchLoader(data, bnn::BatchOptions(-5)),
                      Catch::Contains("batch_size -5 must be in [1, 103]"));
  REQUIRE_THROWS_WITH(bnn::BatchLoader(data, bnn::BatchOptions(104)),
                      Catch::Contains("batch_size 104 must be in [1, 103]"));
  REQUIRE_THROWS_WITH(
      bnn::BatchLoader(bnn::Dataset{data.inputs, data.targets.narrow(0, 0, 100)}, 10),
      Catch::Contains("BatchLoader: the dataset has 103 inputs but 100 targets"));
  REQUIRE_THROWS_WITH(bnn::BatchLoader(bnn::Dataset{}, 10),
                      Catch::Contains("BatchLoader: the dataset's inputs and targets must be "
                                      "defined"));
  REQUIRE_THROWS_WITH(
      bnn::BatchLoader(bnn::Dataset{torch::tensor(1.0f), torch::tensor(1)}, 1),
      Catch::Contains("BatchLoader: the dataset's inputs and targets need an example dimension"));

  REQUIRE_THROWS_WITH(bnn::BatchLoader(data, bnn::BatchOptions(10).shard(3).shards(3)),
                      Catch::Contains("BatchLoader: shard 3 of 3: expected 0 <= shard < shards"));
  REQUIRE_THROWS_WITH(bnn::BatchLoader(data, bnn::BatchOptions(10).shard(0).shards(0)),
                      Catch::Contains("BatchLoader: shard 0 of 0: expected 0 <= shard < shards"));
  REQUIRE_THROWS_WITH(bnn::BatchLoader(data, bnn::BatchOptions(35).shard(1).shards(3)),
                      Catch::Contains("batch_size 35 must be in [1, 34] (the shard's size)"));

  bnn::BatchLoader loader(data, 10);
  REQUIRE_THROWS_WITH(loader.epoch(-1),
                      Catch::Contains("BatchLoader::epoch: epoch -1 must be >= 0"));
  REQUIRE_THROWS_WITH(loader.epoch(0).batch(11),
                      Catch::Contains("Epoch::batch: index 11 must be in [0, 11) (the number of "
                                      "batches)"));
}

TEST_CASE("BatchLoader: an epoch outlives its loader, and batches go to the chosen device",
          "[dataset]") {
  auto epoch =
      bnn::BatchLoader(numbered_dataset(30), bnn::BatchOptions(8).device(torch::kCPU)).epoch(1);
  REQUIRE(visited(epoch).size(0) == 30);
  REQUIRE(epoch.batch(0).inputs.device() == torch::Device(torch::kCPU));
}

TEST_CASE("BatchLoader: batches of a CPU dataset arrive on CUDA, and a CUDA dataset batches there",
          "[dataset][cuda]") {
  BAYESNN_REQUIRE_CUDA_OR_RETURN();
  const auto data = numbered_dataset(50);
  bnn::BatchLoader to_cuda(data, bnn::BatchOptions(16).device(torch::kCUDA));
  for (const auto& batch : to_cuda.epoch(0)) {
    REQUIRE(batch.inputs.is_cuda());
    REQUIRE(batch.targets.is_cuda());
    REQUIRE(torch::equal(batch.targets, batch.indices));
  }
  bnn::BatchLoader on_cuda(data.to(torch::kCUDA), bnn::BatchOptions(16).seed(3));
  bnn::BatchLoader on_cpu(data, bnn::BatchOptions(16).seed(3));
  REQUIRE(on_cuda.epoch(2).batch(0).inputs.is_cuda());
  REQUIRE(torch::equal(on_cuda.epoch(2).order().cpu(), on_cpu.epoch(2).order()));
}

TEST_CASE("load_mnist: the real MNIST has 60000/10000 examples and the known test histogram",
          "[dataset][mnist]") {
  const auto dir = real_data_dir("mnist");
  if (!real_data_present(dir)) {
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto train = bnn::load_mnist(dir, bnn::Split::kTrain);
  const auto test = bnn::load_mnist(dir, bnn::Split::kTest);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  INFO("loading MNIST took " << seconds.count() << " s");

  REQUIRE(train.size() == 60000);
  REQUIRE(test.size() == 10000);
  REQUIRE(train.inputs.sizes() == torch::IntArrayRef({60000, 1, 28, 28}));
  REQUIRE(test.inputs.sizes() == torch::IntArrayRef({10000, 1, 28, 28}));
  for (const auto& images : {train.inputs, test.inputs}) {
    REQUIRE(images.min().item<float>() == 0.0f);
    REQUIRE(images.max().item<float>() == 1.0f);
  }
  REQUIRE(torch::equal(
      torch::bincount(test.targets),
      torch::tensor({980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, torch::kInt64)));
  REQUIRE(torch::bincount(train.targets).sum().item<int64_t>() == 60000);
  REQUIRE(train.targets.min().item<int64_t>() == 0);
  REQUIRE(train.targets.max().item<int64_t>() == 9);
}

TEST_CASE("load_mnist: the real Fashion-MNIST has 60000/10000 examples, 1000 per test class",
          "[dataset][mnist]") {
  const auto dir = real_data_dir("fashion-mnist");
  if (!real_data_present(dir)) {
    return;
  }
  const auto train = bnn::load_mnist(dir, bnn::Split::kTrain);
  const auto test = bnn::load_mnist(dir, bnn::Split::kTest);
  REQUIRE(train.size() == 60000);
  REQUIRE(test.size() == 10000);
  REQUIRE(torch::equal(torch::bincount(test.targets), torch::full({10}, 1000, torch::kInt64)));
  REQUIRE(torch::equal(torch::bincount(train.targets), torch::full({10}, 6000, torch::kInt64)));
  REQUIRE(test.inputs.min().item<float>() >= 0.0f);
  REQUIRE(test.inputs.max().item<float>() == 1.0f);
}
