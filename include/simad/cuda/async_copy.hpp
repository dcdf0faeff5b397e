// simad/cuda/async_copy.hpp: global-to-shared copies that bypass registers (sm_80's cp.async), for the tile
// loops that stage slices while the previous slice is multiplied (simad/cuda/tile_gemm.hpp):
//   async_copy_f32(dst, src, valid)   dst (shared) = valid ? *src (global) : 0, when waited for; src must be a
//                                     valid global address even when !valid (it is then not read)
//   async_copy_commit()               closes the group of copies this thread issued since the last commit
//   async_copy_wait_all()             waits for all of this thread's copies; a __syncthreads() after it makes
//                                     them visible to the block
// With nvcc: cp.async.ca.shared.global with a source size of 4 or 0 (zero fill), cp.async.commit_group,
// cp.async.wait_all (inline PTX, as cuda/mma.hpp). Under the SIMT emulator the copy is written only at the
// wait (simad/cuda/emu/device.hpp), so reading a staging buffer before waiting fails a test instead of
// passing by luck. Included by kernels/*.cu only.
#pragma once

#include "simad/cuda/portable.hpp"

namespace simad::cuda {

__device__ __forceinline__ void async_copy_f32(float* dst, const float* src, bool valid) {
#if defined(__CUDACC__)
  const unsigned shared = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared), "l"(src), "r"(valid ? 4 : 0));
#else
  ::simad::cuda::emu::async_copy_4(dst, src, valid);
#endif
}

__device__ __forceinline__ void async_copy_commit() {
#if defined(__CUDACC__)
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

__device__ __forceinline__ void async_copy_wait_all() {
#if defined(__CUDACC__)
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#else
  ::simad::cuda::emu::async_copy_wait_all();
#endif
}

}  // namespace simad::cuda
