#include "interrupt.h"

#include <signal.h>

#include <atomic>

namespace {

std::atomic<int> interrupting{0};

extern "C" void request_stop(int signal) {
  interrupting.store(signal);
  ::signal(signal, SIG_DFL);
}

}  // namespace

namespace bayesnn::experiment {

void stop_on_interrupt() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int interrupting_signal() { return interrupting.load(); }

}  // namespace bayesnn::experiment
