# `simad train-detector` on a tiny SynthAds set with a tiny cfg: 6 iterations straight, then 3 +
# --resume to 6 with a checkpoint: the two weights files must be byte-identical; --resume without
# a state is an error; `simad detect` reads the trained weights.
# cmake -DSIMAD=<simad> -DWORK=<scratch dir> -P train_detector_resume.cmake
include(${CMAKE_CURRENT_LIST_DIR}/run_simad.cmake)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
run_simad(synth --out ${WORK}/ads --ads 16 --image-size 64 --users 20 --impressions 5 --seed 3 --quiet)
# 64x64 input: scales 16x16 and 32x32; anchors scaled from configs/synthads-detector.cfg (x 1/4).
set(anchors "11,9, 16,18, 28,12, 23,22, 24,34, 33,27")
set(conv "[convolutional]\nbatch_normalize=1\nstride=1\npad=1\nactivation=leaky\n")
file(WRITE ${WORK}/tiny.cfg
  "[net]\nbatch=4\nsubdivisions=2\nwidth=64\nheight=64\nchannels=3\nlearning_rate=0.002\nmomentum=0.9\n"
  "decay=0.0005\nburn_in=2\npolicy=steps\nsteps=4\nscales=.5\n\n"
  "${conv}filters=8\nsize=3\n\n[maxpool]\nsize=2\nstride=2\n\n"
  "${conv}filters=16\nsize=3\n\n[maxpool]\nsize=2\nstride=2\n\n"
  "${conv}filters=16\nsize=1\n\n"
  "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=21\nactivation=linear\n\n"
  "[yolo]\nmask=3,4,5\nanchors=${anchors}\nclasses=2\nnum=6\nignore_thresh=.7\ntruth_thresh=1\n\n"
  "[route]\nlayers=-3\n\n${conv}filters=8\nsize=1\n\n[upsample]\nstride=2\n\n[route]\nlayers=-1,2\n\n"
  "[convolutional]\nsize=3\nstride=1\npad=1\nfilters=21\nactivation=linear\n\n"
  "[yolo]\nmask=0,1,2\nanchors=${anchors}\nclasses=2\nnum=6\nignore_thresh=.7\ntruth_thresh=1\n")
set(common --cfg ${WORK}/tiny.cfg --data ${WORK}/ads --threads 2 --loader-threads 1 --seed 5 --eval-split train
  --eval-images 4 --log-every 1)

run_simad(train-detector ${common} --out ${WORK}/straight.weights --iterations 6)
if(NOT out MATCHES "mAP@0.5")
  message(FATAL_ERROR "no mAP line in:\n${out}")
endif()
if(NOT err MATCHES "iter 6/6 .*img/s")
  message(FATAL_ERROR "no progress line in:\n${err}")
endif()
run_simad(train-detector ${common} --out ${WORK}/resumed.weights --iterations 3)
run_simad(train-detector ${common} --out ${WORK}/resumed.weights --iterations 6 --resume)
if(NOT err MATCHES "resumed from .* at iteration 3")
  message(FATAL_ERROR "no resume line in:\n${err}")
endif()
foreach(f weights weights.state)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/straight.${f} ${WORK}/resumed.${f} RESULT_VARIABLE diff)
  if(NOT diff EQUAL 0)
    message(FATAL_ERROR "straight.${f} and resumed.${f} differ: a resumed run must reproduce the uninterrupted one")
  endif()
endforeach()

execute_process(COMMAND ${SIMAD} train-detector ${common} --out ${WORK}/none.weights --iterations 2 --resume
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "none.weights.state")
  message(FATAL_ERROR "--resume without a state must fail naming it (${rc}):\n${err}")
endif()

run_simad(train-detector ${common} --out ${WORK}/straight.weights --eval-only)
if(NOT out MATCHES "eval \\(train, .*straight.weights'\\): mAP@0.5")
  message(FATAL_ERROR "--eval-only printed no mAP line:\n${out}")
endif()

file(GLOB images ${WORK}/ads/images/*)
list(GET images 0 image)
run_simad(detect --cfg ${WORK}/tiny.cfg --weights ${WORK}/straight.weights ${image})
if(NOT out MATCHES "\"detections\"")
  message(FATAL_ERROR "simad detect did not read the trained weights:\n${out}")
endif()
