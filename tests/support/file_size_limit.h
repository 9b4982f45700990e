// A full disk in a test: `body` runs in a forked child whose files may not grow beyond `limit`
// bytes (SIGXFSZ ignored, so write(2) fails with EFBIG as on a full disk). The tests run as root
// in CI, where permissions do not stop a write.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "support/catch.h"

namespace bayesnn::test {

/// What the child reported: its exit code and a message.
struct ChildReport {
  int exit_code = -1;
  std::string message;
};

/// Runs `body` in a forked child under the file-size limit; the child reports through a pipe
/// and its exit status (3: setrlimit failed), and the parent makes every check.
inline ChildReport under_file_size_limit(rlim_t limit, const std::function<ChildReport()>& body) {
  int pipe_ends[2];
  REQUIRE(::pipe(pipe_ends) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_ends[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit file_size{limit, limit};
    ChildReport report{3, "setrlimit failed"};
    if (::setrlimit(RLIMIT_FSIZE, &file_size) == 0) report = body();
    if (::write(pipe_ends[1], report.message.data(), report.message.size()) < 0) {
      report.exit_code = 4;
    }
    ::_exit(report.exit_code);  // no destructors or atexit handlers of the parent's state
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

}  // namespace bayesnn::test
