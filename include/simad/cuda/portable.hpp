// simad/cuda/portable.hpp: the one header a kernel .cu file includes. The same file then compiles
//   - with nvcc (real CUDA): cuda_runtime.h is CUDA's, launch() uses <<< >>>;
//   - with the host compiler against the SIMT emulator (target simad::cuda_emu puts
//     include/simad/cuda/emu/shim first on the include path, so cuda_runtime.h is the emulator's).
//
// Rules for emulatable kernels: launch only through simad::cuda::launch / SIMAD_LAUNCH; only built-ins
// the emulator provides (others are undeclared there, on purpose); dynamic shared memory through
// SIMAD_DYNAMIC_SHARED; no inline PTX, grid-wide sync, or spinning on another block's/thread's flag.
#pragma once

#include <cuda_runtime.h>

#include "simad/cuda/launch.hpp"

// SIMAD_DYNAMIC_SHARED(T, name): `T* name` = the block's dynamic shared memory (the launch's
// smem_bytes). Use it instead of `extern __shared__ T name[];` (it also works in template kernels with
// different T). Under the emulator the buffer has exactly smem_bytes (ASan sees overruns) and is
// filled with 0xFF bytes (NaN) for every block.
#if defined(__CUDACC__)
#define SIMAD_DYNAMIC_SHARED(T, name)                                      \
  extern __shared__ __align__(16) unsigned char simad_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(simad_dynamic_smem_)
// See simad/cuda/emu/emu.hpp: only the emulator needs a definition of literal extern __shared__ arrays.
#define SIMAD_DEFINE_EXTERN_SHARED(T, name) static_assert(true, "")
#else
#define SIMAD_DYNAMIC_SHARED(T, name) T* name = ::simad::cuda::emu::dynamic_shared<T>()
#endif
