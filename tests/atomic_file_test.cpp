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
#include "support/temp_dir.h"

using bayesnn::test::TempDir;
using Catch::Contains;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

/// What a forked child that called write_file_atomically under a file-size limit reports.
struct ChildReport {
  int exit_code = -1;   ///< 0: threw WriteError; 1: did not throw; 2: threw something else
  std::string message;  ///< what() of the exception, if any
};

// Writes `bytes` bytes to `path` with write_file_atomically in a forked child whose files may not
// grow beyond `limit` bytes (SIGXFSZ ignored, so write(2) fails with EFBIG as on a full disk).
// The child reports through a pipe and its exit status; the parent makes every check.
ChildReport write_under_file_size_limit(const std::string& path, size_t bytes, rlim_t limit) {
  int pipe_ends[2];
  REQUIRE(::pipe(pipe_ends) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_ends[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit file_size{limit, limit};
    int code = 3;
    std::string message = "setrlimit failed";
    if (::setrlimit(RLIMIT_FSIZE, &file_size) == 0) {
      try {
        bayesnn::write_file_atomically(
            path, [bytes](std::ostream& out) { out << std::string(bytes, 'x'); }, "the table");
        code = 1;
        message.clear();
      } catch (const bayesnn::WriteError& error) {
        code = 0;
        message = error.what();
      } catch (const std::exception& error) {
        code = 2;
        message = error.what();
      }
    }
    if (::write(pipe_ends[1], message.data(), message.size()) < 0) code = 4;
    ::_exit(code);  // no destructors or atexit handlers of the parent's state in the child
  }
  ::close(pipe_ends[1]);
  ChildReport report;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_ends[0], buffer, sizeof buffer)) > 0;) {
    report.message.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_ends[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  report.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return report;
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
