#include "bayesnn/epoch_hooks.h"

#include <string>
#include <utility>

namespace bayesnn {

EpochHook json_log_hook(std::string path) {
  return [path = std::move(path)](const Trainer& /*trainer*/, const EpochStats& stats) {
    append_json_line(path, stats);
  };
}

EpochHook checkpoint_hook(std::string path) {
  return [path = std::move(path)](const Trainer& trainer, const EpochStats& /*stats*/) {
    trainer.save_checkpoint(path);
  };
}

}  // namespace bayesnn
