// Memory: the peak resident memory of one training epoch of each variant, each in a child
// process (this program with --memory-child) so that one variant's peak cannot hide another's.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bayesnn/trainer.h"
#include "bench.h"
#include "networks.h"
#include "runner.h"
#include "system.h"
#include "timing.h"

namespace bench {
namespace {
using nlohmann::json;

std::string own_executable() {
  char path[4096];
  const ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  TORCH_CHECK(length > 0, "bench: cannot find its own executable");
  return std::string(path, static_cast<size_t>(length));
}

// Runs the child of `variant` and returns the JSON it prints.
json run_memory_child(const std::string& variant, const Settings& settings, Threads threads) {
  const std::string command = fmt::format(
      "OPENBLAS_NUM_THREADS={} '{}' --memory-child '{}' --batch {} --memory-steps {} "
      "--threads {} --blas-threads {}",
      threads.blas, own_executable(), variant, settings.batch, settings.memory_steps, threads.torch,
      threads.blas);
  FILE* pipe = popen(command.c_str(), "r");
  TORCH_CHECK(pipe != nullptr, "bench: cannot run '", command, "'");
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = pclose(pipe);
  TORCH_CHECK(status == 0, "bench: the memory child for ", variant, " failed: ", output);
  return json::parse(output);
}

// The rows of every variant of `arch`; the deterministic network comes first and is the
// reference of the ratios.
json memory_group(Arch arch, const Settings& settings, Threads threads) {
  json rows = json::array();
  double det_training = 0, det_peak = 0;
  for (const auto& variant : variants_of(arch)) {
    const auto child = run_memory_child(variant.name(), settings, threads);
    const double peak = child["peak_rss_kib"].get<double>() / 1024;
    const double training = peak - child["rss_before_kib"].get<double>() / 1024;
    if (!variant.bayesian()) {
      det_training = training;
      det_peak = peak;
    }
    json row = {{"name", fmt::format("{}/b{}", variant.name(), settings.batch)},
                {"device", "cpu"},
                {"batch", settings.batch},
                {"steps", settings.memory_steps},
                {"peak_rss_mib", peak},
                {"training_rss_mib", training},
                {"ratio_to_deterministic", training / det_training},
                {"peak_ratio_to_deterministic", peak / det_peak}};
    log_line(fmt::format("{:<34} peak RSS {:7.1f} MiB, training adds {:6.1f} MiB (x{:.2f})",
                         row["name"].get<std::string>(), peak, training, training / det_training));
    rows.push_back(row);
  }
  return rows;
}
}  // namespace

json memory_rows(const Settings& settings, Threads threads) {
  json rows = json::array();
  for (auto arch : {Arch::kMlp, Arch::kCnn}) {
    for (auto& row : memory_group(arch, settings, threads)) rows.push_back(row);
  }
  return rows;
}

// Prints {"rss_before_kib", "peak_rss_kib", "peak_reset"}: what is resident before training
// (the libraries, the data and the freshly built network), and the peak of the epoch.
int memory_child(const Settings& settings) {
  if (settings.threads > 0) torch::set_num_threads(settings.threads);
  if (settings.blas_threads > 0) set_blas_threads(settings.blas_threads);
  const auto data = synthetic_data(settings.batch * settings.memory_steps, torch::kCPU);
  bayesnn::Trainer trainer(make_network(parse_variant(settings.memory_child)),
                           bayesnn::TrainerOptions().batch_size(settings.batch).progress(false));
  const int64_t before = resident_kib();
  const bool reset = reset_peak_resident();
  trainer.train_epoch(data);
  std::cout << json{{"rss_before_kib", before},
                    {"peak_rss_kib", peak_resident_kib()},
                    {"peak_reset", reset}}
                   .dump()
            << std::endl;
  return 0;
}

}  // namespace bench
