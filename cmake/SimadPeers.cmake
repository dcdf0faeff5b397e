# Benchmark peers: the libraries users would otherwise pick, timed beside simad in the same run.
# Included once per directory that uses them (imported targets are directory-scoped).
# Optional: a build without them still builds; the peer columns then say "not built".
#   FAISS (libfaiss-dev, static, CPU only): IndexFlatL2 for exact search      -> SIMAD_HAVE_FAISS
#   oneDNN (libdnnl-dev; its config needs ocl-icd-opencl-dev): fp32 convolution -> SIMAD_HAVE_DNNL
find_package(OpenMP QUIET)
if(OpenMP_CXX_FOUND)
  find_package(faiss CONFIG QUIET)
endif()
find_package(dnnl CONFIG QUIET)

# simad_link_peers(<target>): links the peers found and defines SIMAD_HAVE_<PEER>=1 for each.
function(simad_link_peers target)
  if(TARGET faiss)
    target_link_libraries(${target} PRIVATE faiss)
    target_compile_definitions(${target} PRIVATE SIMAD_HAVE_FAISS=1)
  endif()
  if(TARGET DNNL::dnnl)
    target_link_libraries(${target} PRIVATE DNNL::dnnl)
    target_compile_definitions(${target} PRIVATE SIMAD_HAVE_DNNL=1)
  endif()
endfunction()
