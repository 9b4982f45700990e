#include "serialize/checkpoint_file.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <fmt/format.h>

#include "error_text.h"
#include "module_name.h"
#include "serialize/zip_crc.h"
#include "torch_compat.h"

namespace bayesnn::detail {
namespace {

// FNV-1a, 64 bits: detects damage (truncation, flipped bytes, a renamed record), not tampering.
struct Fnv1a {
  uint64_t hash = 0xcbf29ce484222325ULL;
  void add(const void* data, size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
  }
};

// The bytes to the zip reader, never past their end. (LibTorch's MemoryReadAdapter copies
// whatever range it is asked for: a damaged zip directory made it read before the buffer, found
// by fuzz/checkpoint.cpp.) A short read is the reader's error to report.
class BytesAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BytesAdapter(const std::string& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t position, void* buffer, size_t count, const char* /*what*/) const override {
    if (position >= bytes_.size()) return 0;
    const size_t available = std::min<uint64_t>(count, bytes_.size() - position);
    std::memcpy(buffer, bytes_.data() + position, available);
    return available;
  }

 private:
  const std::string& bytes_;
};

std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip_reader(const std::string& bytes) {
  return std::make_unique<caffe2::serialize::PyTorchStreamReader>(
      std::make_shared<BytesAdapter>(bytes));
}

// The checksum of the named records, in the order given.
uint64_t checksum(caffe2::serialize::PyTorchStreamReader& reader,
                  const std::vector<std::string>& names) {
  Fnv1a fnv;
  for (const auto& name : names) {
    const auto [data, size] = reader.getRecord(name);
    fnv.add(name.data(), name.size() + 1);  // with its terminating zero
    const uint64_t length = size;
    fnv.add(&length, sizeof length);
    fnv.add(data.get(), size);
  }
  return fnv.hash;
}

void load_module(torch::serialize::InputArchive& archive, torch::nn::Module& module,
                 const std::string& prefix) {
  at::NoGradGuard no_grad;
  const auto read = [&](const std::string& name, const at::Tensor& target, bool is_buffer) {
    if (!target.defined()) return;
    at::Tensor stored;
    TORCH_CHECK(archive.try_read(name, stored, is_buffer), "it has no '", module_path(prefix, name),
                "'");
    TORCH_CHECK(stored.sizes() == target.sizes(), "'", module_path(prefix, name), "' has shape ",
                stored.sizes(), ", the network's ", target.sizes());
    target.copy_(stored);
  };
  for (const auto& item : module.named_parameters(/*recurse=*/false)) {
    read(item.key(), item.value(), false);
  }
  for (const auto& item : module.named_buffers(/*recurse=*/false)) {
    read(item.key(), item.value(), true);
  }
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive child_archive;
    TORCH_CHECK(archive.try_read(child.key(), child_archive), "it has no '",
                module_path(prefix, child.key()), "'");
    load_module(child_archive, *child.value(), module_path(prefix, child.key()));
  }
}

// The records an archive's checksum covers: all but the one LibTorch's writer owns.
std::vector<std::string> sealed_records(caffe2::serialize::PyTorchStreamReader& reader) {
  auto names = reader.getAllRecords();
  names.erase(std::remove(names.begin(), names.end(), torch_compat::kWriterOwnedRecord),
              names.end());
  std::sort(names.begin(), names.end());
  return names;
}

// An archive written before checkpoints carried a checksum: each record's bytes against the
// CRC-32 its zip directory stores, and the records LibTorch's importer starts from.
void check_unsealed(caffe2::serialize::PyTorchStreamReader& reader, const std::string& file,
                    const std::string& path, const char* caller) {
  std::map<std::string, uint32_t> crcs;
  try {
    crcs = zip_record_crcs(file);
  } catch (const std::exception& error) {
    TORCH_CHECK(false, caller, ": '", path,
                "' is not a readable bayesnn checkpoint (it has no checksum, and ",
                first_line(error), ")");
  }
  for (const char* needed : {"data.pkl", "version"}) {
    TORCH_CHECK(reader.hasRecord(needed), caller, ": '", path,
                "' is not a readable bayesnn checkpoint (it has no checksum, and no '", needed,
                "' record: not a checkpoint of bayesnn)");
  }
  for (const auto& name : reader.getAllRecords()) {
    const auto stored = crcs.find(name);
    bool intact = stored != crcs.end();
    try {
      const auto [data, size] = reader.getRecord(name);
      intact = intact && crc32(data.get(), size) == stored->second;
    } catch (const std::exception&) {
      intact = false;
    }
    TORCH_CHECK(intact, caller, ": '", path,
                "' is not a readable bayesnn checkpoint (damaged: it has no checksum, and its "
                "record '",
                name, "' does not match its CRC-32)");
  }
}

}  // namespace

void load_module(torch::serialize::InputArchive& archive, torch::nn::Module& module) {
  load_module(archive, module, "");
}

std::string seal_checkpoint(const std::string& archive) {
  auto reader = zip_reader(archive);
  const auto names = sealed_records(*reader);
  std::string sealed;
  caffe2::serialize::PyTorchStreamWriter writer([&sealed](const void* data, size_t size) {
    sealed.append(static_cast<const char*>(data), size);
    return size;
  });
  std::string record = fmt::format("fnv1a64 {:016x}\n", checksum(*reader, names));
  for (const auto& name : names) {
    const auto [data, size] = reader->getRecord(name);
    writer.writeRecord(name, data.get(), size);
    record += name + "\n";
  }
  writer.writeRecord(kChecksumRecord, record.data(), record.size());
  writer.writeEndOfFile();
  return sealed;
}

bool is_sealed(const std::string& file) {
  try {
    return zip_reader(file)->hasRecord(kChecksumRecord);
  } catch (const std::exception&) {
    return false;
  }
}

bool check_checkpoint(const std::string& file, const std::string& path, const char* caller) {
  std::string record;
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = zip_reader(file);
    if (reader->hasRecord(kChecksumRecord)) {
      const auto [data, size] = reader->getRecord(kChecksumRecord);
      record.assign(static_cast<const char*>(data.get()), size);
    }
  } catch (const std::exception& error) {
    TORCH_CHECK(false, caller, ": '", path,
                "' is not a readable bayesnn checkpoint (not a zip archive: ", first_line(error),
                ")");
  }
  if (record.empty()) {
    check_unsealed(*reader, file, path, caller);
    return false;
  }
  std::istringstream lines(record);
  std::string algorithm, expected, name;
  lines >> algorithm >> expected;
  std::vector<std::string> names;
  std::getline(lines, name);  // the rest of the first line
  while (std::getline(lines, name)) names.push_back(name);
  bool intact = algorithm == "fnv1a64" && !names.empty();
  try {
    intact = intact && fmt::format("{:016x}", checksum(*reader, names)) == expected;
  } catch (const std::exception&) {  // a record it names is missing or unreadable
    intact = false;
  }
  TORCH_CHECK(intact, caller, ": '", path,
              "' is not a readable bayesnn checkpoint (damaged: its records do not match its "
              "checksum)");
  return true;
}

}  // namespace bayesnn::detail
