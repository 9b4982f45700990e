// What SIGINT and SIGTERM do to a run: the first asks training to stop before its next step (the
// last checkpoint intact), and the handler then steps aside, so a second one ends the program at
// once.
#pragma once

namespace bayesnn::experiment {

/// Installs the handlers, and ignores SIGPIPE: a peer of a data-parallel job that is gone makes
/// the collective fail with a message, not SIGPIPE end this process (process_group.h).
void stop_on_interrupt();

/// The signal that asked training to stop, or 0 while none has.
int interrupting_signal();

}  // namespace bayesnn::experiment
