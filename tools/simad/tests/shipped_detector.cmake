# Issue #14's acceptance: the shipped configs/synthads-detector.weights (trained on `simad synth
# --seed 11`) on a fresh SynthAds set of another seed reaches mAP@0.5 >= 0.6 over the product and
# distractor classes and finds the product of >= 80% of the ads (every product box matched by a
# product detection at IoU 0.5). Both the 256 px images it was trained at and the demo's 128 px.
# cmake -DSIMAD=<simad> -DCFG=<cfg> -DWEIGHTS=<weights> -DWORK=<scratch dir> -P shipped_detector.cmake
include(${CMAKE_CURRENT_LIST_DIR}/run_simad.cmake)
file(REMOVE_RECURSE ${WORK})
foreach(size 256 128)
  run_simad(synth --out ${WORK}/s${size} --ads 1000 --image-size ${size} --users 20 --impressions 5 --seed 12 --quiet)
  run_simad(train-detector --cfg ${CFG} --data ${WORK}/s${size} --out ${WEIGHTS} --eval-only --eval-split test)
  message(STATUS "${size} px: ${out}")
  if(NOT out MATCHES "mAP@0.5 ([0-9.]+) on ([0-9]+) images .*product found in ([0-9.]+) of")
    message(FATAL_ERROR "no eval line in:\n${out}\n${err}")
  endif()
  set(map ${CMAKE_MATCH_1})
  set(images ${CMAKE_MATCH_2})
  set(found ${CMAKE_MATCH_3})
  if(images LESS 200 OR map LESS 0.6 OR found LESS 0.8)
    message(FATAL_ERROR "${size} px: mAP@0.5 ${map} (want >= 0.6), product found ${found} (want >= 0.8) on ${images} images")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK})
