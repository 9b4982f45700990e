// The one place bayesnn meets the differences of c10d between LibTorch 1.13 and 2.x.
#pragma once

#include <torch/version.h>

#include <torch/csrc/distributed/c10d/Types.hpp>
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

namespace bayesnn::c10d_compat {

// What ProcessGroupGloo and ProcessGroupNCCL derive from: since 2.0 a Backend, behind a
// dispatching ProcessGroup front end; before, the ProcessGroup itself. Both have the same
// collectives (allreduce, broadcast) and Work::wait(timeout).
#if TORCH_VERSION_MAJOR >= 2
using Backend = ::c10d::Backend;
#else
using Backend = ::c10d::ProcessGroup;
#endif

}  // namespace bayesnn::c10d_compat
