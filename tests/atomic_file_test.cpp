// write_file_atomically: the file is replaced whole or not at all. A failure (a throwing
// serialiser, a missing directory, a full disk, a directory in the file's place) leaves the
// previous file as it was, no temporary file behind, and throws one line naming the file and the
// reason. The full disk is a file-size limit (RLIMIT_FSIZE) in a forked child: the tests run as
// root in CI, where permissions do not stop a write.
#include "support/catch.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <stdexcept>
#include <string>

#include "bayesnn/atomic_file.h"
#include "support/file_size_limit.h"
#include "support/temp_dir.h"

using bayesnn::test::TempDir;
using Catch::Contains;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

using bayesnn::test::ChildReport;

// Writes `bytes` bytes to `path` with write_file_atomically under a file-size limit of `limit`
// bytes; exit code 0: threw WriteError, 1: did not throw, 2: threw something else.
ChildReport write_under_file_size_limit(const std::string& path, size_t bytes, rlim_t limit) {
  return bayesnn::test::under_file_size_limit(limit, [&]() -> ChildReport {
    try {
      bayesnn::write_file_atomically(
          path, [bytes](std::ostream& out) { out << std::string(bytes, 'x'); }, "the table");
      return {1, ""};
    } catch (const bayesnn::WriteError& error) {
      return {0, error.what()};
    } catch (const std::exception& error) {
      return {2, error.what()};
    }
  });
}

}  // namespace

TEST_CASE("write_file_atomically: success replaces the file and leaves no temporary",
          "[atomic_file]") {
  TempDir dir;
  const std::string path = dir.file("table.csv");
  std::ofstream(path) << "old contents that are longer than the new ones\n";
  bayesnn::write_file_atomically(path, [](std::ostream& out) { out << "a,b\n1,2\n"; });
  CHECK(read_text(path) == "a,b\n1,2\n");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

  SECTION("write_text_atomically writes the string as it is") {
    bayesnn::write_text_atomically(path, std::string("binary\0safe\n", 12));
    CHECK(read_text(path) == std::string("binary\0safe\n", 12));
  }
  SECTION("a stale temporary from a crashed writer is replaced") {
    std::ofstream(path + ".tmp") << "partial";
    bayesnn::write_text_atomically(path, "fresh\n");
    CHECK(read_text(path) == "fresh\n");
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  }
}

TEST_CASE("write_file_atomically: a throwing writer keeps the previous file", "[atomic_file]") {
  TempDir dir;
  const std::string path = dir.file("metrics.json");
  std::ofstream(path) << "{\"accuracy\": 0.9}\n";
  const auto throwing = [](std::ostream& out) {
    out << "{\"acc";
    throw std::runtime_error("the model has no parameters\nsecond line of a backtrace");
  };
  REQUIRE_THROWS_AS(bayesnn::write_file_atomically(path, throwing, "the metrics"),
                    bayesnn::WriteError);
  REQUIRE_THROWS_WITH(bayesnn::write_file_atomically(path, throwing, "the metrics"),
                      "cannot write the metrics '" + path + "': the model has no parameters");
  CHECK(read_text(path) == "{\"accuracy\": 0.9}\n");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("write_file_atomically: a missing directory is named with the reason", "[atomic_file]") {
  TempDir dir;
  const std::string path = dir.file("missing/table.csv");
  REQUIRE_THROWS_WITH(bayesnn::write_text_atomically(path, "a\n", "the table"),
                      "cannot write the table '" + path +
                          "': No such file or directory (writing '" + path + ".tmp')");
  CHECK_FALSE(std::filesystem::exists(dir.file("missing")));
}

TEST_CASE("write_file_atomically: a directory in the file's place removes the temporary",
          "[atomic_file]") {
  TempDir dir;
  const std::string path = dir.file("metrics.json");
  std::filesystem::create_directory(path);
  REQUIRE_THROWS_WITH(
      bayesnn::write_text_atomically(path, "{}\n"),
      Contains("cannot write '" + path + "': Is a directory (renaming '" + path + ".tmp')"));
  CHECK(std::filesystem::is_directory(path));
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("write_file_atomically: a full disk keeps the previous file and removes the temporary",
          "[atomic_file]") {
  TempDir dir;
  const std::string path = dir.file("checkpoint.pt");
  const std::string previous(20000, 'p');  // larger than the limit: it is not rewritten
  std::ofstream(path) << previous;

  const auto report = write_under_file_size_limit(path, 50000, 4096);
  INFO(report.message);
  REQUIRE(report.exit_code == 0);
  CHECK(report.message ==
        "cannot write the table '" + path + "': File too large (writing '" + path + ".tmp')");
  CHECK(read_text(path) == previous);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

  SECTION("content within the limit is written") {
    const auto small = write_under_file_size_limit(path, 1000, 4096);
    INFO(small.message);
    REQUIRE(small.exit_code == 1);
    CHECK(read_text(path) == std::string(1000, 'x'));
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  }
}
