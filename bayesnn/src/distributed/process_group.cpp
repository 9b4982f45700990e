#include "bayesnn/process_group.h"

#include <cstdlib>
#include <exception>
#include <utility>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef BAYESNN_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef BAYESNN_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "error_text.h"
#include "torch_compat.h"

namespace bayesnn {
using detail::first_line;

struct ProcessGroup::State {
  int64_t rank = 0;
  int64_t world_size = 1;
  std::string backend_name;
  std::chrono::milliseconds timeout{0};
  c10::intrusive_ptr<::c10d::Store> store;
  c10::intrusive_ptr<torch_compat::Backend> backend;

  // Waits for `work`, turning a failure into one DistributedError naming the operation.
  void wait(const c10::intrusive_ptr<::c10d::Work>& work, const std::string& operation) const {
    try {
      work->wait(timeout);
    } catch (const std::exception& error) {
      throw DistributedError(fmt::format("{} failed on rank {} of {} ({}, timeout {} s): {}",
                                         operation, rank, world_size, backend_name,
                                         timeout.count() / 1000.0, first_line(error)));
    }
  }
};

bool has_gloo_backend() {
#ifdef BAYESNN_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

bool has_nccl_backend() {
#ifdef BAYESNN_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

namespace {

// The backend for `device`'s tensors over `store`; `local` binds Gloo to the loopback interface.
c10::intrusive_ptr<torch_compat::Backend> make_backend(
    const c10::intrusive_ptr<::c10d::Store>& store, int64_t rank, int64_t world_size,
    const at::Device& device, std::chrono::milliseconds timeout, bool local, std::string& name) {
  if (device.is_cuda()) {
#ifdef BAYESNN_HAVE_NCCL
    name = "nccl";
    auto options = ::c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    return c10::make_intrusive<::c10d::ProcessGroupNCCL>(store, static_cast<int>(rank),
                                                         static_cast<int>(world_size), options);
#else
    throw DistributedError(
        "ProcessGroup: CUDA tensors need c10d's NCCL backend, which this LibTorch was not built "
        "with; train on the CPU (Gloo) or use a LibTorch with NCCL");
#endif
  }
#ifdef BAYESNN_HAVE_GLOO
  name = "gloo";
  auto options = ::c10d::ProcessGroupGloo::Options::create(timeout);
  const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
  options->devices.push_back(
      local       ? ::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
      : interface ? ::c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                  : ::c10d::ProcessGroupGloo::createDefaultDevice());
  return c10::make_intrusive<::c10d::ProcessGroupGloo>(store, static_cast<int>(rank),
                                                       static_cast<int>(world_size), options);
#else
  throw DistributedError(
      "ProcessGroup: CPU tensors need c10d's Gloo backend, which this LibTorch was not built "
      "with");
#endif
}

void check_ranks(int64_t rank, int64_t world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    throw std::invalid_argument(
        fmt::format("ProcessGroup: rank {} of world size {}: expected 0 <= rank < world size", rank,
                    world_size));
  }
}

}  // namespace

ProcessGroup::ProcessGroup(std::shared_ptr<State> state) : state_(std::move(state)) {}

ProcessGroup ProcessGroup::join(const Rendezvous& rendezvous, const at::Device& device,
                                std::chrono::milliseconds timeout) {
  check_ranks(rendezvous.rank, rendezvous.world_size);
  auto state = std::make_shared<State>();
  state->rank = rendezvous.rank;
  state->world_size = rendezvous.world_size;
  state->timeout = timeout;
  ::c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(rendezvous.master_port);
  options.isServer = rendezvous.rank == 0 && !rendezvous.agent_store;
  options.numWorkers = static_cast<std::size_t>(rendezvous.world_size);
  options.waitWorkers = !rendezvous.agent_store;
  options.timeout = timeout;
  torch_compat::use_socket_store_transport(options);
  try {
    c10::intrusive_ptr<::c10d::Store> store =
        c10::make_intrusive<::c10d::TCPStore>(rendezvous.master_addr, options);
    if (rendezvous.agent_store) {
      store = c10::make_intrusive<::c10d::PrefixStore>(
          fmt::format("/worker/attempt_{}", rendezvous.restart_count), store);
    }
    state->store = store;
    const bool local =
        rendezvous.master_addr == "127.0.0.1" || rendezvous.master_addr == "localhost";
    state->backend = make_backend(store, rendezvous.rank, rendezvous.world_size, device, timeout,
                                  local, state->backend_name);
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& error) {
    throw DistributedError(fmt::format(
        "joining the job as rank {} of {} at {}:{} (launched by {}, timeout {} s): {}",
        rendezvous.rank, rendezvous.world_size, rendezvous.master_addr, rendezvous.master_port,
        rendezvous.launcher, timeout.count() / 1000.0, first_line(error)));
  }
  return ProcessGroup(std::move(state));
}

ProcessGroup ProcessGroup::over_file(const std::string& path, int64_t rank, int64_t world_size,
                                     const at::Device& device, std::chrono::milliseconds timeout) {
  check_ranks(rank, world_size);
  auto state = std::make_shared<State>();
  state->rank = rank;
  state->world_size = world_size;
  state->timeout = timeout;
  try {
    auto store = c10::make_intrusive<::c10d::FileStore>(path, static_cast<int>(world_size));
    store->setTimeout(timeout);
    state->store = store;
    state->backend =
        make_backend(store, rank, world_size, device, timeout, /*local=*/true, state->backend_name);
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& error) {
    throw DistributedError(
        fmt::format("joining the job as rank {} of {} over the file store {} "
                    "(timeout {} s): {}",
                    rank, world_size, path, timeout.count() / 1000.0, first_line(error)));
  }
  return ProcessGroup(std::move(state));
}

int64_t ProcessGroup::rank() const { return state_->rank; }

int64_t ProcessGroup::world_size() const { return state_->world_size; }

std::string ProcessGroup::backend() const { return state_->backend_name; }

void ProcessGroup::all_reduce_sum(at::Tensor& tensor, const std::string& what) const {
  // One tensor per call: c10d's tensor lists are one tensor's copies on several devices.
  std::vector<at::Tensor> tensors{tensor};
  ::c10d::AllreduceOptions options;
  options.reduceOp = ::c10d::ReduceOp::SUM;  // Gloo has no AVG: sum, and let the caller divide
  options.timeout = state_->timeout;
  state_->wait(state_->backend->allreduce(tensors, options), "all-reduce of " + what);
}

void ProcessGroup::broadcast(at::Tensor& tensor, int64_t root, const std::string& what) const {
  std::vector<at::Tensor> tensors{tensor};
  ::c10d::BroadcastOptions options;
  options.rootRank = root;
  options.timeout = state_->timeout;
  state_->wait(state_->backend->broadcast(tensors, options),
               fmt::format("broadcast of {} from rank {}", what, root));
}

bool ProcessGroup::any(bool flag, const std::string& what) const {
  auto votes = at::full({1}, flag ? 1.0 : 0.0, at::kFloat);
  if (state_->backend_name == "nccl") votes = votes.cuda();
  all_reduce_sum(votes, what);
  return votes.item<double>() > 0;
}

}  // namespace bayesnn
