// Internal: the CRC-32s a zip archive stores for its records, and the CRC-32 of bytes, to check
// an archive's records with nothing but its own directory (LibTorch's zip reader does not: it is
// built with miniz's CRC checks off).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace bayesnn::detail {

/// The CRC-32 (IEEE 802.3, as zip and gzip compute it) of `size` bytes at `data`.
uint32_t crc32(const void* data, size_t size);

/// Each record's CRC-32 as the central directory of the zip archive `bytes` stores it, by the
/// record's name without the archive's top folder ("archive/data.pkl" -> "data.pkl", the names
/// LibTorch's reader uses). Reads zip64 directories too; throws c10::Error saying what is wrong
/// where the directory is missing, runs past the file, or is malformed.
std::map<std::string, uint32_t> zip_record_crcs(const std::string& bytes);

}  // namespace bayesnn::detail
