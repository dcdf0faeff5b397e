// tests/cuda/emu/softmax.cu: row softmax, one block per row. Warp reductions with shuffles (xor for
// the max, down + broadcast for the sum), a cross-warp step in static shared memory, and the row
// cached in dynamic shared memory (cols floats).
#include "simad/cuda/portable.hpp"

#include <math.h>

#include "kernels.hpp"

namespace simad_emu_test {

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, unsigned(offset));
  return __shfl_sync(0xffffffffu, v, 0);
}

// Block-wide reduction (blockDim.x a multiple of 32): every thread gets the result.
template <bool IsMax>
__device__ float block_reduce(float v, float* red) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = IsMax ? warp_max(v) : warp_sum(v);
  if (lane == 0) red[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < warps ? red[lane] : (IsMax ? -INFINITY : 0.0f);
    w = IsMax ? warp_max(w) : warp_sum(w);
    if (lane == 0) red[32] = w;
  }
  __syncthreads();
  const float result = red[32];
  __syncthreads();  // red is reused by the next reduction
  return result;
}

__global__ void softmax_rows_kernel(const float* __restrict__ x, float* __restrict__ y, int rows, int cols) {
  SIMAD_DYNAMIC_SHARED(float, srow);
  __shared__ float red[33];
  const int row = blockIdx.x;
  if (row >= rows) return;
  const float* xr = x + static_cast<long>(row) * cols;
  float m = -INFINITY;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = xr[c];
    srow[c] = v;
    m = fmaxf(m, v);
  }
  m = block_reduce<true>(m, red);
  float s = 0.0f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float e = __expf(srow[c] - m);
    srow[c] = e;
    s += e;
  }
  s = block_reduce<false>(s, red);
  const float inv = __fdividef(1.0f, s);
  float* yr = y + static_cast<long>(row) * cols;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = srow[c] * inv;
}

void softmax_rows(const float* x, float* y, int rows, int cols, int threads, cudaStream_t stream) {
  SIMAD_LAUNCH(softmax_rows_kernel, rows, threads, sizeof(float) * std::size_t(cols), stream, x, y, rows, cols);
}

}  // namespace simad_emu_test
