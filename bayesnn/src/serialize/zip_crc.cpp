#include "serialize/zip_crc.h"

#include <array>
#include <cstring>

#include <c10/util/Exception.h>

namespace bayesnn::detail {
namespace {

constexpr std::array<uint32_t, 256> crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1U) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

// Little-endian fields of the zip format, bounds-checked against the whole file.
class Fields {
 public:
  explicit Fields(const std::string& bytes) : bytes_(bytes) {}
  bool fits(uint64_t offset, uint64_t size) const {
    return offset <= bytes_.size() && size <= bytes_.size() - offset;
  }
  uint64_t read(uint64_t offset, int size) const {
    TORCH_CHECK(fits(offset, size), "its zip directory runs past the end of the file");
    uint64_t value = 0;
    for (int i = size - 1; i >= 0; --i) {
      value = (value << 8) | static_cast<unsigned char>(bytes_[offset + i]);
    }
    return value;
  }
  std::string text(uint64_t offset, uint64_t size) const {
    TORCH_CHECK(fits(offset, size), "its zip directory runs past the end of the file");
    return bytes_.substr(offset, size);
  }
  size_t size() const { return bytes_.size(); }

 private:
  const std::string& bytes_;
};

constexpr uint64_t kEndOfDirectory = 0x06054b50;
constexpr uint64_t kZip64Locator = 0x07064b50;
constexpr uint64_t kZip64EndOfDirectory = 0x06064b50;
constexpr uint64_t kDirectoryEntry = 0x02014b50;

struct Directory {
  uint64_t entries = 0;
  uint64_t offset = 0;
};

// The end-of-central-directory record sits in the last 22 + 65535 bytes (its comment's room).
Directory find_directory(const Fields& zip) {
  TORCH_CHECK(zip.size() >= 22, "it is too short to be a zip archive");
  const uint64_t last = zip.size() - 22;
  const uint64_t first = last > 65535 ? last - 65535 : 0;
  for (uint64_t at = last + 1; at-- > first;) {
    if (zip.read(at, 4) != kEndOfDirectory) continue;
    Directory directory{zip.read(at + 10, 2), zip.read(at + 16, 4)};
    if (directory.entries == 0xFFFF || directory.offset == 0xFFFFFFFF) {  // zip64
      TORCH_CHECK(at >= 20 && zip.read(at - 20, 4) == kZip64Locator,
                  "its zip64 directory locator is missing");
      const uint64_t end64 = zip.read(at - 20 + 8, 8);
      TORCH_CHECK(zip.read(end64, 4) == kZip64EndOfDirectory,
                  "its zip64 end of directory is missing");
      directory = Directory{zip.read(end64 + 32, 8), zip.read(end64 + 48, 8)};
    }
    return directory;
  }
  TORCH_CHECK(false, "it has no zip directory");
}

}  // namespace

uint32_t crc32(const void* data, size_t size) {
  static constexpr auto kTable = crc_table();
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFU;
  for (size_t i = 0; i < size; ++i) c = kTable[(c ^ bytes[i]) & 0xFFU] ^ (c >> 8);
  return c ^ 0xFFFFFFFFU;
}

std::map<std::string, uint32_t> zip_record_crcs(const std::string& bytes) {
  const Fields zip(bytes);
  const Directory directory = find_directory(zip);
  std::map<std::string, uint32_t> crcs;
  uint64_t at = directory.offset;
  for (uint64_t i = 0; i < directory.entries; ++i) {
    TORCH_CHECK(zip.read(at, 4) == kDirectoryEntry, "its zip directory entry ", i, " is malformed");
    const auto crc = static_cast<uint32_t>(zip.read(at + 16, 4));
    const uint64_t name_size = zip.read(at + 28, 2);
    const uint64_t extra_size = zip.read(at + 30, 2);
    const uint64_t comment_size = zip.read(at + 32, 2);
    const std::string name = zip.text(at + 46, name_size);
    const auto slash = name.find('/');
    crcs[slash == std::string::npos ? name : name.substr(slash + 1)] = crc;
    at += 46 + name_size + extra_size + comment_size;
  }
  return crcs;
}

}  // namespace bayesnn::detail
