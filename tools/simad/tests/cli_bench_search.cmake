# CLI tests of `simad bench search` (tools/simad/cmd_bench_search.cpp): the PyPI FAISS peer is
# optional and never needed by CI. Included by tools/simad/CMakeLists.txt; the same file run with
# `cmake -P` (script mode, below) runs a smoke-sized bench (N = 2000) with CASE =
#   missing    SIMAD_FAISS_PYTHON names no file: one line says how to install the peer, exit 0
#   fake       tests/fake_faiss_peer.py stands in for the peer's Python (--faiss-python): its build
#              facts, its made-up 2 ms per search (500000 q/s at nq=1000, 500 q/s at nq=1) and the
#              commands it received, in order, with >= --repeats timed trials per row
#   exit-on-run, bad-time   a peer that dies or answers nonsense: reported, its rows skipped, exit 0
if(CMAKE_SCRIPT_MODE_FILE)
  set(args bench search --quick --max-n 2000 --repeats 2 --threads 1)
  set(log ${WORK}/fake-peer-${CASE}.log)
  file(REMOVE ${log})
  if(CASE STREQUAL "missing")
    set(cmd ${CMAKE_COMMAND} -E env SIMAD_FAISS_PYTHON=${WORK}/no-such-python ${SIMAD} ${args})
  else()
    set(mode ${CASE})
    if(CASE STREQUAL "fake")
      set(mode ok)
    endif()
    set(cmd ${CMAKE_COMMAND} -E env SIMAD_FAKE_PEER_LOG=${log} SIMAD_FAKE_PEER_MODE=${mode}
            ${SIMAD} ${args} --faiss-python ${FAKE})
  endif()
  execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "simad ${args} (${CASE}) exited with ${rc}")
  endif()
  # Every case still prints simad's rows and the rest of the suite.
  foreach(want "\n2000 +1000 +10 +\\| +[0-9]" "\n2000 +1 +10 +\\| +[0-9]" "batch-hard triplet mining")
    if(NOT out MATCHES "${want}")
      message(FATAL_ERROR "${CASE}: the output lacks '${want}'")
    endif()
  endforeach()
  if(CASE STREQUAL "missing")
    set(want "peer 2: faiss-cpu \\(PyPI\\) skipped: no Python at [^\n]*no-such-python \\(SIMAD_FAISS_PYTHON\\); "
             "scripts/install-bench-peers installs it")
  elseif(CASE STREQUAL "fake")
    set(pairs "ratio [0-9.]+x [^\n]* pairs\\) \\| [0-9.]+, [0-9]+, [0-9]+, [0-9.e+-]+\n")  # and the agreement
    set(want "peer 2: fake-faiss 0.0 [^\n]*OpenMP 1 threads, timed interleaved"
             "faiss-cpu \\(PyPI\\), interleaved: simad [0-9.]+ q/s, faiss 500000.0 q/s, ${pairs}"
             "faiss-cpu \\(PyPI\\), interleaved: simad [0-9.]+ q/s, faiss 500.0 q/s, ratio [0-9.]+x"
             "latency ms: simad [0-9.]+, faiss-cpu \\(PyPI\\) 2.00\n")
  elseif(CASE STREQUAL "exit-on-run")
    set(want "faiss-cpu \\(PyPI\\) rows skipped from here: [^\n]*exited after 'run 1000 10 1 ")
  elseif(CASE STREQUAL "bad-time")
    set(want "faiss-cpu \\(PyPI\\) rows skipped from here: [^\n]*'time' reply 'soon' is not 'SECONDS ROUNDS'")
  endif()
  foreach(w IN LISTS want)
    if(NOT out MATCHES "${w}")
      message(FATAL_ERROR "${CASE}: the output lacks '${w}'")
    endif()
  endforeach()
  if(CASE STREQUAL "fake")
    # The data first, then per row one untimed 'results' and >= 2 (--repeats) timed trials.
    file(READ ${log} got)
    set(run1000 "run 1000 10 1 [0-9.e-]+\n")
    set(run1 "run 1 10 20 [0-9.e-]+\n")
    set(row1000 "results 1000 10 1\n${run1000}${run1000}(${run1000})*")
    set(row1 "results 1 10 20\n${run1}${run1}(${run1})*")
    if(NOT got MATCHES "^threads 1\nqueries 1000 128\nbase 2000 128\n${row1000}${row1}$")
      message(FATAL_ERROR "the fake peer received:\n${got}")
    endif()
  endif()
  message(STATUS "${CASE}: ok")
  return()
endif()

add_test(NAME "cli/bench search: --help names the PyPI FAISS peer's options" COMMAND simad_cli bench search --help)
set_tests_properties("cli/bench search: --help names the PyPI FAISS peer's options" PROPERTIES
  PASS_REGULAR_EXPRESSION "--faiss-python.*SIMAD_FAISS_PYTHON" TIMEOUT 60)

add_test(NAME "cli/bench search: without the PyPI FAISS peer, one line says how to install it; exit 0"
  COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DWORK=${CMAKE_CURRENT_BINARY_DIR} -DCASE=missing
          -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties("cli/bench search: without the PyPI FAISS peer, one line says how to install it; exit 0"
  PROPERTIES TIMEOUT 300)

# The fake peer is a python3 script with a shebang; without python3 these tests cannot run.
find_program(SIMAD_PYTHON3 python3)
if(SIMAD_PYTHON3)
  foreach(case fake exit-on-run bad-time)
    add_test(NAME "cli/bench search: PyPI FAISS peer protocol with a fake peer (${case})"
      COMMAND ${CMAKE_COMMAND} -DSIMAD=$<TARGET_FILE:simad_cli> -DWORK=${CMAKE_CURRENT_BINARY_DIR} -DCASE=${case}
              -DFAKE=${CMAKE_CURRENT_LIST_DIR}/fake_faiss_peer.py -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties("cli/bench search: PyPI FAISS peer protocol with a fake peer (${case})" PROPERTIES TIMEOUT 300)
  endforeach()
endif()
