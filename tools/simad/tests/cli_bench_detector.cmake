# CLI tests of `simad bench detector` (included by tools/simad/CMakeLists.txt inside SIMAD_BUILD_TESTS).
add_test(NAME "cli/bench detector: --help lists the options" COMMAND simad_cli bench detector --help)
set_tests_properties("cli/bench detector: --help lists the options" PROPERTIES
  PASS_REGULAR_EXPRESSION "--per-layer" TIMEOUT 60)

add_test(NAME "cli/bench detector: a missing cfg is an error naming it"
  COMMAND simad_cli bench detector --cfg no-such-detector.cfg --quick)
set_tests_properties("cli/bench detector: a missing cfg is an error naming it" PROPERTIES
  PASS_REGULAR_EXPRESSION "no-such-detector.cfg" TIMEOUT 60)

add_test(NAME "cli/bench detector: --quick --json writes img/s and shares that add up to 1"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DCFG=${PROJECT_SOURCE_DIR}/configs/synthads-detector.cfg
    -DOUT=${CMAKE_CURRENT_BINARY_DIR}/cli-bench-detector.json
    -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/bench_detector_json.cmake)
set_tests_properties("cli/bench detector: --quick --json writes img/s and shares that add up to 1" PROPERTIES
  TIMEOUT 120)
