#pragma once

#include <vector>

#include <torch/optim/adam.h>
#include <torch/serialize/input-archive.h>

namespace bayesnn {

/// `torch::optim::Adam` with its update fused into one pass over each parameter on the CPU:
/// the same algorithm, options and state (checkpoints are interchangeable with Adam's), read and
/// written once per step instead of once per elementwise operation. A Bayesian network has
/// twice the parameters of its deterministic twin, so the optimizer is a large part of a step.
/// Falls back to `torch::optim::Adam::step` where a parameter is not a dense, contiguous float
/// or double CPU tensor, or with `amsgrad`. The trainer's default optimizer.
///
/// Example:
/// ```
/// bayesnn::FusedAdam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
/// ```
class FusedAdam : public torch::optim::Adam {
 public:
  /// Adam over `params` with the options `defaults`, as `torch::optim::Adam`'s constructor.
  explicit FusedAdam(std::vector<torch::Tensor> params,
                     torch::optim::AdamOptions defaults = torch::optim::AdamOptions());

  /// One Adam step of every parameter with a gradient, fused (else `torch::optim::Adam::step`);
  /// returns the loss `closure` computed first (undefined without one).
  torch::Tensor step(LossClosure closure = nullptr) override;

  /// Adam's `load`, with each parameter's state matched to it by the key text the writer used,
  /// whichever LibTorch wrote it: 1.x writes a parameter's key as "0x55d0...", 2.x as decimal
  /// and parses it with `std::stoull`, so LibTorch 2.x's own loader gives every parameter of a
  /// 1.x checkpoint the same state or none.
  void load(torch::serialize::InputArchive& archive) override;
};

}  // namespace bayesnn
