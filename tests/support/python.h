// The Python side of the interop tests: Debian's /usr/bin/python3 with python3-torch.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace bayesnn::test {

/// The interpreter the interop tests run.
inline constexpr const char* kPython = "/usr/bin/python3";

/// Whether `kPython` imports torch.
inline bool python_has_torch() {
  return std::system((std::string(kPython) + " -c 'import torch' > /dev/null 2>&1").c_str()) == 0;
}

/// Whether this is a CI run (CI=true), where python3-torch is installed and its absence a failure.
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

/// What a shell command printed (stdout and stderr, where it redirects them) and its status.
struct CommandOutput {
  int status = -1;
  std::string text;
};

/// Runs `command` through the shell and reads what it prints.
inline CommandOutput run_command(const std::string& command) {
  CommandOutput result;
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) result.text += buffer;
  result.status = pclose(pipe);
  return result;
}

}  // namespace bayesnn::test
