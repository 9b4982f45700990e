#include "support/catch.h"

#include <sstream>
#include <string>

#include <caffe2/serialize/inline_container.h>
#include <torch/serialize/output-archive.h>
#include <torch/torch.h>

#include "serialize/zip_crc.h"

namespace {

// An archive as LibTorch writes a checkpoint: a few tensors in a zip.
std::string small_archive() {
  torch::serialize::OutputArchive archive;
  archive.write("weight", torch::arange(1000, torch::kFloat));
  archive.write("step", torch::tensor(int64_t{7}));
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

}  // namespace

TEST_CASE("crc32: the standard check value and the empty input", "[zip_crc]") {
  const std::string check = "123456789";
  CHECK(bayesnn::detail::crc32(check.data(), check.size()) == 0xCBF43926U);
  CHECK(bayesnn::detail::crc32("", 0) == 0U);
}

TEST_CASE("zip_record_crcs: every record of a LibTorch archive, matching its bytes", "[zip_crc]") {
  const std::string bytes = small_archive();
  const auto crcs = bayesnn::detail::zip_record_crcs(bytes);
  std::istringstream stream(bytes);
  caffe2::serialize::PyTorchStreamReader reader(&stream);
  const auto names = reader.getAllRecords();
  REQUIRE(names.size() >= 3);  // data.pkl, version and the tensors' data at least
  for (const auto& name : names) {
    INFO(name);
    REQUIRE(crcs.count(name) == 1);
    const auto [data, size] = reader.getRecord(name);
    CHECK(bayesnn::detail::crc32(data.get(), size) == crcs.at(name));
  }
  CHECK(crcs.size() == names.size());
}

TEST_CASE("zip_record_crcs: a file that is no zip archive, or a cut one, is an error saying so",
          "[zip_crc]") {
  using Catch::Contains;
  REQUIRE_THROWS_WITH(bayesnn::detail::zip_record_crcs("short"),
                      Contains("it is too short to be a zip archive"));
  REQUIRE_THROWS_WITH(bayesnn::detail::zip_record_crcs(std::string(100, 'x')),
                      Contains("it has no zip directory"));
  const std::string bytes = small_archive();
  REQUIRE_THROWS_WITH(bayesnn::detail::zip_record_crcs(bytes.substr(0, bytes.size() / 2)),
                      Contains("it has no zip directory"));
  std::string damaged = bytes;
  const auto first_entry = bytes.find(std::string("PK\x01\x02", 4));
  REQUIRE(first_entry != std::string::npos);
  damaged[first_entry] = 'Q';
  REQUIRE_THROWS_WITH(bayesnn::detail::zip_record_crcs(damaged),
                      Contains("its zip directory entry 0 is malformed"));

  // The end record's fields: with the entry count at 0xFFFF the zip64 records (which LibTorch
  // writes beside) are read instead; their signatures damaged, or a directory offset past the
  // end, are errors.
  const auto end = bytes.rfind(std::string("PK\x05\x06", 4));
  REQUIRE(end != std::string::npos);
  std::string zip64 = bytes;
  zip64.replace(end + 10, 2, "\xFF\xFF", 2);
  CHECK(bayesnn::detail::zip_record_crcs(zip64) == bayesnn::detail::zip_record_crcs(bytes));
  damaged = zip64;
  damaged[end - 20] = 'Q';  // the zip64 locator's signature
  REQUIRE_THROWS_WITH(bayesnn::detail::zip_record_crcs(damaged),
                      Contains("its zip64 directory locator is missing"));
  damaged = zip64;
  damaged[bytes.rfind(std::string("PK\x06\x06", 4))] = 'Q';
  REQUIRE_THROWS_WITH(bayesnn::detail::zip_record_crcs(damaged),
                      Contains("its zip64 end of directory is missing"));
  damaged = bytes;
  damaged.replace(end + 16, 4, "\x00\x00\x00\x7F", 4);
  REQUIRE_THROWS_WITH(bayesnn::detail::zip_record_crcs(damaged),
                      Contains("its zip directory runs past the end of the file"));
}
