// Data-parallel jobs inside one test process: each rank a thread, all over one file store.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "bayesnn/process_group.h"
#include "support/temp_dir.h"

namespace bayesnn::test {

/// Runs `body(group)` on `world` ranks, one thread each, over one file store; returns what each
/// rank threw (null where it returned). Catch's assertions are not thread-safe (Catch2 3 aborts
/// on two at once): with more than one rank, a body records what it saw and the test checks it
/// after this returns.
inline std::vector<std::exception_ptr> run_ranks_caught(
    int64_t world, const std::function<void(const ProcessGroup&)>& body,
    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  TempDir dir;
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int64_t rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        auto group = ProcessGroup::over_file(dir.file("store"), rank, world, torch::kCPU, timeout);
        body(group);
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return errors;
}

/// The same; rethrows the first failure of any rank.
inline void run_ranks(int64_t world, const std::function<void(const ProcessGroup&)>& body,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  for (const auto& error : run_ranks_caught(world, body, timeout)) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace bayesnn::test
