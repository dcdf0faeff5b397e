# The acceptance example: printf '我来到北京清华大学\n' | simad tokenize  ->  我 来到 北京 清华大学 (exactly).
# Run by ctest: cmake -DSIMAD=<simad> -P cli_tokenize_example.cmake
execute_process(COMMAND sh -c "printf '我来到北京清华大学\\n' | '${SIMAD}' tokenize"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "simad tokenize failed (${rc}): ${err}")
endif()
if(NOT out STREQUAL "我 来到 北京 清华大学\n")
  message(FATAL_ERROR "unexpected output: [${out}]")
endif()
message(STATUS "ok: ${out}")
