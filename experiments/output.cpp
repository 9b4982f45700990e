#include "output.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include <c10/util/Exception.h>
#include <fmt/format.h>

namespace bayesnn::experiment {

namespace fs = std::filesystem;

OutputFiles prepare_output(const ExperimentOptions& options,
                           const std::optional<ProcessGroup>& group) {
  OutputFiles files;
  files.dir = options.out.empty() ? "runs/" + options.model : options.out;
  files.log = files.dir + "/log.jsonl";
  files.curve = files.dir + "/curve.jsonl";
  files.checkpoint = files.dir + "/checkpoint.pt";
  if (group && group->rank() != 0) {
    files.resuming = group->any(false, "rank 0's decision to resume");
    return files;
  }
  std::error_code error;
  fs::create_directories(files.dir, error);
  TORCH_CHECK(!error && fs::is_directory(files.dir), "--out: cannot create the directory '",
              files.dir, "': ", error ? error.message() : "not a directory");
  files.resuming = options.resume && fs::exists(files.checkpoint);
  if (options.resume && !files.resuming) {
    fmt::print("--resume: no checkpoint at {}, starting afresh\n", files.checkpoint);
  }
  if (!files.resuming) {
    fs::remove(files.log, error);
    fs::remove(files.curve, error);
  }
  TORCH_CHECK(std::ofstream(files.dir + "/.writable").good(), "--out: the directory '", files.dir,
              "' is not writable");
  fs::remove(files.dir + "/.writable", error);
  if (group) files.resuming = group->any(files.resuming, "rank 0's decision to resume");
  return files;
}

}  // namespace bayesnn::experiment
