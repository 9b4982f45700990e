// The run's output directory (--out): where its files go, and whether it resumes.
#pragma once

#include <optional>
#include <string>

#include "bayesnn/process_group.h"
#include "options.h"

namespace bayesnn::experiment {

/// Where a run's files go.
struct OutputFiles {
  std::string dir;         ///< --out, default runs/<model>
  std::string log;         ///< log.jsonl: a line per epoch
  std::string curve;       ///< curve.jsonl: --eval-every's learning curve
  std::string checkpoint;  ///< checkpoint.pt
  bool resuming = false;   ///< --resume and a checkpoint to resume from
};

/// Creates --out (default runs/<model>) and checks that it takes files; a fresh run removes the
/// logs of an earlier one. In a data-parallel job rank 0 alone touches the directory and decides
/// whether to resume.
OutputFiles prepare_output(const ExperimentOptions& options,
                           const std::optional<ProcessGroup>& group);

}  // namespace bayesnn::experiment
