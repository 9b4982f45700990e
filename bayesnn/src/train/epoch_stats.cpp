#include "bayesnn/epoch_stats.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

namespace bayesnn {

std::string to_json_line(const EpochStats& stats) {
  nlohmann::json line = {{"epoch", stats.epoch},
                         {"step", stats.step},
                         {"elbo", stats.elbo},
                         {"nll", stats.nll},
                         {"kl", stats.kl},
                         {"kl_weight", stats.kl_weight},
                         {"loss", stats.loss},
                         {"accuracy", stats.accuracy},
                         {"seconds", stats.seconds},
                         {"images_per_second", stats.images_per_second},
                         {"lr", stats.lr},
                         {"prior_scales", stats.prior_scales},
                         {"log_alpha", stats.log_alpha}};
  return line.dump();
}

void append_json_line(const std::string& path, const EpochStats& stats) {
  std::error_code error;
  const auto size_before = std::filesystem::file_size(path, error);
  std::ofstream log(path, std::ios::app);
  TORCH_CHECK(log.good(), "Trainer: cannot open the log file '", path,
              "' for appending: ", std::strerror(errno));
  errno = 0;
  log << to_json_line(stats) << '\n' << std::flush;
  if (log.good()) return;
  const int reason = errno;
  log.close();
  // A line cut short would make the log unreadable: the log goes back to its last whole line.
  if (!error && std::filesystem::is_regular_file(path)) {
    std::filesystem::resize_file(path, size_before, error);
  }
  TORCH_CHECK(false, "Trainer: cannot write to the log file '", path,
              "': ", reason != 0 ? std::strerror(reason) : "the write failed");
}

}  // namespace bayesnn
