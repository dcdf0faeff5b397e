# CLI tests of `simad darknet` and `simad detect` (included by tools/simad/CMakeLists.txt).
# A random-weights yolov3-tiny written by `simad darknet` is the fixture; the photos come from
# ../shared/data/darknet when present.
set(SIMAD_DETECT_DIR ${CMAKE_CURRENT_BINARY_DIR}/cli-detect)
file(MAKE_DIRECTORY ${SIMAD_DETECT_DIR})

add_test(NAME "cli/darknet: writes the built-in yolov3-tiny cfg"
  COMMAND simad_cli darknet --write-cfg --cfg builtin:yolov3-tiny --out ${SIMAD_DETECT_DIR}/tiny.cfg)
set_tests_properties("cli/darknet: writes the built-in yolov3-tiny cfg" PROPERTIES
  FIXTURES_SETUP simad_detect_cfg PASS_REGULAR_EXPRESSION "24 layers" TIMEOUT 60)

add_test(NAME "cli/darknet: writes random weights for a cfg"
  COMMAND simad_cli darknet --random-weights --cfg ${SIMAD_DETECT_DIR}/tiny.cfg --out ${SIMAD_DETECT_DIR}/tiny.weights
          --seed 7)
set_tests_properties("cli/darknet: writes random weights for a cfg" PROPERTIES
  FIXTURES_REQUIRED simad_detect_cfg FIXTURES_SETUP simad_detect_weights
  PASS_REGULAR_EXPRESSION "35434956 bytes" TIMEOUT 120)

add_test(NAME "cli/darknet: summary checks weights against the cfg"
  COMMAND simad_cli darknet --summary --cfg builtin:yolov3-tiny --weights ${SIMAD_DETECT_DIR}/tiny.weights)
set_tests_properties("cli/darknet: summary checks weights against the cfg" PROPERTIES
  FIXTURES_REQUIRED simad_detect_weights PASS_REGULAR_EXPRESSION "13 convolutional layers: OK" TIMEOUT 60)

add_test(NAME "cli/darknet: weights of another cfg are an error"
  COMMAND simad_cli darknet --summary --cfg builtin:yolov3-tiny --classes 20 --weights ${SIMAD_DETECT_DIR}/tiny.weights)
set_tests_properties("cli/darknet: weights of another cfg are an error" PROPERTIES
  FIXTURES_REQUIRED simad_detect_weights WILL_FAIL TRUE TIMEOUT 60)

add_test(NAME "cli/detect: a file that is not an image is an error"
  COMMAND simad_cli detect --cfg builtin:yolov3-tiny --weights ${SIMAD_DETECT_DIR}/tiny.weights ${SIMAD_DETECT_DIR}/tiny.cfg)
set_tests_properties("cli/detect: a file that is not an image is an error" PROPERTIES
  FIXTURES_REQUIRED simad_detect_weights WILL_FAIL TRUE TIMEOUT 60)

set(SIMAD_DETECT_PHOTOS ${PROJECT_SOURCE_DIR}/../shared/data/darknet)
if(EXISTS ${SIMAD_DETECT_PHOTOS}/dog.jpg AND EXISTS /usr/bin/python3)
  # The real yolov3-tiny.cfg with the weights written for the built-in one (same architecture), all
  # photos plus a missing file: valid JSON, one entry per image, the missing one with an error.
  file(GLOB SIMAD_DETECT_JPGS ${SIMAD_DETECT_PHOTOS}/*.jpg)
  list(LENGTH SIMAD_DETECT_JPGS SIMAD_DETECT_N)
  math(EXPR SIMAD_DETECT_N "${SIMAD_DETECT_N} + 1")
  string(JOIN " " SIMAD_DETECT_ARGS ${SIMAD_DETECT_JPGS})
  add_test(NAME "cli/detect: sample photos give valid JSON and annotated images"
    COMMAND sh -c "$<TARGET_FILE:simad_cli> detect --cfg ${SIMAD_DETECT_PHOTOS}/yolov3-tiny.cfg --weights ${SIMAD_DETECT_DIR}/tiny.weights --names ${SIMAD_DETECT_PHOTOS}/coco.names --draw ${SIMAD_DETECT_DIR}/drawn ${SIMAD_DETECT_ARGS} ${SIMAD_DETECT_DIR}/missing.jpg | /usr/bin/python3 -c \"import json, sys, os; d = json.load(sys.stdin); assert len(d) == ${SIMAD_DETECT_N}, len(d); ok = [e for e in d if 'detections' in e]; assert len(ok) == ${SIMAD_DETECT_N} - 1 and 'error' in d[-1]; assert all(os.path.exists(e['drawn']) for e in ok); dets = [x for e in ok for x in e['detections']]; assert all(0.3 < x['confidence'] <= 1 and x['name'] and x['box']['w'] > 0 for x in dets); print('valid JSON:', len(ok), 'images,', len(dets), 'detections')\"")
  set_tests_properties("cli/detect: sample photos give valid JSON and annotated images" PROPERTIES
    FIXTURES_REQUIRED simad_detect_weights PASS_REGULAR_EXPRESSION "valid JSON" TIMEOUT 300)
endif()
