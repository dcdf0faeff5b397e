# CLI tests of `simad bench attention` (included by tools/simad/CMakeLists.txt inside SIMAD_BUILD_TESTS).
# In script mode (cmake -P, below) it runs a short bench and checks that every fusion row has both
# peers (ops and the same-algebra blas) and that each peer agrees with the fused op (max|diff| < 1e-3).
if(CMAKE_SCRIPT_MODE_FILE)
  execute_process(COMMAND ${SIMAD} bench attention --quick --min-time 0.01 --threads 1
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "simad bench attention exited with ${rc}")
  endif()
  string(REGEX MATCHALL "\nfusion_attention [^\n]*" rows "${out}")
  foreach(peer ops blas)
    foreach(pass "fwd " "fwd\\+bwd")
      string(REGEX MATCHALL "${pass} +${peer} " got "${rows}")
      list(LENGTH got n)
      if(NOT n EQUAL 3)
        message(FATAL_ERROR "${n} fusion rows with pass '${pass}' and peer ${peer}, expected 3 (one per shape)")
      endif()
    endforeach()
  endforeach()
  foreach(row IN LISTS rows)
    if(NOT row MATCHES " [0-9]\\.[0-9]e-(0[4-9]|[1-9][0-9])$")  # max|diff| < 1e-3
      message(FATAL_ERROR "a peer disagrees with the fused op:${row}")
    endif()
  endforeach()
  message(STATUS "bench attention: both fusion peers on every row, all agree")
  return()
endif()

add_test(NAME "cli/bench attention: fusion rows have both peers, which agree with the fused op"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties("cli/bench attention: fusion rows have both peers, which agree with the fused op" PROPERTIES
  TIMEOUT 300)
add_test(NAME "cli/bench attention: --help lists the options" COMMAND simad_cli bench attention --help)
set_tests_properties("cli/bench attention: --help lists the options" PROPERTIES
  PASS_REGULAR_EXPRESSION "--min-time" TIMEOUT 60)

add_test(NAME "cli/bench attention: a bad --threads is an error" COMMAND simad_cli bench attention --threads 0)
set_tests_properties("cli/bench attention: a bad --threads is an error" PROPERTIES WILL_FAIL TRUE TIMEOUT 60)
