# Runs `simad tokenize ARGS --input INPUT` and prints its stdout, stderr and exit status, so ctest's
# PASS_REGULAR_EXPRESSION can check any of them. cmake -DSIMAD=... -DARGS=a;b -DINPUT=... -P cli_tokenize_run.cmake
execute_process(COMMAND ${SIMAD} tokenize ${ARGS} --input ${INPUT}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("stdout: ${out}")
message("stderr: ${err}")
message("exit status: ${rc}")
