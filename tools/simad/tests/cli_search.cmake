# CLI tests of `simad search` (tools/simad/cmd_search.cpp). Included by tools/simad/CMakeLists.txt;
# the same file run with `cmake -P` (script mode, below) runs a search and checks its output files
# byte for byte against results worked out by hand for the fixture tests/search/data/fixture.fvecs:
# 3 rows of dimension 5, row i = (5i + j) * 0.5 - 3, so d(0,1) = d(1,2) = 5 * 2.5^2 = 31.25 and
# d(0,2) = 125. With --exclude-self and k = 3: row 0 -> 1, 2, -1; row 1 -> 0, 2, -1 (0 and 2 tie:
# smaller id first); row 2 -> 1, 0, -1; distances 31.25 (0x41fa0000), 125 (0x42fa0000), +inf.
if(CMAKE_SCRIPT_MODE_FILE)
  execute_process(COMMAND ${SIMAD} search --base ${DATA}/fixture.fvecs --query ${DATA}/fixture_f4.npy --k 3
                          --exclude-self --out ${OUT} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "simad search failed: ${rc}")
  endif()
  file(READ ${OUT}.ids.ivecs ids HEX)
  file(READ ${OUT}.dist.fvecs dist HEX)
  string(CONCAT want_ids "03000000" "01000000" "02000000" "ffffffff"
                         "03000000" "00000000" "02000000" "ffffffff"
                         "03000000" "01000000" "00000000" "ffffffff")
  string(CONCAT want_dist "03000000" "0000fa41" "0000fa42" "0000807f"
                          "03000000" "0000fa41" "0000fa41" "0000807f"
                          "03000000" "0000fa41" "0000fa42" "0000807f")
  if(NOT ids STREQUAL want_ids)
    message(FATAL_ERROR "ids: got ${ids}, want ${want_ids}")
  endif()
  if(NOT dist STREQUAL want_dist)
    message(FATAL_ERROR "distances: got ${dist}, want ${want_dist}")
  endif()
  message(STATUS "simad search output matches")
  return()
endif()

set(_search_data ${PROJECT_SOURCE_DIR}/tests/search/data)
set(_search_out ${CMAKE_CURRENT_BINARY_DIR}/cli-search)

add_test(NAME "cli/search: --help lists the options" COMMAND simad_cli search --help)
set_tests_properties("cli/search: --help lists the options" PROPERTIES PASS_REGULAR_EXPRESSION "--exclude-self"
  TIMEOUT 60)

add_test(NAME "cli/search: exclude-self results match the hand-worked fixture"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DDATA=${_search_data} -DOUT=${_search_out}-fixture
          -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties("cli/search: exclude-self results match the hand-worked fixture" PROPERTIES TIMEOUT 60)

add_test(NAME "cli/search: a saved index searches like its base file"
  COMMAND ${CMAKE_COMMAND} -E chdir ${CMAKE_CURRENT_BINARY_DIR} sh -c
    "$<TARGET_FILE:simad_cli> search --base ${_search_data}/fixture.fvecs --query ${_search_data}/fixture.fvecs --k 2 --out cli-search-a --save-index cli-search.simadidx && $<TARGET_FILE:simad_cli> search --base cli-search.simadidx --query ${_search_data}/fixture.fvecs --k 2 --out cli-search-b && cmp cli-search-a.ids.ivecs cli-search-b.ids.ivecs && cmp cli-search-a.dist.fvecs cli-search-b.dist.fvecs")
set_tests_properties("cli/search: a saved index searches like its base file" PROPERTIES TIMEOUT 60)

add_test(NAME "cli/search: --prefilter int8 and off give the same bytes"
  COMMAND ${CMAKE_COMMAND} -E chdir ${CMAKE_CURRENT_BINARY_DIR} sh -c
    "$<TARGET_FILE:simad_cli> search --base ${_search_data}/fixture.fvecs --query ${_search_data}/fixture_f4.npy --k 3 --exclude-self --prefilter int8 --out cli-search-int8 && $<TARGET_FILE:simad_cli> search --base ${_search_data}/fixture.fvecs --query ${_search_data}/fixture_f4.npy --k 3 --exclude-self --prefilter off --out cli-search-off && cmp cli-search-int8.ids.ivecs cli-search-off.ids.ivecs && cmp cli-search-int8.dist.fvecs cli-search-off.dist.fvecs")
set_tests_properties("cli/search: --prefilter int8 and off give the same bytes" PROPERTIES TIMEOUT 60)

# Bad input: each must fail with a message naming the problem.
foreach(case
    "dimension mismatch|--base ${_search_data}/fixture.fvecs --query ${_search_data}/dim3.fvecs --k 1|dimension 3"
    "truncated file|--base ${_search_data}/truncated.fvecs --query ${_search_data}/dim3.fvecs --k 1|truncated"
    "NaN in the base|--base ${_search_data}/nan.fvecs --query ${_search_data}/dim3.fvecs --k 1|row 1"
    "k of 0|--base ${_search_data}/fixture.fvecs --query ${_search_data}/fixture.fvecs --k 0|k must be"
    "missing file|--base ${_search_data}/no-such.fvecs --query ${_search_data}/fixture.fvecs --k 1|cannot open"
    "unknown metric|--base ${_search_data}/fixture.fvecs --query ${_search_data}/fixture.fvecs --k 1 --metric cos|metric"
    "unknown prefilter|--base ${_search_data}/fixture.fvecs --query ${_search_data}/fixture.fvecs --k 1 --prefilter bf16|prefilter")
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 what)
  list(GET parts 1 args)
  list(GET parts 2 message)
  separate_arguments(args UNIX_COMMAND "${args}")
  add_test(NAME "cli/search: ${what} is an error" COMMAND simad_cli search ${args} --out ${_search_out}-bad)
  set_tests_properties("cli/search: ${what} is an error" PROPERTIES PASS_REGULAR_EXPRESSION "${message}" TIMEOUT 60)
  # PASS_REGULAR_EXPRESSION ignores the exit code: a second test demands the failure status.
  add_test(NAME "cli/search: ${what} exits non-zero" COMMAND simad_cli search ${args} --out ${_search_out}-bad)
  set_tests_properties("cli/search: ${what} exits non-zero" PROPERTIES WILL_FAIL TRUE TIMEOUT 60)
endforeach()
