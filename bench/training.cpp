// Training steps: every Bayesian variant against the deterministic network of the same shape,
// interleaved in rounds, with the FLOPs of each step against the GEMM peak.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bench.h"
#include "networks.h"
#include "runner.h"
#include "timing.h"

namespace bench {
namespace {
using nlohmann::json;

// The shortest of `reps` runs of `run` on `device`, as `work` units per second (10^9 of them).
template <typename Run>
double best_rate(const torch::Device& device, int reps, double work, Run run) {
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    synchronize(device);
    const auto start = Clock::now();
    run();
    synchronize(device);
    best = std::max(best, work / seconds_since(start) / 1e9);
  }
  return best;
}

// The best of `reps` n x n float32 GEMMs, in GFLOP/s.
double peak_gflops(const torch::Device& device, int reps) {
  const int64_t n = device.is_cuda() ? 8192 : 2048;
  torch::NoGradGuard no_grad;
  const auto options = torch::TensorOptions().device(device);
  const auto a = torch::rand({n, n}, options), b = torch::rand({n, n}, options);
  auto c = torch::mm(a, b);
  return best_rate(device, reps, 2.0 * std::pow(static_cast<double>(n), 3),
                   [&] { torch::mm_out(c, a, b); });
}

// The best of `reps` passes of c = a + b over 64 MiB float32 tensors, in GB/s (12 bytes an
// element).
double bandwidth_gbs(const torch::Device& device, int reps) {
  const int64_t n = int64_t{1} << 24;
  torch::NoGradGuard no_grad;
  const auto options = torch::TensorOptions().device(device);
  const auto a = torch::rand({n}, options), b = torch::rand({n}, options);
  auto c = a + b;
  return best_rate(device, reps, 12.0 * static_cast<double>(n), [&] { torch::add_out(c, a, b); });
}

// A runner per variant of `arch`, deterministic first, each epoch about `seconds` long.
std::vector<Runner> calibrated_runners(Arch arch, int64_t batch, const torch::Device& device,
                                       double seconds) {
  std::vector<Runner> runners;
  for (const auto& variant : variants_of(arch)) {
    runners.emplace_back(variant, batch, device);
    runners.back().calibrate(seconds);
  }
  return runners;
}

// Milliseconds per step of each runner in each round; a round runs one epoch of each in turn.
std::vector<std::vector<double>> interleaved_ms(std::vector<Runner>& runners, int rounds) {
  std::vector<std::vector<double>> ms(runners.size());
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < runners.size(); ++i) ms[i].push_back(runners[i].ms_per_step());
  }
  return ms;
}

// The median over rounds of the ratio to the deterministic epoch of the same round: load from
// other processes cancels to first order.
double median_ratio(const std::vector<double>& ms, const std::vector<double>& det_ms) {
  std::vector<double> ratios;
  for (size_t round = 0; round < ms.size(); ++round) ratios.push_back(ms[round] / det_ms[round]);
  return median(ratios);
}

json training_row(const Runner& runner, const std::vector<double>& ms, double ratio,
                  const torch::Device& device, double peak, double bandwidth) {
  const auto batch = static_cast<double>(runner.batch());
  const double ms_per_step = median(ms);
  const double flops = train_flops_per_example(runner.variant()) * batch;
  const double gflops = flops / (ms_per_step * 1e-3) / 1e9;
  const double bytes = parameter_bytes_per_step(runner.variant());
  const double floor_ms = (flops / (peak * 1e9) + bytes / (bandwidth * 1e9)) * 1e3;
  json row = {{"name", fmt::format("{}/b{}", runner.variant().name(), runner.batch())},
              {"device", device.str()},
              {"batch", runner.batch()},
              {"ms_per_step", ms_per_step},
              {"images_per_second", batch / (ms_per_step * 1e-3)},
              {"ratio_to_deterministic", ratio},
              {"gflops", gflops},
              {"fraction_of_peak", gflops / peak},
              {"flops_per_step", flops},
              {"parameter_bytes_per_step", bytes},
              {"floor_ms", floor_ms},
              {"fraction_of_floor", floor_ms / ms_per_step},
              {"steps_per_round", runner.steps()},
              {"rounds", ms.size()},
              {"ms_per_step_min", *std::min_element(ms.begin(), ms.end())},
              {"ms_per_step_max", *std::max_element(ms.begin(), ms.end())}};
  log_line(fmt::format(
      "{:<34} {:8.2f} ms/step  ratio {:5.2f}  {:6.1f} GFLOP/s ({:4.1f}% of peak)  floor {:.2f} ms "
      "({:.0f}%)",
      row["name"].get<std::string>() + " " + device.str(), ms_per_step, ratio, gflops,
      100 * gflops / peak, floor_ms, 100 * floor_ms / ms_per_step));
  return row;
}

// The rows of every variant of `arch` at `batch`, measured interleaved.
json training_group(Arch arch, int64_t batch, const torch::Device& device, const Settings& settings,
                    double peak, double bandwidth) {
  auto runners = calibrated_runners(arch, batch, device, settings.chunk_seconds);
  const auto ms = interleaved_ms(runners, settings.rounds);
  json rows = json::array();
  for (size_t i = 0; i < runners.size(); ++i) {
    rows.push_back(
        training_row(runners[i], ms[i], median_ratio(ms[i], ms[0]), device, peak, bandwidth));
  }
  return rows;
}
}  // namespace

Peaks measure_peaks(const std::vector<torch::Device>& devices, const Settings& settings) {
  Peaks peaks;
  for (const auto& device : devices) {
    peaks[device.str()] = peak_gflops(device, settings.quick ? 4 : 8);
    log_line(fmt::format("peak GEMM on {}: {:.1f} GFLOP/s", device.str(), peaks[device.str()]));
  }
  return peaks;
}

Bandwidths measure_bandwidths(const std::vector<torch::Device>& devices, const Settings& settings) {
  Bandwidths bandwidths;
  for (const auto& device : devices) {
    bandwidths[device.str()] = bandwidth_gbs(device, settings.quick ? 4 : 8);
    log_line(
        fmt::format("memory bandwidth on {}: {:.1f} GB/s", device.str(), bandwidths[device.str()]));
  }
  return bandwidths;
}

json training_rows(const std::vector<torch::Device>& devices, const Peaks& peaks,
                   const Bandwidths& bandwidths, const Settings& settings) {
  const std::vector<int64_t> batches =
      settings.quick ? std::vector<int64_t>{128} : std::vector<int64_t>{128, 512};
  json rows = json::array();
  for (const auto& device : devices) {
    const auto name = device.str();
    for (auto arch : {Arch::kMlp, Arch::kCnn}) {
      for (auto batch : batches) {
        for (auto& row :
             training_group(arch, batch, device, settings, peaks.at(name), bandwidths.at(name)))
          rows.push_back(row);
      }
    }
  }
  return rows;
}

}  // namespace bench
