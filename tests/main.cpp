// The test runner's main: Catch's, after the one process-wide choice a program that uses
// bayesnn's ProcessGroup makes (process_group.h): writing to a socket whose peer is gone must be
// an error the collective reports, not SIGPIPE ending the process (Python ignores SIGPIPE too).
#define CATCH_CONFIG_RUNNER
#include <signal.h>

#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  ::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
