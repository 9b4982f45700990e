// bayesnn_bench: training-step, predictive and memory benchmarks of Bayesian networks as
// ratios to the deterministic network of the same shape, measured interleaved in one process.
//
//   bayesnn_bench [--quick] [--out FILE.json] [--markdown FILE.md] [--threads N]
//                 [--blas-threads N] [--device cpu|cuda|all]
//
// Writes JSON (the row fields `name`, `device`, `batch`, `ms_per_step`, `images_per_second`,
// `ratio_to_deterministic`, `gflops`, `fraction_of_peak`; top-level `peak_gflops`, `threads`,
// `blas` are read by other programs) and a markdown table, and prints the table.
#include <cstdio>
#include <exception>
#include <vector>

#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bayesnn/blas_threads.h"
#include "bayesnn/memory.h"
#include "bench.h"
#include "system.h"
#include "timing.h"

namespace {
using nlohmann::json;

constexpr uint64_t kSeed = 0;

void add_options(CLI::App& app, bench::Settings& settings) {
  app.add_flag("--quick", settings.quick, "CPU batch-128 training, hot-path and memory rows only");
  app.add_option("--out", settings.out, "JSON output file")->capture_default_str();
  app.add_option("--markdown", settings.markdown, "markdown table file (default: --out with .md)");
  app.add_option("--threads", settings.threads, "LibTorch intra-op threads (default: measured)");
  app.add_option("--blas-threads", settings.blas_threads, "OpenBLAS threads (default: measured)");
  app.add_option("--device", settings.device, "cpu, cuda or all")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  app.add_option("--rounds", settings.rounds, "interleaved rounds per training group")
      ->check(CLI::PositiveNumber);
  app.add_option("--chunk-seconds", settings.chunk_seconds, "seconds per network per round")
      ->check(CLI::PositiveNumber);
  app.add_flag_callback(
      "--no-predictive", [&] { settings.predictive = false; }, "skip the MC predictive rows");
  app.add_flag_callback(
      "--no-memory", [&] { settings.memory = false; }, "skip the memory rows");
  app.add_flag_callback(
      "--no-micro", [&] { settings.micro = false; }, "skip the timings of the hot paths");
  app.add_flag_callback(
      "--no-training", [&] { settings.training = false; }, "skip the training-step rows");
  app.add_option("--memory-child", settings.memory_child)->group("");
  app.add_option("--batch", settings.batch)->group("");
  app.add_option("--predict-batch", settings.predict_batch, "inputs per forward of the predictive")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--memory-steps", settings.memory_steps, "steps of the memory epoch")
      ->check(CLI::PositiveNumber);
}

// --quick: shorter training chunks and fewer rounds, no predictive rows.
void apply_quick(bench::Settings& settings) {
  settings.chunk_seconds = 0.2;
  settings.rounds = 5;
  settings.predictive = false;
}

std::vector<torch::Device> devices_of(const bench::Settings& settings) {
  std::vector<torch::Device> devices;
  if (settings.device != "cuda") devices.emplace_back(torch::kCPU);
  if (settings.device != "cpu" && !settings.quick && torch::cuda::is_available())
    devices.emplace_back(torch::kCUDA);
  TORCH_CHECK(!devices.empty(), "bench: no device to run on (--device ", settings.device, ")");
  return devices;
}

int run(const bench::Settings& settings) {
  const auto start = bench::Clock::now();
  json report = bench::start_report(settings);
  const auto threads = bench::set_threads(settings, report);
  const auto devices = devices_of(settings);
  const auto peaks = bench::measure_peaks(devices, settings);
  report["peak_gflops"] = peaks.begin()->second;
  report["peak_gflops_by_device"] = peaks;
  const auto bandwidths = bench::measure_bandwidths(devices, settings);
  report["bandwidth_gbs_by_device"] = bandwidths;
  const auto none = json::array();
  report["micro"] = settings.micro ? bench::micro_rows(settings) : none;
  report["rows"] =
      settings.training ? bench::training_rows(devices, peaks, bandwidths, settings) : none;
  report["memory"] = settings.memory ? bench::memory_rows(settings, threads) : none;
  report["predictive"] =
      settings.predictive ? bench::predictive_rows(devices, peaks, settings) : none;
  report["machine"]["load_average_end"] = bench::load_average();
  report["seconds"] = bench::seconds_since(start);
  bench::write_report(report, settings);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  bayesnn::wait_passively(argv);  // first: OpenMP reads OMP_WAIT_POLICY as it loads
  bench::Settings settings;
  CLI::App app{
      "bayesnn benchmarks: Bayesian vs deterministic training steps, MC predictive "
      "and memory, as ratios measured in one run"};
  add_options(app, settings);
  CLI11_PARSE(app, argc, argv);
  if (settings.quick) apply_quick(settings);
  // Freed tensors' memory stays in the process for the next step, as in training programs.
  bayesnn::reuse_freed_memory();
  torch::manual_seed(kSeed);
  try {
    return settings.memory_child.empty() ? run(settings) : bench::memory_child(settings);
  } catch (const c10::Error& error) {
    std::fprintf(stderr, "bayesnn_bench: %s\n", error.what_without_backtrace());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bayesnn_bench: %s\n", error.what());
    return 1;
  }
}
