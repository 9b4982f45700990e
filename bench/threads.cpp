// The thread counts: LibTorch intra-op x OpenBLAS threads, given or measured.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bench.h"
#include "networks.h"
#include "runner.h"
#include "system.h"
#include "timing.h"

namespace bench {
namespace {
using nlohmann::json;

// One and all CPUs for each of the two pools.
std::vector<Threads> thread_combos() {
  const int cpus = cpu_count();
  if (cpus == 1) return {{1, 1}};
  return {{1, 1}, {1, cpus}, {cpus, 1}, {cpus, cpus}};
}

// The deterministic MLP and CNN and the local-reparameterization MLP at batch 128, warmed up.
std::vector<Runner> sweep_runners(const Settings& settings) {
  const torch::Device cpu(torch::kCPU);
  std::vector<Runner> runners;
  for (const char* name : {"mlp/det", "mlp/local/fixed", "cnn/det"}) {
    runners.emplace_back(parse_variant(name), 128, cpu);
    runners.back().resize_epoch(settings.quick ? 3 : 6);
    runners.back().ms_per_step();
  }
  return runners;
}

// The best ms/step of each runner under each combination over two passes.
std::vector<std::vector<double>> sweep_ms(std::vector<Runner>& runners,
                                          const std::vector<Threads>& combos) {
  std::vector<std::vector<double>> best(combos.size(), std::vector<double>(runners.size(), 1e300));
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t c = 0; c < combos.size(); ++c) {
      torch::set_num_threads(combos[c].torch);
      set_blas_threads(combos[c].blas);
      for (size_t i = 0; i < runners.size(); ++i) {
        runners[i].ms_per_step();  // the first epoch after a change warms the new pools
        best[c][i] = std::min(best[c][i], runners[i].ms_per_step());
      }
    }
  }
  return best;
}

double geometric_mean(const std::vector<double>& values) {
  double log_sum = 0;
  for (double value : values) log_sum += std::log(value);
  return std::exp(log_sum / static_cast<double>(values.size()));
}

json sweep_entry(Threads combo, const std::vector<Runner>& runners, const std::vector<double>& ms) {
  json entry = {{"torch_threads", combo.torch},
                {"blas_threads", combo.blas},
                {"geomean_ms", geometric_mean(ms)}};
  std::string line = fmt::format("threads torch={} blas={}:", combo.torch, combo.blas);
  for (size_t i = 0; i < runners.size(); ++i) {
    entry["ms_per_step"][runners[i].variant().name() + "/b128"] = ms[i];
    line += fmt::format(" {} {:.2f} ms", runners[i].variant().name(), ms[i]);
  }
  log_line(line);
  return entry;
}

// Times the sweep's networks under each combination; the fastest has the least geometric mean.
json thread_sweep(const Settings& settings, Threads* fastest) {
  const auto combos = thread_combos();
  auto runners = sweep_runners(settings);
  const auto ms = sweep_ms(runners, combos);
  json sweep = json::array();
  double best = 1e300;
  for (size_t c = 0; c < combos.size(); ++c) {
    sweep.push_back(sweep_entry(combos[c], runners, ms[c]));
    if (geometric_mean(ms[c]) < best) {
      best = geometric_mean(ms[c]);
      *fastest = combos[c];
    }
  }
  return sweep;
}

// Records the threads in use and the BLAS; returns the threads with OpenBLAS's own count.
Threads record_threads(Threads threads, json& report) {
  const auto blas = blas_info();
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  report["threads"] = threads.torch;
  report["interop_threads"] = torch::get_num_interop_threads();
  report["omp_wait_policy"] = wait_policy != nullptr ? wait_policy : "(unset)";
  report["blas"] = {{"library", blas.library},
                    {"config", blas.config},
                    {"core", blas.core},
                    {"threads", blas.threads}};
  log_line(fmt::format("{} LibTorch thread(s), {} BLAS thread(s), {}", threads.torch, blas.threads,
                       blas.config));
  return {threads.torch, blas.threads};
}
}  // namespace

Threads set_threads(const Settings& settings, json& report) {
  Threads threads{settings.threads, settings.blas_threads};
  if (threads.torch > 0 || threads.blas > 0) {
    report["threads_chosen_by"] = "command line";
  } else {
    log_line("measuring LibTorch x OpenBLAS thread counts");
    report["thread_sweep"] = thread_sweep(settings, &threads);
    report["threads_chosen_by"] = "measurement (thread_sweep)";
  }
  if (threads.torch <= 0) threads.torch = torch::get_num_threads();
  torch::set_num_threads(threads.torch);
  if (threads.blas > 0) set_blas_threads(threads.blas);
  return record_threads(threads, report);
}

}  // namespace bench
