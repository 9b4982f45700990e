// Internal: what the trainer exchanges with the other ranks of a data-parallel job, behind one
// interface: nothing for a process alone, collectives over a `ProcessGroup` for a rank.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include "bayesnn/process_group.h"
#include "train/generator_states.h"
#include "train/step_record.h"

namespace bayesnn::detail {

/// Throws `NonFiniteLossError` naming the record's first non-finite step, if it has one.
using CheckFinite = std::function<void(StepRecord&)>;

class Collectives {
 public:
  virtual ~Collectives() = default;

  /// This process's rank and the job's size (0 and 1 alone): its shard of each epoch.
  virtual int64_t rank() const = 0;
  virtual int64_t world_size() const = 0;
  /// Where in the job a message is from: ", rank 1 of 2" ("" alone).
  virtual std::string where() const = 0;

  /// Before an epoch's first step: every rank's model and likelihood become rank 0's, where
  /// they may differ (before the first step, and after a checkpoint was loaded).
  virtual void start_epoch(torch::nn::Module& model, torch::nn::Module& likelihood) = 0;
  /// After a checkpoint was loaded: the ranks' parameters may differ again.
  virtual void parameters_loaded() = 0;
  /// Replaces each gradient by its mean over the ranks.
  virtual void average_gradients() = 0;
  /// Whether `flag` is true on any rank.
  virtual bool any(bool flag, const char* what) const = 0;

  /// Reads the record for the progress line: a process alone stops at once at a non-finite
  /// loss; a rank cannot (the others would wait for it in a collective), and waits for the end.
  virtual void read_during_epoch(StepRecord& record, const CheckFinite& check) const = 0;
  /// Reads the record at the epoch's end: every rank stops where any rank's loss was not finite
  /// (that rank's message names the step, the others' say that another rank's was not).
  virtual void read_at_epoch_end(StepRecord& record, const CheckFinite& check,
                                 int64_t epoch) const = 0;
  /// The epoch's totals over every rank: the global minibatches' losses and accuracy; the KL
  /// is the ranks' mean (each rank draws its own weights for a Monte Carlo KL).
  virtual StepTotals sum(const StepTotals& totals) const = 0;
  /// Every rank's generator states under their checkpoint keys (none alone): rank 0's
  /// checkpoint holds them, so each rank resumes its own noise.
  virtual NamedStates rank_generators() const = 0;
  /// The bytes of the file at `path`: rank 0 reads it and sends it to the others, so no shared
  /// file system is needed. Throws naming the file where it is missing.
  virtual std::string read_file(const std::string& path) const = 0;
};

/// A process alone where `group` is unset, else a rank of it training on `device`, whose
/// gradients of `parameters` it averages.
std::unique_ptr<Collectives> make_collectives(const std::optional<ProcessGroup>& group,
                                              const c10::Device& device,
                                              const std::vector<at::Tensor>& parameters);

}  // namespace bayesnn::detail
