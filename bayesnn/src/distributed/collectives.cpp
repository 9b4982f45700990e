#include "distributed/collectives.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/types.h>

#include "bayesnn/data_parallel.h"
#include "bayesnn/errors.h"

namespace bayesnn::detail {
namespace {

std::optional<std::string> read_local_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!std::filesystem::is_regular_file(path) || !file.good()) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

class Alone final : public Collectives {
 public:
  int64_t rank() const override { return 0; }
  int64_t world_size() const override { return 1; }
  std::string where() const override { return ""; }
  void start_epoch(torch::nn::Module&, torch::nn::Module&) override {}
  void parameters_loaded() override {}
  void average_gradients() override {}
  bool any(bool flag, const char*) const override { return flag; }
  void read_during_epoch(StepRecord& record, const CheckFinite& check) const override {
    check(record);
  }
  void read_at_epoch_end(StepRecord& record, const CheckFinite& check, int64_t) const override {
    check(record);
  }
  StepTotals sum(const StepTotals& totals) const override { return totals; }
  NamedStates rank_generators() const override { return {}; }
  std::string read_file(const std::string& path) const override {
    auto bytes = read_local_file(path);
    TORCH_CHECK(bytes, "Trainer: no checkpoint at '", path, "'");
    return std::move(*bytes);
  }
};

class Rank final : public Collectives {
 public:
  Rank(ProcessGroup group, const c10::Device& device, const std::vector<at::Tensor>& parameters)
      : group_(std::move(group)), device_(device), buckets_(parameters) {}

  int64_t rank() const override { return group_.rank(); }
  int64_t world_size() const override { return group_.world_size(); }
  std::string where() const override {
    return fmt::format(", rank {} of {}", group_.rank(), group_.world_size());
  }

  void start_epoch(torch::nn::Module& model, torch::nn::Module& likelihood) override {
    if (synchronised_) return;
    broadcast_module(model, group_);
    broadcast_module(likelihood, group_);
    synchronised_ = true;
  }
  void parameters_loaded() override { synchronised_ = false; }
  void average_gradients() override { buckets_.average(group_); }
  bool any(bool flag, const char* what) const override { return group_.any(flag, what); }

  void read_during_epoch(StepRecord& record, const CheckFinite&) const override { record.read(); }

  void read_at_epoch_end(StepRecord& record, const CheckFinite& check,
                         int64_t epoch) const override {
    const bool own = record.read().has_value();
    if (!group_.any(own, "the check for a non-finite loss")) return;
    check(record);  // throws where this rank's loss was not finite, naming the step
    throw NonFiniteLossError(
        fmt::format("training stopped in epoch {} on rank {} of {}: another rank's loss was not "
                    "finite (its own message names the step)",
                    epoch + 1, group_.rank(), group_.world_size()));
  }

  StepTotals sum(const StepTotals& totals) const override {
    auto sums =
        torch::tensor({totals.nll_sum, totals.loss_sum, static_cast<double>(totals.examples),
                       totals.correct, static_cast<double>(totals.predictions), totals.last_kl,
                       static_cast<double>(totals.steps)},
                      torch::kFloat64)
            .to(device_);
    group_.all_reduce_sum(sums, "the epoch's statistics");
    sums = sums.cpu();
    const auto value = sums.accessor<double, 1>();
    StepTotals global = totals;
    global.nll_sum = value[0];
    global.loss_sum = value[1];
    global.examples = std::llround(value[2]);
    global.correct = value[3];
    global.predictions = std::llround(value[4]);
    global.last_kl = value[5] / static_cast<double>(group_.world_size());
    global.steps = std::llround(value[6]);
    return global;
  }

  // Each rank fills its row of a [world size, state bytes] table, and a sum over the ranks
  // fills all.
  NamedStates rank_generators() const override {
    NamedStates states;
    for (const auto& device : rank_generator_devices(device_)) {
      const auto state = generator_state(device);
      auto table = torch::zeros({group_.world_size(), state.numel()}, torch::kInt64);
      table[group_.rank()].copy_(state.to(torch::kInt64));
      table = table.to(device_);
      group_.all_reduce_sum(table, "the generators' states");
      table = table.to(torch::kCPU, torch::kUInt8);
      for (int64_t rank = 0; rank < group_.world_size(); ++rank) {
        states.emplace_back(rank_generator_key(device, rank), table[rank].clone());
      }
    }
    return states;
  }

  // Rank 0 sends the size (-1: no file), then the bytes.
  std::string read_file(const std::string& path) const override {
    std::optional<std::string> bytes;
    if (group_.rank() == 0) bytes = read_local_file(path);
    auto size =
        torch::tensor({bytes ? static_cast<int64_t>(bytes->size()) : int64_t{-1}}).to(device_);
    group_.broadcast(size, 0, "the checkpoint's size");
    const int64_t count = size.item<int64_t>();
    TORCH_CHECK(count >= 0, "Trainer: no checkpoint at '", path,
                "' (on rank 0, which reads it for every rank)");
    auto data = torch::empty({count}, torch::kUInt8);
    if (bytes) std::memcpy(data.data_ptr<uint8_t>(), bytes->data(), bytes->size());
    data = data.to(device_);
    group_.broadcast(data, 0, "the checkpoint");
    data = data.cpu();
    return std::string(reinterpret_cast<const char*>(data.data_ptr<uint8_t>()),
                       static_cast<size_t>(count));
  }

 private:
  ProcessGroup group_;
  c10::Device device_;
  GradientBuckets buckets_;
  bool synchronised_ = false;  // whether the ranks' parameters are known equal
};
}  // namespace

std::unique_ptr<Collectives> make_collectives(const std::optional<ProcessGroup>& group,
                                              const c10::Device& device,
                                              const std::vector<at::Tensor>& parameters) {
  if (!group) return std::make_unique<Alone>();
  return std::make_unique<Rank>(*group, device, parameters);
}

}  // namespace bayesnn::detail
