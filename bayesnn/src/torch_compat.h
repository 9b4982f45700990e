// The one place bayesnn meets the differences between the LibTorch versions it builds with:
// 1.13 (Debian 12) and 2.x (Debian 13's 2.6, pytorch.org's archives, pip's torch). Each entry
// says which versions need it and why.
#pragma once

#include <torch/version.h>

#include <torch/csrc/distributed/c10d/Types.hpp>
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

namespace bayesnn::torch_compat {

// What ProcessGroupGloo and ProcessGroupNCCL derive from: since 2.0 a Backend, behind a
// dispatching ProcessGroup front end; before, the ProcessGroup itself. Both have the same
// collectives (allreduce, broadcast) and Work::wait(timeout).
#if TORCH_VERSION_MAJOR >= 2
using Backend = ::c10d::Backend;
#else
using Backend = ::c10d::ProcessGroup;
#endif

// The TCP store's transport: since 2.4 `TCPStoreOptions::useLibUV` defaults to true (the field
// came in 2.2, off by default), and a LibTorch built without libuv (Debian 13's 2.6) then refuses
// to make a store ("use_libuv was requested but PyTorch was build without libuv support"). The
// socket transport that every version has serves a few ranks as well; the field is set where it
// exists (detected, so no version number has to be guessed).
template <typename Options>
auto use_socket_store_transport(Options& options, int)
    -> decltype(options.useLibUV = false, void()) {
  options.useLibUV = false;
}
template <typename Options>
void use_socket_store_transport(Options& /*options*/, long) {}  // before 2.2: sockets only
template <typename Options>
void use_socket_store_transport(Options& options) {
  use_socket_store_transport(options, 0);
}

// The archive record that LibTorch >= 2.1's writer (PyTorchStreamWriter) owns: it writes its own
// `.data/serialization_id` at the end of every archive and drops a copied one, so a checksum over
// an archive's records must leave it out (before 2.1 no archive has it).
inline constexpr const char* kWriterOwnedRecord = ".data/serialization_id";

}  // namespace bayesnn::torch_compat
