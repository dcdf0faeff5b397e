# run_simad(args...): runs ${SIMAD} with the arguments; a non-zero exit stops the script with the
# command, its code and its output; `out` and `err` hold the output in the caller's scope. For the
# cli_*.cmake scripts in script mode (include(${CMAKE_CURRENT_LIST_DIR}/run_simad.cmake)).
function(run_simad)
  execute_process(COMMAND ${SIMAD} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "simad ${ARGN} failed (${rc}):\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()
