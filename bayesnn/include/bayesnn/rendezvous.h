#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace bayesnn {

/// Where this process sits in a data-parallel job, as its launcher told it through the
/// environment, and where the job's store listens.
struct Rendezvous {
  int64_t rank = 0;        ///< this process, in [0, world_size)
  int64_t world_size = 1;  ///< processes in the job
  int64_t local_rank = 0;  ///< this process among those on its machine (picks its GPU)
  std::string master_addr = "127.0.0.1";  ///< the host of rank 0's store
  int master_port = 29500;                ///< its port
  /// "torchrun", "mpirun" (Open MPI), "srun" (Slurm) or "environment" (RANK and WORLD_SIZE set
  /// by hand), "none" for a single process.
  std::string launcher = "none";
  /// torchrun's agent store (TORCHELASTIC_USE_AGENT_STORE=True): the store already runs, in the
  /// agent; every rank connects to it as a client under "/worker/attempt_<restart_count>".
  bool agent_store = false;
  int64_t restart_count = 0;  ///< TORCHELASTIC_RESTART_COUNT
};

/// Reads a variable of the environment: its value, or nullopt where it is not set.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string&)>;

/// The process's environment (`std::getenv`).
std::optional<std::string> process_environment(const std::string& name);

/// The rendezvous the environment describes, in this order: torchrun's (or a user's) RANK,
/// WORLD_SIZE and LOCAL_RANK; Open MPI's OMPI_COMM_WORLD_RANK, _SIZE and _LOCAL_RANK; Slurm's
/// SLURM_PROCID, SLURM_NTASKS and SLURM_LOCALID; else a single process. MASTER_ADDR and
/// MASTER_PORT name the store; where MASTER_ADDR is unset, a job on one machine uses the
/// loopback address and srun the node it was launched from (SLURM_LAUNCH_NODE_IPADDR).
///
/// A variable that is set but is not what it should be (not an integer, a rank outside
/// [0, world size), a port outside [1, 65535]), or a job over several machines with no
/// MASTER_ADDR, throws std::invalid_argument naming the variable and its value.
Rendezvous rendezvous_from_environment(const EnvironmentLookup& lookup = process_environment);

}  // namespace bayesnn
