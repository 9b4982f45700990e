// One network in training, as the training rows and the thread sweep time it.
#pragma once

#include <cstdint>
#include <memory>

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include "bayesnn/dataset.h"
#include "bayesnn/trainer.h"
#include "networks.h"

namespace bench {

/// `n` uniform 1x28x28 images with labels of 10 classes on `device` (MNIST's shapes).
bayesnn::Dataset synthetic_data(int64_t n, const torch::Device& device);

/// A network of `variant` trained by `bayesnn::Trainer` (its default `FusedAdam`) at `batch`,
/// one synthetic epoch of `steps()` batches at a time.
class Runner {
 public:
  Runner(const Variant& variant, int64_t batch, const torch::Device& device);

  /// Makes each epoch `steps` batches long.
  void resize_epoch(int64_t steps);
  /// Resizes the epoch so that it takes about `seconds` (2 to 400 steps), from one timed epoch.
  void calibrate(double seconds);
  /// Trains one epoch and returns its milliseconds per step.
  double ms_per_step();

  const Variant& variant() const { return variant_; }
  int64_t batch() const { return batch_; }
  int64_t steps() const { return steps_; }

 private:
  Variant variant_;
  int64_t batch_;
  torch::Device device_;
  std::unique_ptr<bayesnn::Trainer> trainer_;
  bayesnn::Dataset data_;
  int64_t steps_ = 0;
};

}  // namespace bench
