// The benchmark's settings and its sections, one file each: training steps, MC predictive,
// memory, thread counts, hot paths, and the report.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>
#include <nlohmann/json.hpp>

namespace bench {

/// The command line of bayesnn_bench.
struct Settings {
  bool quick = false;
  std::string out = "bench.json";
  std::string markdown;   ///< "": `out` with .md for .json
  int threads = -1;       ///< LibTorch intra-op threads; -1: measured
  int blas_threads = -1;  ///< OpenBLAS threads; -1: measured
  std::string device = "all";
  double chunk_seconds = 0.4;  ///< wall time of one interleaved epoch of one network
  int rounds = 7;              ///< interleaved rounds per training group
  bool predictive = true;
  bool memory = true;
  bool micro = true;
  bool training = true;
  std::string memory_child;  ///< set: this process is the memory child of that variant
  int64_t batch = 128;       ///< the memory child's batch
  int64_t memory_steps = 20;
  int64_t predict_batch = 1000;  ///< inputs per forward of the MC predictive
};

/// The thread counts the run uses.
struct Threads {
  int torch = 1;  ///< LibTorch intra-op threads
  int blas = 1;   ///< OpenBLAS threads (-1 when the BLAS is not OpenBLAS)
};

/// GFLOP/s of float32 GEMM through LibTorch, by device name ("cpu", "cuda").
using Peaks = std::map<std::string, double>;

/// GB/s of a large float32 a + b through LibTorch (read two tensors, write one), by device name.
using Bandwidths = std::map<std::string, double>;

// threads.cpp
/// Sets the thread counts of the command line, or the fastest of a sweep over LibTorch x
/// OpenBLAS threads; records them, the sweep and the BLAS in `report`.
Threads set_threads(const Settings& settings, nlohmann::json& report);

// training.cpp
/// The best of a few large float32 GEMMs on each device.
Peaks measure_peaks(const std::vector<torch::Device>& devices, const Settings& settings);
/// The best of a few passes over tensors far larger than the caches on each device.
Bandwidths measure_bandwidths(const std::vector<torch::Device>& devices, const Settings& settings);
/// Training-step rows of every variant of both networks on each device and batch, each with its
/// floor: its GEMM FLOPs at `peaks` plus its parameter traffic at `bandwidths`.
nlohmann::json training_rows(const std::vector<torch::Device>& devices, const Peaks& peaks,
                             const Bandwidths& bandwidths, const Settings& settings);

// predictive.cpp
/// MC predictive rows of both networks on each device.
nlohmann::json predictive_rows(const std::vector<torch::Device>& devices, const Peaks& peaks,
                               const Settings& settings);

// memory.cpp
/// Peak-RSS rows of one training epoch of every variant of both networks, each in a child.
nlohmann::json memory_rows(const Settings& settings, Threads threads);
/// The child: trains one epoch of `settings.memory_child` and prints its memory as JSON.
int memory_child(const Settings& settings);

// micro.cpp
/// Milliseconds of the library's hot paths on the MLP's largest tensor.
nlohmann::json micro_rows(const Settings& settings);

// report.cpp
/// The machine and the LibTorch version, at the start of the run.
nlohmann::json start_report(const Settings& settings);
/// Writes the JSON and the markdown table of `report`, and prints the table.
void write_report(const nlohmann::json& report, const Settings& settings);

}  // namespace bench
