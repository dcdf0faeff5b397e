// simad/cuda/emu/emu.hpp: the SIMT emulator, everything. Kernels do not include this directly: they
// include simad/cuda/portable.hpp, which picks nvcc or the emulator. The shim headers in
// include/simad/cuda/emu/shim/ (cuda_runtime.h, ...) include it, so that host code written for CUDA
// compiles against it when that directory comes first on the include path (target simad::cuda_emu).
//
// What it is: each CUDA thread runs as a fiber (boost::context); the blocks of a grid run on a pool
// of worker OS threads (SIMAD_EMU_WORKERS); barriers, warp shuffles/votes, shared memory and atomics
// behave as on a GPU, and misuse (deadlocks, bad shuffles, bad launch configurations) is reported.
// Knobs: config.hpp. Launch errors: simad/cuda/launch.hpp. Barrier and warp rules: scheduler.hpp.
//
// What kernels must avoid to stay emulatable (it cannot work, or is not checked):
// - waiting for another block (flags in global memory, grid-wide sync, cooperative launch, clusters)
//   or for another thread without a barrier or warp operation: fibers switch only at those, so a spin
//   loop never ends; launching kernels from a kernel;
// - warp-synchronous code without *_sync intrinsics (lanes run to their next sync point one by one);
//   __activemask() gives the lanes that have not exited (divergence is not modelled);
// - inline PTX, TMA/wgmma, wmma, __half/bfloat16, textures, cooperative_groups, cuBLAS/cuDNN (not
//   provided: such code does not compile here). cp.async and mma.sync are provided only through simad's
//   wrappers (simad/cuda/async_copy.hpp, simad/cuda/mma.hpp), which emulate them;
// - non-trivial types in __shared__ (constructed once per worker thread, not per block). Static
//   __shared__ keeps the previous block's values (only dynamic shared memory is poisoned);
// - relying on __launch_bounds__ or the 48 KiB static shared memory limit (not checked: see the
//   nvcc build's resource report), on assert() (it aborts the process; a thrown exception becomes a
//   launch failure instead), or on a __syncthreads inside a catch handler (the C++ runtime's
//   exception state is per OS thread, shared by the fibers);
// - per-thread stacks above SIMAD_EMU_STACK_KB (default 64 KiB; an overflow hits a guard page).
// Results of float code can differ from a GPU's in the last bits (no FMA contraction, exact __expf).
#pragma once

#if defined(__CUDACC__)
#error "include/simad/cuda/emu is the host-compiler SIMT emulator: it must never be compiled by nvcc (is include/simad/cuda/emu/shim on nvcc's include path?)"
#endif

#include "simad/cuda/emu/config.hpp"
#include "simad/cuda/emu/types.hpp"
#include "simad/cuda/emu/runtime_types.hpp"
#include "simad/cuda/emu/scheduler.hpp"
#include "simad/cuda/emu/device.hpp"
#include "simad/cuda/emu/runtime.hpp"

// Literal `extern __shared__ T name[];` in a kernel: under the emulator it is a thread_local array that
// some translation unit must define. Put SIMAD_DEFINE_EXTERN_SHARED(T, name); at namespace scope (the
// kernel's namespace) before the kernel; it expands to nothing useful under nvcc. The array is
// kExternSharedBytes (227 KiB) per worker thread, private to the running block, and poisoned with
// 0xFF bytes for each block like SIMAD_DYNAMIC_SHARED; overruns past the launch's smem_bytes are not
// detected. Not available with SIMAD_EMU_SHARED_AS_STATIC (`extern static` is ill-formed); prefer
// SIMAD_DYNAMIC_SHARED (simad/cuda/portable.hpp), which works everywhere.
#if defined(SIMAD_EMU_SHARED_AS_STATIC)
#define SIMAD_DEFINE_EXTERN_SHARED(T, name)                                                              \
  static_assert(sizeof(T) == 0, "literal extern __shared__ does not work with SIMAD_EMU_SHARED_AS_STATIC: " \
                                "use SIMAD_DYNAMIC_SHARED(T, name) in the kernel")
#else
#define SIMAD_DEFINE_EXTERN_SHARED(T, name)                                                                \
  inline thread_local T name[::simad::cuda::emu::kExternSharedBytes / sizeof(T)];                          \
  inline const bool simad_emu_extern_shared_##name =                                                     \
      ::simad::cuda::emu::detail::register_extern_shared([]() -> void* { return static_cast<void*>(name); })
#endif
