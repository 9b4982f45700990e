// Timing helpers of the benchmark: a clock, the median, a timed call, and a log line.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <torch/types.h>

namespace bench {

using Clock = std::chrono::steady_clock;

/// Seconds from `start` to now.
double seconds_since(Clock::time_point start);

/// Waits for the device's queued work (CUDA); nothing on the CPU.
void synchronize(const torch::Device& device);

/// The median of `values` (the mean of the middle two for an even count).
double median(std::vector<double> values);

/// Writes "[bench] text" to stderr.
void log_line(const std::string& text);

/// Milliseconds of `f`, the median of `reps` calls after one warm-up call.
template <typename F>
double time_ms(F&& f, int reps) {
  f();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    f();
    ms.push_back(1e3 * seconds_since(start));
  }
  return median(ms);
}

}  // namespace bench
