# CLI tests of `simad train-detector` (included by tools/simad/CMakeLists.txt inside if(SIMAD_BUILD_TESTS)).
add_test(NAME "cli/train-detector: --help lists the options" COMMAND simad_cli train-detector --help)
set_tests_properties("cli/train-detector: --help lists the options" PROPERTIES
  PASS_REGULAR_EXPRESSION "--checkpoint-every" TIMEOUT 60)

add_test(NAME "cli/train-detector: a missing cfg is an error naming it"
  COMMAND simad_cli train-detector --cfg no-such.cfg --data . --out x.weights)
set_tests_properties("cli/train-detector: a missing cfg is an error naming it" PROPERTIES
  PASS_REGULAR_EXPRESSION "no-such.cfg" TIMEOUT 60)

add_test(NAME "cli/train-detector: trains a tiny cfg, resumes bit-identically, detect reads the weights"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DWORK=${CMAKE_CURRENT_BINARY_DIR}/cli-train-detector
    -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/train_detector_resume.cmake)
set_tests_properties("cli/train-detector: trains a tiny cfg, resumes bit-identically, detect reads the weights"
  PROPERTIES TIMEOUT 300)

add_test(NAME "cli/train-detector: the shipped detector on a fresh SynthAds seed, mAP and product found"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DWORK=${CMAKE_CURRENT_BINARY_DIR}/cli-shipped-detector
    -DCFG=${PROJECT_SOURCE_DIR}/configs/synthads-detector.cfg -DWEIGHTS=${PROJECT_SOURCE_DIR}/configs/synthads-detector.weights
    -P ${CMAKE_CURRENT_SOURCE_DIR}/tests/shipped_detector.cmake)
set_tests_properties("cli/train-detector: the shipped detector on a fresh SynthAds seed, mAP and product found"
  PROPERTIES TIMEOUT 300)
