// Internal: the trainer's progress line on a terminal.
#pragma once

#include <chrono>
#include <cstdint>

#include "train/step_record.h"

namespace bayesnn::detail {

/// The progress line of an epoch on a terminal. Drawing it reads the losses from the device, so
/// it is redrawn at most twice a second; a line left open by an exception is ended.
class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;

  /// A line for epoch `epoch` (1-based) of `epochs`, of `batches` steps, started at `start`;
  /// drawn only where `enabled`.
  ProgressLine(bool enabled, int64_t epoch, int64_t epochs, int64_t batches,
               Clock::time_point start);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  /// Whether the line is to be redrawn now.
  bool due() const;
  /// Draws the record's numbers: the losses of the steps read so far.
  void draw(const StepRecord& record);
  /// Draws the epoch's final numbers and ends the line, before the epoch hooks print.
  void finish(const StepRecord& record);

  /// Whether stderr is a terminal (the line is drawn only there).
  static bool stderr_is_terminal();

 private:
  void end_line();

  bool enabled_, drawn_ = false;
  int64_t epoch_, epochs_, batches_;
  Clock::time_point start_, last_draw_ = start_;
};

}  // namespace bayesnn::detail
