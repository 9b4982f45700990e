#include "system.h"

#include <dlfcn.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "bayesnn/blas_threads.h"

namespace bench {
namespace {
int64_t status_kib(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream fields(line.substr(key.size() + 1));
      int64_t kib = -1;
      fields >> kib;
      return kib;
    }
  }
  return -1;
}

template <typename Function>
Function openblas_symbol(const char* name) {
  return reinterpret_cast<Function>(dlsym(RTLD_DEFAULT, name));
}
}  // namespace

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

int cpu_count() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); }

double load_average() {
  std::ifstream loadavg("/proc/loadavg");
  double one_minute = -1;
  loadavg >> one_minute;
  return one_minute;
}

int64_t resident_kib() { return status_kib("VmRSS"); }

int64_t peak_resident_kib() { return status_kib("VmHWM"); }

bool reset_peak_resident() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  return clear_refs.good();
}

BlasInfo blas_info() {
  BlasInfo info;
  info.library = "unknown";
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const auto path = line.substr(slash);
    const auto base = path.substr(path.rfind('/') + 1);
    if (base.rfind("libblas", 0) == 0 || base.rfind("libopenblas", 0) == 0 ||
        base.rfind("libmkl", 0) == 0) {
      info.library = path;
      break;
    }
  }
  if (auto config = openblas_symbol<char* (*)()>("openblas_get_config")) info.config = config();
  if (auto core = openblas_symbol<char* (*)()>("openblas_get_corename")) info.core = core();
  info.threads = bayesnn::openblas_threads().value_or(-1);
  return info;
}

bool set_blas_threads(int threads) { return bayesnn::set_openblas_threads(threads); }

}  // namespace bench
