#include "support/catch.h"

#include <map>
#include <stdexcept>
#include <string>

#include "bayesnn/rendezvous.h"

using Catch::Contains;

namespace {
// An environment of exactly these variables.
bayesnn::EnvironmentLookup environment(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const std::string& name) {
    const auto found = variables.find(name);
    return found == variables.end() ? std::nullopt : std::optional<std::string>(found->second);
  };
}
}  // namespace

TEST_CASE("rendezvous: a process with no launcher is a job of one", "[rendezvous]") {
  const auto r = bayesnn::rendezvous_from_environment(environment({}));
  CHECK(r.launcher == "none");
  CHECK(r.rank == 0);
  CHECK(r.world_size == 1);
  CHECK(r.local_rank == 0);
  CHECK(r.master_addr == "127.0.0.1");
  CHECK(r.master_port == 29500);
  CHECK_FALSE(r.agent_store);
}

TEST_CASE("rendezvous: torchrun's variables, its agent store and restart count", "[rendezvous]") {
  const auto r = bayesnn::rendezvous_from_environment(environment({
      {"TORCHELASTIC_RUN_ID", "none"},
      {"RANK", "3"},
      {"WORLD_SIZE", "4"},
      {"LOCAL_RANK", "1"},
      {"LOCAL_WORLD_SIZE", "2"},
      {"MASTER_ADDR", "node7"},
      {"MASTER_PORT", "29400"},
      {"TORCHELASTIC_USE_AGENT_STORE", "True"},
      {"TORCHELASTIC_RESTART_COUNT", "2"},
  }));
  CHECK(r.launcher == "torchrun");
  CHECK(r.rank == 3);
  CHECK(r.world_size == 4);
  CHECK(r.local_rank == 1);
  CHECK(r.master_addr == "node7");
  CHECK(r.master_port == 29400);
  CHECK(r.agent_store);
  CHECK(r.restart_count == 2);
}

TEST_CASE("rendezvous: Open MPI's and Slurm's variables as fallbacks", "[rendezvous]") {
  SECTION("mpirun on one machine: the loopback address") {
    const auto r = bayesnn::rendezvous_from_environment(environment({
        {"OMPI_COMM_WORLD_RANK", "1"},
        {"OMPI_COMM_WORLD_SIZE", "2"},
        {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
        {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
    }));
    CHECK(r.launcher == "mpirun");
    CHECK(r.rank == 1);
    CHECK(r.world_size == 2);
    CHECK(r.local_rank == 1);
    CHECK(r.master_addr == "127.0.0.1");
  }
  SECTION("srun: the node it was launched from") {
    const auto r = bayesnn::rendezvous_from_environment(environment({
        {"SLURM_PROCID", "5"},
        {"SLURM_NTASKS", "8"},
        {"SLURM_LOCALID", "1"},
        {"SLURM_LAUNCH_NODE_IPADDR", "10.0.0.4"},
    }));
    CHECK(r.launcher == "srun");
    CHECK(r.rank == 5);
    CHECK(r.world_size == 8);
    CHECK(r.master_addr == "10.0.0.4");
  }
  SECTION("torchrun's variables win over the others") {
    const auto r = bayesnn::rendezvous_from_environment(environment({
        {"RANK", "0"},
        {"WORLD_SIZE", "1"},
        {"SLURM_PROCID", "5"},
        {"SLURM_NTASKS", "8"},
    }));
    CHECK(r.launcher == "environment");
    CHECK(r.world_size == 1);
  }
}

TEST_CASE("rendezvous: a malformed variable is named with its value", "[rendezvous]") {
  struct Case {
    std::map<std::string, std::string> variables;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"RANK", "one"}, {"WORLD_SIZE", "2"}}, "RANK='one': expected an integer"},
      {{{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "RANK=2: expected a rank in [0, 2)"},
      {{{"RANK", "-1"}, {"WORLD_SIZE", "2"}}, "RANK=-1: expected a rank in [0, 2)"},
      {{{"RANK", "0"}}, "RANK=0 is set but WORLD_SIZE is not"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "0"}}, "WORLD_SIZE=0: expected at least 1 process"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"LOCAL_RANK", "x"}},
       "LOCAL_RANK='x': expected an integer"},
      {{{"MASTER_PORT", "70000"}}, "MASTER_PORT=70000: expected a port in [1, 65535]"},
      {{{"MASTER_PORT", "29500x"}}, "MASTER_PORT='29500x': expected an integer"},
      {{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}},
       "MASTER_ADDR is not set: a job of 4 processes over several machines (launched by srun)"},
  };
  for (const auto& c : cases) {
    INFO(c.message);
    REQUIRE_THROWS_WITH(bayesnn::rendezvous_from_environment(environment(c.variables)),
                        Contains(c.message));
  }
}
