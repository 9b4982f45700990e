#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/errors.h"
#include "bayesnn/rendezvous.h"

namespace bayesnn {

/// Whether this LibTorch was built with c10d's Gloo backend (CPU tensors) and NCCL backend
/// (CUDA tensors); decided when bayesnn was configured.
bool has_gloo_backend();
bool has_nccl_backend();

/// The processes that train one model together, over LibTorch's own collectives (c10d, the
/// engine of PyTorch's DistributedDataParallel): Gloo for CPU tensors, NCCL for CUDA ones.
/// Copies share one group. Every collective blocks until it is done on this rank, and throws
/// `DistributedError` where it fails or exceeds the group's timeout. The program should ignore
/// SIGPIPE (`signal(SIGPIPE, SIG_IGN)`, as Python does): otherwise a write to a peer that has
/// died ends the process with that signal instead of the error.
///
/// Example (one process per rank, launched by torchrun, mpirun, srun or tools/launch):
/// ```
/// auto group = bayesnn::ProcessGroup::join(bayesnn::rendezvous_from_environment(),
///                                          torch::kCPU, std::chrono::seconds(300));
/// auto loss = torch::ones({1});
/// group.all_reduce_sum(loss, "the loss");  // world_size() on every rank
/// ```
class ProcessGroup {
 public:
  /// Joins the job `rendezvous` describes: rank 0 serves the store at master_addr:master_port
  /// (under torchrun's agent store, every rank connects to the agent's); waits at most `timeout`
  /// for the other ranks, and for each collective. `device` picks the backend.
  static ProcessGroup join(const Rendezvous& rendezvous, const at::Device& device,
                           std::chrono::milliseconds timeout);
  /// A group over a file store at `path` that every rank of one machine opens (tests, and jobs
  /// without a network); the file must not hold an earlier job's keys.
  static ProcessGroup over_file(const std::string& path, int64_t rank, int64_t world_size,
                                const at::Device& device, std::chrono::milliseconds timeout);

  int64_t rank() const;         ///< this process's rank, in [0, world_size())
  int64_t world_size() const;   ///< the number of processes in the group
  std::string backend() const;  ///< "gloo" or "nccl"

  /// Sums `tensor` over the group, in place (a contiguous tensor on the group's device);
  /// `what` names it in an error.
  void all_reduce_sum(at::Tensor& tensor, const std::string& what) const;
  /// Overwrites `tensor` with rank `root`'s, in place.
  void broadcast(at::Tensor& tensor, int64_t root, const std::string& what) const;
  /// True on every rank where `flag` is true on any: how ranks agree to stop together.
  bool any(bool flag, const std::string& what) const;

 private:
  struct State;
  explicit ProcessGroup(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace bayesnn
