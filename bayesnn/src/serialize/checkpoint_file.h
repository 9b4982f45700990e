// Internal: the checkpoint file around LibTorch's archive. A damaged archive can crash
// LibTorch's TorchScript importer (fuzz/checkpoint.cpp found a SEGV in its type parser), so a
// checkpoint carries a checksum of its records, checked with the archive's zip reader alone
// before the importer sees a byte (a checkpoint of an earlier bayesnn, without one, has its
// records checked against their CRC-32s).
#pragma once

#include <string>

#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>

namespace bayesnn::detail {

/// The record holding the checksum: "fnv1a64 <hex>" and then the names of the records it covers,
/// one per line.
inline constexpr const char* kChecksumRecord = "bayesnn_checksum";

/// LibTorch's serialized archive `archive` (a zip), rewritten with the checksum record added.
std::string seal_checkpoint(const std::string& archive);

/// Whether `file` is a zip archive with the checksum record: a sealed checkpoint, intact or not.
bool is_sealed(const std::string& file);

/// Checks `file` (the bytes of a checkpoint read from `path`) before LibTorch's importer sees it:
/// a sealed checkpoint against its checksum; one without (an earlier bayesnn's, written before
/// checkpoints carried one) record by record against the CRC-32s of its zip directory, and for
/// the records the importer starts from. Returns whether it was sealed; throws c10::Error
/// starting "<caller>: '<path>' is not a readable bayesnn checkpoint" where the file is no zip
/// archive or is damaged (a record that does not match).
bool check_checkpoint(const std::string& file, const std::string& path, const char* caller);

/// `module.load(archive)` with every tensor's presence and shape checked (`Module::load` gives a
/// module a stored tensor of another shape silently): copies each stored tensor into the
/// module's own; throws c10::Error naming the first missing tensor ("it has no '1.weight'") or
/// shape mismatch ("'1.weight' has shape [3, 8], the network's [4, 8]").
void load_module(torch::serialize::InputArchive& archive, torch::nn::Module& module);

}  // namespace bayesnn::detail
