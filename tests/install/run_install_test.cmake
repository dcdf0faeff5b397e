# The install test (cmake -P): installs simad from the build tree into a fresh prefix, then builds
# and runs (1) a consumer that only knows find_package(simad CONFIG REQUIRED) and (2) a consumer
# that uses add_subdirectory on the source tree. Any failing step fails the test.
foreach(var SIMAD_SOURCE_DIR SIMAD_BUILD_DIR WORK_DIR GENERATOR CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_install_test.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: ${what} failed (${rc})\n${out}\n${err}")
  endif()
  message(STATUS "install test: ${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run_step("cmake --install" ${CMAKE_COMMAND} --install ${SIMAD_BUILD_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/share/cmake/simad/simadConfig.cmake OR NOT EXISTS ${prefix}/include/simad/simad.hpp)
  message(FATAL_ERROR "install test: simadConfig.cmake or the headers were not installed under ${prefix}")
endif()

set(src ${SIMAD_SOURCE_DIR}/tests/install)
run_step("configure find_package consumer" ${CMAKE_COMMAND} -S ${src}/consumer -B ${WORK_DIR}/consumer
  -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix})
run_step("build find_package consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
run_step("run find_package consumer" ${WORK_DIR}/consumer/consumer)

run_step("configure add_subdirectory consumer" ${CMAKE_COMMAND} -S ${src}/subdir_consumer
  -B ${WORK_DIR}/subdir_consumer -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DSIMAD_SOURCE_DIR=${SIMAD_SOURCE_DIR}
  -DSIMAD_CUDA=OFF)
run_step("build add_subdirectory consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/subdir_consumer)
run_step("run add_subdirectory consumer" ${WORK_DIR}/subdir_consumer/consumer)
