# CLI test of `simad bench darknet` (included by tools/simad/CMakeLists.txt): the whole-network rows,
# simad's forward against oneDNN's convolutions of the same network (when oneDNN is built in), written
# as JSON and checked by bench_darknet_json.cmake.
add_test(NAME "cli/bench darknet: --networks-only times both networks and writes them as JSON"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli>
    -DOUT=${CMAKE_CURRENT_BINARY_DIR}/cli-bench-darknet.json
    -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/bench_darknet_json.cmake)
set_tests_properties("cli/bench darknet: --networks-only times both networks and writes them as JSON"
  PROPERTIES TIMEOUT 300)

add_test(NAME "cli/bench darknet: --networks-only with --filter is an error"
  COMMAND simad_cli bench darknet --networks-only --filter k3)
set_tests_properties("cli/bench darknet: --networks-only with --filter is an error" PROPERTIES WILL_FAIL TRUE TIMEOUT 60)

add_test(NAME "cli/bench darknet: a conv row's share of the FMA peak, in the table and the JSON"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli>
    -DOUT=${CMAKE_CURRENT_BINARY_DIR}/cli-bench-darknet-rows.json
    -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/bench_darknet_rows_json.cmake)
set_tests_properties("cli/bench darknet: a conv row's share of the FMA peak, in the table and the JSON"
  PROPERTIES TIMEOUT 300)
