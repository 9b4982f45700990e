#include "bayesnn/blas_threads.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace bayesnn {
namespace {
template <typename Function>
Function openblas_function(const char* name) {
  return reinterpret_cast<Function>(dlsym(RTLD_DEFAULT, name));
}
}  // namespace

std::optional<int> openblas_threads() {
  const auto get = openblas_function<int (*)()>("openblas_get_num_threads");
  if (get == nullptr) return std::nullopt;
  return get();
}

bool set_openblas_threads(int threads) {
  const auto set = openblas_function<void (*)(int)>("openblas_set_num_threads");
  if (set == nullptr) return false;
  set(threads);
  return true;
}

int cores() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

void wait_passively(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || argv == nullptr || argv[0] == nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0) != 0) return;
  execvp(argv[0], argv);  // returns only where it failed: run on as we are
}

}  // namespace bayesnn
