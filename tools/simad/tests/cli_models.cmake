# CLI tests of `simad train`, `embed`, `eval`, `experiment` and `demo` (tools/simad/cmd_{train,embed,
# eval,experiment}.cpp). Included by tools/simad/CMakeLists.txt; run with `cmake -P` (script mode,
# below) it makes a tiny SynthAds set, trains a small ION on it, evaluates it, and embeds a JSONL
# with broken rows: a missing image, a corrupt image, an empty text, invalid UTF-8 and a line that
# is not JSON. The broken image rows and the bad line must be reported and skipped, the rest embedded.
if(CMAKE_SCRIPT_MODE_FILE)
  file(REMOVE_RECURSE ${WORK})
  include(${CMAKE_CURRENT_LIST_DIR}/run_simad.cmake)
  run_simad(synth --out ${WORK}/ads --ads 150 --seed 3 --image-size 64 --users 100 --impressions 20 --quiet)
  run_simad(train --model ion --data ${WORK}/ads --out ${WORK}/ion --epochs 2 --d-model 16 --heads 2 --layers 1
            --ffn 32 --embedding-dim 16 --quiet)
  foreach(want "train: ion" "P@10" "seen" "unseen")
    if(NOT out MATCHES "${want}")
      message(FATAL_ERROR "train output lacks '${want}':\n${out}")
    endif()
  endforeach()
  foreach(f model.safetensors words.vocab tags.vocab)
    if(NOT EXISTS ${WORK}/ion/${f})
      message(FATAL_ERROR "the model folder lacks ${f}")
    endif()
  endforeach()
  run_simad(eval --model ${WORK}/ion --data ${WORK}/ads --json ${WORK}/eval.json --quiet)
  file(READ ${WORK}/eval.json eval_json)
  if(NOT eval_json MATCHES "\"p_unseen\"")
    message(FATAL_ERROR "eval JSON lacks p_unseen:\n${eval_json}")
  endif()
  # A JSONL with broken rows, next to the real images. (Rows are cut by string(FIND), not read as a
  # CMake list: a list would split them at every ';' of the ad text.)
  file(READ ${WORK}/ads/test.jsonl content)
  foreach(i RANGE 4)
    string(FIND "${content}" "\n" nl)
    string(SUBSTRING "${content}" 0 ${nl} r${i})
    math(EXPR nl "${nl} + 1")
    string(SUBSTRING "${content}" ${nl} -1 content)
  endforeach()
  string(REGEX REPLACE "\"image\":\"[^\"]*\"" "\"image\":\"images/no-such-file.jpg\"" missing "${r0}")
  string(REGEX REPLACE "\"image\":\"[^\"]*\"" "\"image\":\"corrupt.jpg\"" corrupt "${r1}")
  string(REGEX REPLACE "\"text\":\"[^\"]*\"" "\"text\":\"\"" empty "${r2}")
  string(ASCII 255 254 bad_bytes)
  string(REGEX REPLACE "\"text\":\"" "\"text\":\"${bad_bytes}" invalid_utf8 "${r3}")
  file(WRITE ${WORK}/ads/corrupt.jpg "this is not an image")
  file(WRITE ${WORK}/ads/broken.jsonl "${missing}\n${corrupt}\n${empty}\n${invalid_utf8}\n{not json\n${r4}\n")
  run_simad(embed --model ${WORK}/ion --data ${WORK}/ads/broken.jsonl --out ${WORK}/emb.npy)
  string(CONCAT all "${out}" "${err}")
  foreach(want "no-such-file.jpg" "corrupt.jpg" "line 5" "3 ads" "skipped 3 rows")
    if(NOT all MATCHES "${want}")
      message(FATAL_ERROR "embed output lacks '${want}':\n${all}")
    endif()
  endforeach()
  file(STRINGS ${WORK}/emb.npy.ids.txt ids)
  list(LENGTH ids n)
  if(NOT n EQUAL 3)
    message(FATAL_ERROR "expected 3 embedded ids, got ${n}: ${ids}")
  endif()
  # The embeddings search like any .npy.
  run_simad(search --base ${WORK}/emb.npy --query ${WORK}/emb.npy --k 2 --exclude-self --out ${WORK}/nn)
  message(STATUS "train, eval, embed (with broken rows) and search work end to end")
  return()
endif()

foreach(command train embed eval experiment demo)
  add_test(NAME "cli/${command}: --help explains the command" COMMAND simad_cli ${command} --help)
  set_tests_properties("cli/${command}: --help explains the command" PROPERTIES
    PASS_REGULAR_EXPRESSION "Example" TIMEOUT 60)
endforeach()
add_test(NAME "cli/train: without --data is an error" COMMAND simad_cli train --out x)
set_tests_properties("cli/train: without --data is an error" PROPERTIES WILL_FAIL TRUE TIMEOUT 60)
add_test(NAME "cli/train: a missing data folder is an error naming it"
  COMMAND simad_cli train --data no-such-folder --out x --quiet)
set_tests_properties("cli/train: a missing data folder is an error naming it" PROPERTIES
  PASS_REGULAR_EXPRESSION "no-such-folder" TIMEOUT 60)
add_test(NAME "cli/models: synth, train, eval, embed broken rows, search end to end"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DWORK=${CMAKE_CURRENT_BINARY_DIR}/cli-models-test
    -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli_models.cmake)
set_tests_properties("cli/models: synth, train, eval, embed broken rows, search end to end" PROPERTIES TIMEOUT 600)
add_test(NAME "cli/train: regions from the shipped detector, fingerprint kept by eval and embed"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DWORK=${CMAKE_CURRENT_BINARY_DIR}/cli-detector-regions
    -DCONFIGS=${PROJECT_SOURCE_DIR}/configs -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/detector_regions_cli.cmake)
set_tests_properties("cli/train: regions from the shipped detector, fingerprint kept by eval and embed"
  PROPERTIES TIMEOUT 300)
