# The install test (cmake -P): installs simad from the build tree into a fresh prefix, then builds
# and runs (1) a consumer that only knows find_package(simad CONFIG REQUIRED), (2) when simad was built
# with CUDA kernels, a consumer of find_package(simad COMPONENTS kernels) that runs one kernel through
# simad::kernels (without kernels: find_package(simad COMPONENTS kernels) must fail and say why) and (3) a
# consumer that uses add_subdirectory on the source tree. Any failing step fails the test.
#   -DKERNELS=none|emulation|cuda   how the build made simad::kernels (default none)
#   -DCUDA_ROOT=<dir>               with KERNELS=cuda: the toolkit the kernels consumer finds
#   -DONLY_KERNELS=ON               step (2) only (the real-CUDA build that builds only the CUDA tests);
#                                   with no CUDA device it prints "kernels consumer: skipped: no CUDA device"
foreach(var SIMAD_SOURCE_DIR SIMAD_BUILD_DIR WORK_DIR GENERATOR CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_install_test.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT DEFINED KERNELS)
  set(KERNELS none)
endif()

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
set(consumer_args -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix})
if(NOT ONLY_KERNELS)
  run_step("configure find_package consumer" ${CMAKE_COMMAND} -S ${src}/consumer -B ${WORK_DIR}/consumer
    ${consumer_args})
  run_step("build find_package consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
  run_step("run find_package consumer" ${WORK_DIR}/consumer/consumer)
endif()

if(KERNELS STREQUAL "none")
  # No kernels were built: asking for them must fail at find_package, with the reason.
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${src}/kernels_absent -B ${WORK_DIR}/kernels_absent_required
    ${consumer_args} -DREQUIRE_KERNELS=ON RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  # CMake wraps the reason at any space.
  string(REPLACE " " "[ \n]+" reason "kernels \\(simad::kernels\\) is not available: this simad was built without")
  if(rc EQUAL 0 OR NOT err MATCHES "${reason}")
    message(FATAL_ERROR "install test: find_package(simad COMPONENTS kernels) without kernels should fail "
                        "and say why (exit code ${rc})\n${out}\n${err}")
  endif()
  message(STATUS "install test: find_package(simad COMPONENTS kernels) fails without kernels: ok")
  run_step("configure OPTIONAL_COMPONENTS kernels consumer" ${CMAKE_COMMAND} -S ${src}/kernels_absent
    -B ${WORK_DIR}/kernels_absent_optional ${consumer_args} -DREQUIRE_KERNELS=OFF)
else()
  if(NOT EXISTS ${prefix}/share/cmake/simad/simadKernelsTargets.cmake)
    message(FATAL_ERROR "install test: simad was built with kernels (${KERNELS}) but simadKernelsTargets.cmake "
                        "was not installed")
  endif()
  set(kernels_args)
  if(KERNELS STREQUAL "cuda" AND CUDA_ROOT)
    set(kernels_args -DCUDAToolkit_ROOT=${CUDA_ROOT})
  endif()
  run_step("configure simad::kernels consumer" ${CMAKE_COMMAND} -S ${src}/kernels_consumer
    -B ${WORK_DIR}/kernels_consumer ${consumer_args} ${kernels_args})
  run_step("build simad::kernels consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/kernels_consumer)
  # A real-CUDA build may run where no GPU is: the consumer then exits 77 after building and linking.
  execute_process(COMMAND ${WORK_DIR}/kernels_consumer/kernels_consumer
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 77 AND KERNELS STREQUAL "cuda")
    message(STATUS "install test: kernels consumer: skipped: no CUDA device (built and linked)")
  elseif(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: run simad::kernels consumer failed (${rc})\n${out}\n${err}")
  else()
    message(STATUS "install test: run simad::kernels consumer: ok")
  endif()
endif()

if(NOT ONLY_KERNELS)
  run_step("configure add_subdirectory consumer" ${CMAKE_COMMAND} -S ${src}/subdir_consumer
    -B ${WORK_DIR}/subdir_consumer -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DSIMAD_SOURCE_DIR=${SIMAD_SOURCE_DIR}
    -DSIMAD_CUDA=OFF)
  run_step("build add_subdirectory consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/subdir_consumer)
  run_step("run add_subdirectory consumer" ${WORK_DIR}/subdir_consumer/consumer)
endif()
