# CLI tests of `simad bench attention` (included by tools/simad/CMakeLists.txt inside SIMAD_BUILD_TESTS).
add_test(NAME "cli/bench attention: --help lists the options" COMMAND simad_cli bench attention --help)
set_tests_properties("cli/bench attention: --help lists the options" PROPERTIES
  PASS_REGULAR_EXPRESSION "--min-time" TIMEOUT 60)

add_test(NAME "cli/bench attention: a bad --threads is an error" COMMAND simad_cli bench attention --threads 0)
set_tests_properties("cli/bench attention: a bad --threads is an error" PROPERTIES WILL_FAIL TRUE TIMEOUT 60)
