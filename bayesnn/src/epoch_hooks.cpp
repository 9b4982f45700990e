#include "bayesnn/epoch_hooks.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/nn/module.h>
#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "bayesnn/trainer.h"

namespace bayesnn {
namespace {
// Throws NonFiniteLossError naming the first trained parameter with a NaN or infinite element:
// the epoch's losses were finite, so the last step's update made it so.
void check_parameters_finite(const Trainer& trainer, const std::string& checkpoint) {
  auto named = trainer.model().module->named_parameters();
  for (const auto& item : trainer.likelihood().named_parameters()) {
    named.insert("likelihood." + item.key(), item.value());
  }
  if (named.is_empty()) return;
  std::vector<torch::Tensor> finite;
  for (const auto& item : named) finite.push_back(torch::isfinite(item.value()).all());
  const auto flags = torch::stack(finite).cpu();  // one synchronisation for all parameters
  for (size_t i = 0; i < named.size(); ++i) {
    if (flags[static_cast<int64_t>(i)].item<bool>()) continue;
    throw NonFiniteLossError(
        fmt::format("training stopped after step {} (epoch {}): its update made the parameter '{}' "
                    "non-finite; the last good checkpoint is {}",
                    trainer.step(), trainer.epoch(), named[i].key(), checkpoint));
  }
}
}  // namespace

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

EpochHook json_log_hook(std::string path) {
  return [path = std::move(path)](const Trainer& /*trainer*/, const EpochStats& stats) {
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
  };
}

EpochHook checkpoint_hook(std::string path) {
  return [path = std::move(path)](const Trainer& trainer, const EpochStats& /*stats*/) {
    check_parameters_finite(trainer, path);
    trainer.save_checkpoint(path);
  };
}

}  // namespace bayesnn
