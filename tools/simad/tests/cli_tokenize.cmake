# CLI tests of `simad tokenize` (included by tools/simad/CMakeLists.txt inside if(SIMAD_BUILD_TESTS)).
# The jieba-dependent ones need Debian's python3-jieba (installed by scripts/install-deps); without
# it the oracle test reports skipped (exit 77) and the example test fails with a clear error.
set(_tok_data ${PROJECT_SOURCE_DIR}/tests/text)

add_test(NAME "cli/tokenize: the README example prints 我 来到 北京 清华大学"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -P ${_tok_data}/cli_tokenize_example.cmake)
set_tests_properties("cli/tokenize: the README example prints 我 来到 北京 清华大学" PROPERTIES TIMEOUT 60)

find_program(SIMAD_DEBIAN_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(SIMAD_DEBIAN_PYTHON)
  add_test(NAME "cli/tokenize: output equals Python jieba joined by spaces in both modes and with --jsonl"
    COMMAND ${SIMAD_DEBIAN_PYTHON} ${_tok_data}/check_cli_tokenize.py $<TARGET_FILE:simad_cli>
            ${_tok_data}/data/corpus.txt ${CMAKE_CURRENT_BINARY_DIR}/cli-tokenize-test)
  set_tests_properties("cli/tokenize: output equals Python jieba joined by spaces in both modes and with --jsonl"
    PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
endif()

add_test(NAME "cli/tokenize: --tags prints word/TAG/K"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DARGS=--tags
          -DINPUT=${_tok_data}/data/cli_tags.txt -P ${_tok_data}/cli_tokenize_run.cmake)
set_tests_properties("cli/tokenize: --tags prints word/TAG/K" PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "牛仔裤/n/1 .*！/x/0 .*shoes/eng/1 .*the/eng/0")

add_test(NAME "cli/tokenize: a bad JSONL row is an error naming its line"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> "-DARGS=--jsonl;--field;text"
          -DINPUT=${_tok_data}/data/cli_bad.jsonl -P ${_tok_data}/cli_tokenize_run.cmake)
set_tests_properties("cli/tokenize: a bad JSONL row is an error naming its line" PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "cli_bad.jsonl line 3: no field 'text'")

add_test(NAME "cli/tokenize: a missing jieba directory is a clear error"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> "-DARGS=--jieba-dir;/nonexistent/jieba"
          -DINPUT=${_tok_data}/data/cli_tags.txt -P ${_tok_data}/cli_tokenize_run.cmake)
set_tests_properties("cli/tokenize: a missing jieba directory is a clear error" PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "cannot open '/nonexistent/jieba/dict.txt'")

add_test(NAME "cli/tokenize: invalid UTF-8 is replaced and counted"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DARGS=
          -DINPUT=${_tok_data}/data/cli_invalid.txt -P ${_tok_data}/cli_tokenize_run.cmake)
set_tests_properties("cli/tokenize: invalid UTF-8 is replaced and counted" PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "新款 � � 牛仔裤.*2 invalid UTF-8 sequence\\(s\\) on 1 line")

# `simad bench text` (tools/simad/cmd_bench_text.cpp): one quick pass over the test corpus.
add_test(NAME "cli/bench: the text suite prints segmentation MB/s in both modes"
  COMMAND simad_cli bench text --corpus ${_tok_data}/data/corpus.txt --min-time 0)
set_tests_properties("cli/bench: the text suite prints segmentation MB/s in both modes" PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "no-hmm +[0-9.]+ +[0-9.]+ +[0-9]+ +1\n+hmm +[0-9.]+")
