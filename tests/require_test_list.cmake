# Fails unless TEST_EXECUTABLE starts and lists at least one test (run after each build of the
# test binary, beside catch_discover_tests, which would accept an empty list).
execute_process(COMMAND ${TEST_EXECUTABLE} --list-test-names-only
  OUTPUT_VARIABLE listed ERROR_VARIABLE errors RESULT_VARIABLE result)
string(STRIP "${listed}" listed)
if(listed STREQUAL "")
  message(FATAL_ERROR "${TEST_EXECUTABLE} lists no test (exit status ${result}): ${errors}\n"
    "ctest would run none of the suite; see that the binary starts (its shared libraries).")
endif()
