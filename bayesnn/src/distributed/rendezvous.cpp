#include "bayesnn/rendezvous.h"

#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

namespace bayesnn {
namespace {

// The integer the variable `name` holds, or nullopt where it is unset; throws naming it where it
// holds something else.
std::optional<int64_t> integer_variable(const EnvironmentLookup& lookup, const std::string& name) {
  const auto value = lookup(name);
  if (!value) return std::nullopt;
  size_t used = 0;
  int64_t number = 0;
  try {
    number = std::stoll(*value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value->size()) {
    throw std::invalid_argument(
        fmt::format("{}='{}': expected an integer (set by the launcher)", name, *value));
  }
  return number;
}

// One launcher's three variables, or nullopt where its rank variable is unset.
struct Names {
  const char* launcher;
  const char* rank;
  const char* world_size;
  const char* local_rank;
};

bool read_ranks(const EnvironmentLookup& lookup, const Names& names, Rendezvous& rendezvous) {
  const auto rank = integer_variable(lookup, names.rank);
  if (!rank) return false;
  const auto world_size = integer_variable(lookup, names.world_size);
  if (!world_size) {
    throw std::invalid_argument(fmt::format("{}={} is set but {} is not: expected both", names.rank,
                                            *rank, names.world_size));
  }
  if (*world_size < 1) {
    throw std::invalid_argument(
        fmt::format("{}={}: expected at least 1 process", names.world_size, *world_size));
  }
  if (*rank < 0 || *rank >= *world_size) {
    throw std::invalid_argument(fmt::format("{}={}: expected a rank in [0, {}) ({}={})", names.rank,
                                            *rank, *world_size, names.world_size, *world_size));
  }
  const auto local_rank = integer_variable(lookup, names.local_rank).value_or(0);
  if (local_rank < 0) {
    throw std::invalid_argument(
        fmt::format("{}={}: expected a non-negative rank", names.local_rank, local_rank));
  }
  rendezvous.launcher = names.launcher;
  rendezvous.rank = *rank;
  rendezvous.world_size = *world_size;
  rendezvous.local_rank = local_rank;
  return true;
}

}  // namespace

std::optional<std::string> process_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value == nullptr ? std::nullopt : std::optional<std::string>(value);
}

Rendezvous rendezvous_from_environment(const EnvironmentLookup& lookup) {
  Rendezvous rendezvous;
  const bool torchrun = lookup("TORCHELASTIC_RUN_ID").has_value();
  const Names launchers[] = {
      {torchrun ? "torchrun" : "environment", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
      {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
      {"srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
  };
  for (const auto& names : launchers) {
    if (read_ranks(lookup, names, rendezvous)) break;
  }

  if (const auto port = integer_variable(lookup, "MASTER_PORT")) {
    if (*port < 1 || *port > 65535) {
      throw std::invalid_argument(
          fmt::format("MASTER_PORT={}: expected a port in [1, 65535]", *port));
    }
    rendezvous.master_port = static_cast<int>(*port);
  }
  if (const auto addr = lookup("MASTER_ADDR"); addr && !addr->empty()) {
    rendezvous.master_addr = *addr;
  } else if (rendezvous.launcher == "srun" && lookup("SLURM_LAUNCH_NODE_IPADDR")) {
    rendezvous.master_addr = *lookup("SLURM_LAUNCH_NODE_IPADDR");
  } else if (rendezvous.world_size > 1) {
    // One machine: every rank is local.
    const auto local_size =
        integer_variable(lookup, "LOCAL_WORLD_SIZE")
            .value_or(integer_variable(lookup, "OMPI_COMM_WORLD_LOCAL_SIZE").value_or(-1));
    if (local_size != rendezvous.world_size) {
      throw std::invalid_argument(fmt::format(
          "MASTER_ADDR is not set: a job of {} processes over several machines (launched by {}) "
          "needs the host of rank 0's store",
          rendezvous.world_size, rendezvous.launcher));
    }
  }

  if (const auto agent = lookup("TORCHELASTIC_USE_AGENT_STORE")) {
    rendezvous.agent_store = *agent == "True" || *agent == "true" || *agent == "1";
  }
  rendezvous.restart_count = integer_variable(lookup, "TORCHELASTIC_RESTART_COUNT").value_or(0);
  return rendezvous;
}

}  // namespace bayesnn
