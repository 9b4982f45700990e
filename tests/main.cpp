// The test runner's main: Catch's, after the one process-wide choice a program that uses
// bayesnn's ProcessGroup makes (process_group.h): writing to a socket whose peer is gone must be
// an error the collective reports, not SIGPIPE ending the process (Python ignores SIGPIPE too).
#include <signal.h>

#ifdef BAYESNN_CATCH2_V3
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

int main(int argc, char* argv[]) {
  ::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
