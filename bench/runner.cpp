#include "runner.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "timing.h"

namespace bench {
namespace {
constexpr int64_t kClasses = 10;
}  // namespace

bayesnn::Dataset synthetic_data(int64_t n, const torch::Device& device) {
  const auto options = torch::TensorOptions().device(device);
  bayesnn::Dataset data;
  data.inputs = torch::rand({n, 1, 28, 28}, options);
  data.targets = torch::randint(0, kClasses, {n}, options.dtype(torch::kLong));
  return data;
}

Runner::Runner(const Variant& variant, int64_t batch, const torch::Device& device)
    : variant_(variant), batch_(batch), device_(device) {
  trainer_ = std::make_unique<bayesnn::Trainer>(
      make_network(variant),
      bayesnn::TrainerOptions().batch_size(batch).device(device).progress(false).epochs(1000000));
}

void Runner::resize_epoch(int64_t steps) {
  steps_ = steps;
  data_ = synthetic_data(batch_ * steps, device_);
}

void Runner::calibrate(double seconds) {
  resize_epoch(2);
  ms_per_step();  // warm-up
  const auto steps = static_cast<int64_t>(std::lround(seconds * 1e3 / ms_per_step()));
  resize_epoch(std::clamp<int64_t>(steps, 2, 400));
  ms_per_step();
}

double Runner::ms_per_step() {
  synchronize(device_);
  const auto start = Clock::now();
  trainer_->train_epoch(data_);
  synchronize(device_);
  return 1e3 * seconds_since(start) / static_cast<double>(steps_);
}

}  // namespace bench
