// The two epoch hooks the trainer's options install, for a program to add by hand: the JSON
// log and the checkpoint (`Trainer::add_epoch_hook`; the hook type, `EpochHook`, is the
// trainer's).
#pragma once

#include <string>

#include "bayesnn/trainer.h"

namespace bayesnn {

/// A hook that appends `to_json_line(stats)` and a newline to the file at `path`, creating it
/// if missing (`append_json_line`); `TrainerOptions::log_path` does the same.
///
/// Example:
/// ```
/// trainer.add_epoch_hook(bayesnn::json_log_hook("runs/mlp/log.jsonl"));
/// ```
EpochHook json_log_hook(std::string path);

/// A hook that writes the trainer's checkpoint to `path` (`Trainer::save_checkpoint`), after
/// checking that every trained parameter is finite: it throws `NonFiniteLossError` naming the
/// parameter instead, so the file keeps the last good state. `TrainerOptions::checkpoint_path`
/// does the same.
///
/// Example:
/// ```
/// trainer.add_epoch_hook(bayesnn::checkpoint_hook("runs/mlp/checkpoint.pt"));
/// ```
EpochHook checkpoint_hook(std::string path);

}  // namespace bayesnn
