# cmake/SimadBoostContext.cmake: the IMPORTED target simad::boost_context, boost::context for the SIMT
# emulator's fibers, from Boost's CMake config (Debian's libboost-context-dev ships one) or else a plain
# header + library search. Included by SimadCudaEmulation.cmake and, installed beside simadConfig.cmake,
# by that config for an emulated simad::kernels, so the build and its consumers find Boost the same way.
# Leaves the target undefined when boost::context is not found; the includer reports it.
if(TARGET simad::boost_context)
  return()
endif()
find_package(boost_context CONFIG QUIET)
if(TARGET Boost::context)
  add_library(simad::boost_context INTERFACE IMPORTED)
  set_target_properties(simad::boost_context PROPERTIES INTERFACE_LINK_LIBRARIES Boost::context)
else()
  find_path(SIMAD_BOOST_CONTEXT_INCLUDE_DIR boost/context/detail/fcontext.hpp)
  find_library(SIMAD_BOOST_CONTEXT_LIBRARY boost_context)
  if(SIMAD_BOOST_CONTEXT_INCLUDE_DIR AND SIMAD_BOOST_CONTEXT_LIBRARY)
    add_library(simad::boost_context UNKNOWN IMPORTED)
    set_target_properties(simad::boost_context PROPERTIES
      IMPORTED_LOCATION ${SIMAD_BOOST_CONTEXT_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${SIMAD_BOOST_CONTEXT_INCLUDE_DIR})
  endif()
endif()
