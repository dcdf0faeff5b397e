# `simad train --regions detector` end to end on a tiny SynthAds set with the shipped detector: the
# regions come from it (map+pixels features by default), the model records its fingerprint, `eval`
# and `embed` reuse it, and a detector with other bytes (here the cfg with a comment added) is refused
# by name. `--regions detector-grid` trains too.
# cmake -DSIMAD=<simad> -DCONFIGS=<configs dir> -DWORK=<scratch dir> -P detector_regions_cli.cmake
include(${CMAKE_CURRENT_LIST_DIR}/run_simad.cmake)
file(REMOVE_RECURSE ${WORK})
run_simad(synth --out ${WORK}/ads --ads 120 --seed 5 --image-size 64 --users 20 --impressions 5 --quiet)
set(small --epochs 1 --d-model 16 --heads 2 --ffn 32 --embedding-dim 16 --quiet)
run_simad(train --model totyemb --regions detector --data ${WORK}/ads --out ${WORK}/m ${small})
if(NOT err MATCHES "regions from the detector .*synthads-detector.weights.*features: map\\+pixels")
  message(FATAL_ERROR "train did not say which detector made the regions:\n${err}")
endif()
file(STRINGS ${WORK}/m/model.safetensors header REGEX "detector_fingerprint")  # binary: READ stops at a 0
if(NOT header MATCHES "detector_fingerprint[^0-9a-f]+[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]")
  message(FATAL_ERROR "the saved model lacks the detector's fingerprint")
endif()
run_simad(eval --model ${WORK}/m --data ${WORK}/ads --quiet)
if(NOT out MATCHES "P@10")
  message(FATAL_ERROR "eval printed no P@10:\n${out}")
endif()
run_simad(embed --model ${WORK}/m --data ${WORK}/ads/test.jsonl --out ${WORK}/emb.npy --quiet)
file(READ ${CONFIGS}/synthads-detector.cfg cfg)
file(WRITE ${WORK}/other.cfg "# the same network, other bytes\n${cfg}")
execute_process(COMMAND ${SIMAD} eval --model ${WORK}/m --data ${WORK}/ads --quiet --detector-cfg ${WORK}/other.cfg
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "fingerprint.*other.cfg")
  message(FATAL_ERROR "eval with another detector was not refused by name (${rc}):\n${out}\n${err}")
endif()
run_simad(train --model totyemb --regions detector-grid --ranking all --K 49 --data ${WORK}/ads --out ${WORK}/g ${small})
file(REMOVE_RECURSE ${WORK})
