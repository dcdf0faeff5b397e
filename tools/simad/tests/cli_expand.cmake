# CLI tests of `simad expand` (tools/simad/cmd_expand.cpp, expand_run.hpp). Included by
# tools/simad/CMakeLists.txt; run with `cmake -P` (script mode, below) it makes a tiny SynthAds set,
# trains and embeds a tiny ION, runs the lookalike sweep, and checks the outputs; then a clicks file
# with bad rows (users without features, unknown packages, duplicates) whose counts must be
# reported, an empty package, and a malformed line that must stop it with the file and line.
if(CMAKE_SCRIPT_MODE_FILE)
  file(REMOVE_RECURSE ${WORK})
  include(${CMAKE_CURRENT_LIST_DIR}/run_simad.cmake)
  run_simad(synth --out ${WORK}/ads --ads 200 --seed 5 --image-size 48 --users 400 --impressions 300 --quiet)
  run_simad(train --model ion --data ${WORK}/ads --out ${WORK}/ion --epochs 1 --d-model 16 --heads 2 --layers 1
            --ffn 32 --embedding-dim 16 --quiet)
  run_simad(embed --model ${WORK}/ion --data ${WORK}/ads/ads.jsonl --out ${WORK}/emb.npy --quiet)
  set(common --emb ${WORK}/emb.npy --ads ${WORK}/ads/ads.jsonl --users ${WORK}/ads/users.csv --rounds 5
             --m 2,5 --min-clickers 2 --threads 1 --quiet)
  run_simad(expand ${common} --clicks ${WORK}/ads/impressions.csv --low-ctr 3 --out ${WORK}/out)
  foreach(want "initial" "expanded m=2" "expanded m=5" "AUC next" "XGBoost")
    if(NOT out MATCHES "${want}")
      message(FATAL_ERROR "expand output lacks '${want}':\n${out}\n${err}")
    endif()
  endforeach()
  foreach(f metrics.json metrics.csv summary.csv report.html)
    if(NOT EXISTS ${WORK}/out/${f})
      message(FATAL_ERROR "expand did not write ${f}")
    endif()
  endforeach()
  file(READ ${WORK}/out/report.html html)
  if(NOT html MATCHES "<svg" OR NOT html MATCHES "AUC test")
    message(FATAL_ERROR "report.html lacks the m-sweep plot or the table")
  endif()
  file(READ ${WORK}/out/metrics.json j)
  string(JSON npk LENGTH "${j}" packages)
  if(NOT npk EQUAL 3)
    message(FATAL_ERROR "metrics.json: ${npk} packages, expected 3")
  endif()
  string(JSON nmodels LENGTH "${j}" packages 0 models)
  if(NOT nmodels EQUAL 3)
    message(FATAL_ERROR "metrics.json: ${nmodels} models per package, expected 3 (initial, m=2, m=5)")
  endif()

  # SynthAds may show a package to a user twice in a period: those repeats are merged already.
  string(JSON dup0 GET "${j}" input duplicate_impressions)
  string(JSON unk0 GET "${j}" input impressions_of_unknown_ids)
  string(JSON nof0 GET "${j}" input impressions_of_users_without_features)
  if(NOT unk0 EQUAL 0 OR NOT nof0 EQUAL 0)
    message(FATAL_ERROR "SynthAds' own impressions counted as bad: ${unk0} unknown ids, ${nof0} without features")
  endif()
  math(EXPR dup_want "${dup0} + 2")

  # Bad rows: appended to the real impressions. 2 of a user without features, 1 of an unknown
  # package, 2 duplicates of the first row.
  file(READ ${WORK}/ads/impressions.csv imps)
  string(FIND "${imps}" "\n" nl)
  math(EXPR nl "${nl} + 1")
  string(SUBSTRING "${imps}" ${nl} -1 rest)
  string(FIND "${rest}" "\n" nl2)
  string(SUBSTRING "${rest}" 0 ${nl2} first_row)
  file(WRITE ${WORK}/bad.csv "${imps}1,0,999999,1\n2,0,888888,0\n1,123456,1,1\n${first_row}\n${first_row}\n")
  run_simad(expand ${common} --clicks ${WORK}/bad.csv --package 0,99999 --out ${WORK}/bad)
  file(READ ${WORK}/bad/metrics.json j)
  foreach(pair "impressions_of_users_without_features=2" "impressions_of_unknown_ids=1" "duplicate_impressions=${dup_want}")
    string(REPLACE "=" ";" kv "${pair}")
    list(GET kv 0 key)
    list(GET kv 1 want)
    string(JSON got GET "${j}" input ${key})
    if(NOT got EQUAL want)
      message(FATAL_ERROR "metrics.json input.${key} = ${got}, expected ${want}")
    endif()
  endforeach()
  if(NOT err MATCHES "package 99999: empty package")
    message(FATAL_ERROR "the empty package was not reported:\n${err}")
  endif()

  # A malformed line stops it, naming the file and the line.
  file(WRITE ${WORK}/broken.csv "period,package_id,user_id,clicked\n1,0,1,0\n1,zero,2,1\n")
  execute_process(COMMAND ${SIMAD} expand ${common} --clicks ${WORK}/broken.csv --package 0 --out ${WORK}/broken
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT err MATCHES "broken.csv:3: package_id is not an integer")
    message(FATAL_ERROR "a malformed clicks line was not reported by file and line (rc ${rc}):\n${err}")
  endif()
  return()
endif()

add_test(NAME "cli/expand: lookalike sweep, reports, bad rows counted, malformed line by file and line"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DWORK=${CMAKE_CURRENT_BINARY_DIR}/cli-expand-test
          -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties("cli/expand: lookalike sweep, reports, bad rows counted, malformed line by file and line"
  PROPERTIES TIMEOUT 300)
add_test(NAME "cli/expand: --help lists the options" COMMAND simad_cli expand --help)
set_tests_properties("cli/expand: --help lists the options" PROPERTIES PASS_REGULAR_EXPRESSION "--low-ctr" TIMEOUT 60)
add_test(NAME "cli/bench lookalike: a small package runs and prints the time split"
  COMMAND simad_cli bench lookalike --users 2000 --ads 1000 --rounds 5 --threads 1)
set_tests_properties("cli/bench lookalike: a small package runs and prints the time split" PROPERTIES
  PASS_REGULAR_EXPRESSION "retrieval [0-9.]+ s.*data assembly [0-9.]+ s, XGBoost" TIMEOUT 120)
