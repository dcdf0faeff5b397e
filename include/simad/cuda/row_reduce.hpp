// simad/cuda/row_reduce.hpp: device building blocks of the row kernels (softmax, layernorm,
// cross-entropy, reductions). A row is worked on by a group: one warp for rows of up to
// kWarpRowMaxC elements (kWarpRowsThreads / 32 rows per block), or a whole block for longer rows
// (kBlock = true). Included by kernels/*.cu only (nvcc or the SIMT emulator).
#pragma once

#include <cstdint>

#include "simad/cuda/portable.hpp"

namespace simad::cuda::rows {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarpRowsThreads = 256;   // block of the warp-per-row kernels: 8 rows
constexpr int64_t kWarpRowMaxC = 1024;  // longest row handled by one warp

// Threads of a block that works on one row of C elements.
inline int block_row_threads(int64_t C) { return C <= 4096 ? 256 : C <= 16384 ? 512 : 1024; }

// Sum over the 32 lanes, xor butterfly: every lane gets the same bits (a + b == b + a).
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

__device__ __forceinline__ int warp_min(int v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(kFull, v, o));
  return v;
}

// Sum over the row group (kBlock: the block, through red[32] in shared memory; else the warp).
template <bool kBlock, typename T>
__device__ __forceinline__ T group_sum(T v, T* red) {
  v = warp_sum(v);
  if constexpr (kBlock) {
    const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, warps = int(blockDim.x) >> 5;
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = warp_sum(lane < warps ? red[lane] : T(0));  // every warp reduces the partials itself
    __syncthreads();                                // red may be reused next
  }
  return v;
}

// (m, s) = running max and sum of exp(x - m) of a set; m = -inf, s = 0 for the empty set.
__device__ __forceinline__ void merge_max_sum(float& m, float& s, float m2, float s2) {
  const float mm = fmaxf(m, m2);
  if (mm == -INFINITY) return;  // both empty
  s = s * expf(m - mm) + s2 * expf(m2 - mm);
  m = mm;
}

// Down-shuffle tree, then lane 0's result to all lanes (merge is not bitwise commutative once the
// compiler contracts it into an FMA, so a butterfly could leave lanes with different bits).
__device__ __forceinline__ void warp_max_sum(float& m, float& s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_down_sync(kFull, m, unsigned(o)), s2 = __shfl_down_sync(kFull, s, unsigned(o));
    merge_max_sum(m, s, m2, s2);
  }
  m = __shfl_sync(kFull, m, 0);
  s = __shfl_sync(kFull, s, 0);
}

template <bool kBlock>
__device__ __forceinline__ void group_max_sum(float& m, float& s, float* red_m, float* red_s) {
  warp_max_sum(m, s);
  if constexpr (kBlock) {
    const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, warps = int(blockDim.x) >> 5;
    if (lane == 0) red_m[warp] = m, red_s[warp] = s;
    __syncthreads();
    m = lane < warps ? red_m[lane] : -INFINITY;
    s = lane < warps ? red_s[lane] : 0.0f;
    warp_max_sum(m, s);
    __syncthreads();
  }
}

// The row this group works on and the thread's place in it; false when the group has no row.
template <bool kBlock>
__device__ __forceinline__ bool row_of_group(int N, int64_t& row, int& t, int& stride) {
  if constexpr (kBlock) {
    row = blockIdx.x, t = int(threadIdx.x), stride = int(blockDim.x);
  } else {
    row = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5), t = int(threadIdx.x) & 31, stride = 32;
  }
  return row < N;  // uniform over the group: a warp-row group exits as a whole
}

}  // namespace simad::cuda::rows
