# CLI tests of `simad synth` (included by tools/simad/CMakeLists.txt inside if(SIMAD_BUILD_TESTS)).
add_test(NAME "cli/synth: --help lists the options" COMMAND simad_cli synth --help)
set_tests_properties("cli/synth: --help lists the options" PROPERTIES PASS_REGULAR_EXPRESSION "--image-size" TIMEOUT 60)

add_test(NAME "cli/synth: without --out is an error" COMMAND simad_cli synth --ads 3)
set_tests_properties("cli/synth: without --out is an error" PROPERTIES WILL_FAIL TRUE TIMEOUT 60)

add_test(NAME "cli/synth: two runs with one seed write identical files"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DWORK=${CMAKE_CURRENT_BINARY_DIR}/cli-synth-test
    -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/synth_twice.cmake)
set_tests_properties("cli/synth: two runs with one seed write identical files" PROPERTIES TIMEOUT 300)
