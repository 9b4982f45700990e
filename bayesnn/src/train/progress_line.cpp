#include "train/progress_line.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace bayesnn::detail {
namespace {
// Reading the losses to redraw the line waits for the device; twice a second costs nothing
// measurable and still looks live.
constexpr double kProgressSeconds = 0.5;

double seconds_since(ProgressLine::Clock::time_point start) {
  return std::chrono::duration<double>(ProgressLine::Clock::now() - start).count();
}
}  // namespace

ProgressLine::ProgressLine(bool enabled, int64_t epoch, int64_t epochs, int64_t batches,
                           Clock::time_point start)
    : enabled_(enabled), epoch_(epoch), epochs_(epochs), batches_(batches), start_(start) {}

ProgressLine::~ProgressLine() { end_line(); }

bool ProgressLine::due() const { return enabled_ && seconds_since(last_draw_) >= kProgressSeconds; }

void ProgressLine::draw(const StepRecord& record) {
  const double elapsed = seconds_since(start_);
  const auto batch = record.steps_added();
  const double eta = elapsed / static_cast<double>(batch) * static_cast<double>(batches_ - batch);
  const auto& totals = record.totals();
  std::fprintf(stderr,
               "\r\033[Kepoch %lld/%lld  batch %lld/%lld  %.0f img/s  ETA %02d:%02d  loss %.4f",
               static_cast<long long>(epoch_), static_cast<long long>(epochs_),
               static_cast<long long>(batch), static_cast<long long>(batches_),
               static_cast<double>(record.examples_added()) / elapsed, static_cast<int>(eta) / 60,
               static_cast<int>(eta) % 60,
               totals.loss_sum / static_cast<double>(std::max<int64_t>(totals.examples, 1)));
  std::fflush(stderr);
  drawn_ = true;
  last_draw_ = Clock::now();
}

void ProgressLine::finish(const StepRecord& record) {
  if (enabled_) draw(record);
  end_line();
}

bool ProgressLine::stderr_is_terminal() { return isatty(fileno(stderr)) != 0; }

void ProgressLine::end_line() {
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace bayesnn::detail
