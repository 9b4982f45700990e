#include "bayesnn/blas_threads.h"

#include <dlfcn.h>

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

}  // namespace bayesnn
