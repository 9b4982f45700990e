#include "bayesnn/memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace bayesnn {

bool reuse_freed_memory() {
#if defined(__GLIBC__)
  // glibc's upper limit of the mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX).
  constexpr int kMaxMmapThreshold = 32 * 1024 * 1024;
  const bool threshold = mallopt(M_MMAP_THRESHOLD, kMaxMmapThreshold) == 1;
  // -1 disables trimming altogether.
  const bool trim = mallopt(M_TRIM_THRESHOLD, -1) == 1;
  return threshold && trim;
#else
  return false;
#endif
}

}  // namespace bayesnn
