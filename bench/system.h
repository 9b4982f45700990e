// What the benchmark records about the machine: CPU, load, resident memory, BLAS.
#pragma once

#include <cstdint>
#include <string>

namespace bench {

/// The CPU's model name from /proc/cpuinfo ("unknown" elsewhere).
std::string cpu_model();

/// The number of online CPUs.
int cpu_count();

/// The 1-minute load average (contention from other processes skews timings).
double load_average();

/// VmRSS or VmHWM (peak) of this process from /proc/self/status, in KiB (-1 if unreadable).
int64_t resident_kib();
int64_t peak_resident_kib();

/// Resets this process's VmHWM to its current RSS (Linux >= 4.0); false if not possible.
bool reset_peak_resident();

/// The BLAS the process uses: OpenBLAS's configuration string and core where it is OpenBLAS
/// (found with dlsym), and the path of the loaded BLAS library from /proc/self/maps.
struct BlasInfo {
  std::string library;  ///< path of the loaded libblas/libopenblas, or "unknown"
  std::string config;   ///< openblas_get_config(), or "" when not OpenBLAS
  std::string core;     ///< openblas_get_corename(), or ""
  int threads = -1;     ///< openblas_get_num_threads(), or -1
};
BlasInfo blas_info();

/// Sets OpenBLAS's thread count at run time; false when the BLAS is not OpenBLAS.
bool set_blas_threads(int threads);

}  // namespace bench
