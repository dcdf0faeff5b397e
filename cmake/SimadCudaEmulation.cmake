# cmake/SimadCudaEmulation.cmake: CUDA kernels compiled by the host compiler against the SIMT emulator
# (include/simad/cuda/emu/). The top CMakeLists includes it when -DSIMAD_CUDA_EMULATION=ON.
#
#   simad::cuda_emu   INTERFACE target: include/simad/cuda/emu/shim first on the include path (its
#                     cuda_runtime.h & co. replace CUDA's), boost_context + Threads, -rdynamic (kernel
#                     names in error messages come from the dynamic symbol table).
#   simad_add_emulated_cuda_sources(<target> <file.cu>...)
#                     adds .cu files to a target, compiled as C++ (LANGUAGE CXX: CMake passes -x c++)
#                     against the emulator. -Wno-unknown-pragmas: kernels use `#pragma unroll`.
#
# Options:
#   SIMAD_CUDA_EMU_SHARED_AS_STATIC  __shared__ becomes plain `static` and one worker runs all blocks,
#                                    so AddressSanitizer sees shared-memory overruns (default: ON with
#                                    SIMAD_SANITIZE). Literal `extern __shared__` is then unavailable.
#   SIMAD_CUDA_EMU_UCONTEXT          glibc ucontext fibers instead of boost::context (no Boost needed;
#                                    about 15-20x slower switches).
include_guard(GLOBAL)

option(SIMAD_CUDA_EMU_SHARED_AS_STATIC "SIMT emulator: __shared__ as plain static, one worker (for ASan)" ${SIMAD_SANITIZE})
option(SIMAD_CUDA_EMU_UCONTEXT "SIMT emulator: ucontext fibers instead of boost::context" OFF)

find_package(Threads REQUIRED)

set(_simad_emu_fiber_libs)
if(NOT SIMAD_CUDA_EMU_UCONTEXT)
  include(${CMAKE_CURRENT_LIST_DIR}/SimadBoostContext.cmake)
  if(NOT TARGET simad::boost_context)
    message(FATAL_ERROR "SIMAD_CUDA_EMULATION needs boost::context (apt-get install libboost-context-dev), "
                        "or -DSIMAD_CUDA_EMU_UCONTEXT=ON for the slower ucontext fibers")
  endif()
  set(_simad_emu_fiber_libs simad::boost_context)
endif()

add_library(simad_cuda_emu INTERFACE)
add_library(simad::cuda_emu ALIAS simad_cuda_emu)
target_include_directories(simad_cuda_emu BEFORE INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include/simad/cuda/emu/shim>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/simad/cuda/emu/shim>)
# Installed (with simad::kernels) as simad::cuda_emu.
set_target_properties(simad_cuda_emu PROPERTIES EXPORT_NAME cuda_emu)
target_link_libraries(simad_cuda_emu INTERFACE simad::simad Threads::Threads ${_simad_emu_fiber_libs})
target_link_options(simad_cuda_emu INTERFACE -rdynamic)
if(SIMAD_CUDA_EMU_SHARED_AS_STATIC)
  target_compile_definitions(simad_cuda_emu INTERFACE SIMAD_EMU_SHARED_AS_STATIC=1)
endif()
if(SIMAD_CUDA_EMU_UCONTEXT)
  target_compile_definitions(simad_cuda_emu INTERFACE SIMAD_EMU_UCONTEXT=1)
endif()
if(SIMAD_CUDA_EMU_UCONTEXT)
  set(_simad_emu_fibers ucontext)
else()
  set(_simad_emu_fibers boost::context)
endif()
message(STATUS "simad: CUDA emulation: fibers ${_simad_emu_fibers}, shared-as-static ${SIMAD_CUDA_EMU_SHARED_AS_STATIC}")

# simad_add_emulated_cuda_sources(<target> <sources>...): .cu files compiled as C++ against the emulator.
function(simad_add_emulated_cuda_sources target)
  set(cu_sources ${ARGN})
  if(NOT cu_sources)
    return()
  endif()
  set_source_files_properties(${cu_sources} TARGET_DIRECTORY ${target} PROPERTIES
    LANGUAGE CXX
    COMPILE_OPTIONS "-Wno-unknown-pragmas")
  target_sources(${target} PRIVATE ${cu_sources})
  target_link_libraries(${target} PRIVATE simad::cuda_emu)
endfunction()
