// simad/cuda/grid_stride.hpp: the grid-stride loop of simad's simple elementwise-style kernels.
//   SIMAD_GRID_STRIDE(i, n) { ... }              this thread's items i of [0, n), 64-bit indices
//   cuda::grid_stride_blocks(n, threads)         the blocks to launch for it: ceil(n / threads),
//                                                at least 1, at most max_blocks (4096: the rest strides)
// For kernel .cu files (after simad/cuda/portable.hpp).
#pragma once

#include <cuda_runtime.h>

namespace simad::cuda {

inline dim3 grid_stride_blocks(long long n, int threads, long long max_blocks = 4096) {
  const long long blocks = (n + threads - 1) / threads;
  return dim3(static_cast<unsigned>(blocks < 1 ? 1 : blocks < max_blocks ? blocks : max_blocks));
}

}  // namespace simad::cuda

#define SIMAD_GRID_STRIDE(i, n)                                                                  \
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<long long>(gridDim.x) * blockDim.x)
