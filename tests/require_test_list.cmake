# Fails unless TEST_EXECUTABLE starts and lists at least one test with LIST_TESTS (Catch2 2's
# --list-test-names-only, 3's --list-tests --verbosity quiet: the names alone). Run after each
# build of the test binary, beside catch_discover_tests, which would accept an empty list.
execute_process(COMMAND ${TEST_EXECUTABLE} ${LIST_TESTS}
  OUTPUT_VARIABLE listed ERROR_VARIABLE errors RESULT_VARIABLE result)
string(STRIP "${listed}" listed)
if(listed STREQUAL "")
  message(FATAL_ERROR "${TEST_EXECUTABLE} lists no test (exit status ${result}): ${errors}\n"
    "ctest would run none of the suite; see that the binary starts (its shared libraries).")
endif()
