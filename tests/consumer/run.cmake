# Installs bayesnn from BAYESNN_BINARY_DIR into a scratch prefix, then builds (with the
# generator of the build under test) and runs the consumer project against that install.
set(prefix ${BAYESNN_BINARY_DIR}/consumer-test/install)
set(build ${BAYESNN_BINARY_DIR}/consumer-test/build)
file(REMOVE_RECURSE ${prefix} ${build})

function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "consumer test: '${command}' failed (${result})")
  endif()
endfunction()

run_step(${CMAKE_COMMAND} --install ${BAYESNN_BINARY_DIR} --prefix ${prefix})
run_step(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${build} -G ${CONSUMER_GENERATOR}
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_PREFIX_PATH=${prefix} -DTorch_DIR=${Torch_DIR})
run_step(${CMAKE_COMMAND} --build ${build})
run_step(${build}/consumer)
