// tests/cuda/emu/misuse.cu: deliberately broken kernels. On a GPU they hang or give undefined
// results; the emulator must report each as an error naming the kernel, the block and the call site.
#include "simad/cuda/portable.hpp"

#if !defined(__CUDACC__)
#include <stdexcept>
#endif

#include "kernels.hpp"

namespace simad_emu_test {

// Keep these two in step with the lines of the __syncthreads and the shuffle below.
const int kDivergentBarrierLine = __LINE__ + 7;
const int kDivergentShuffleLine = __LINE__ + 7;

__global__ void divergent_barrier_kernel(int* out) {
  __shared__ int s[64];
  s[threadIdx.x] = int(threadIdx.x);
  // Planted bug: only even threads reach the barrier; odd threads wait for them in the shuffle.
  if (threadIdx.x % 2 == 0) __syncthreads();
  const int v = __shfl_xor_sync(0xffffffffu, s[threadIdx.x ^ 1u], 1);
  out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

void divergent_barrier(int blocks, int* out) { SIMAD_LAUNCH(divergent_barrier_kernel, blocks, 64, 0, 0, out); }

__global__ void shuffle_exited_lanes_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  if (lane >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, lane, 16);
}

void shuffle_exited_lanes(int* out) { SIMAD_LAUNCH(shuffle_exited_lanes_kernel, 1, 32, 0, 0, out); }

__global__ void shuffle_disagree_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  int v = lane;
  if (lane < 16)
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  else
    v = __shfl_down_sync(0xffffffffu, v, 1u);
  out[threadIdx.x] = v;
}

void shuffle_disagree(int* out) { SIMAD_LAUNCH(shuffle_disagree_kernel, 1, 32, 0, 0, out); }

__global__ void shuffle_mask_without_self_kernel(int* out) {
  out[threadIdx.x] = __shfl_sync(0x1u, int(threadIdx.x), 0);
}

void shuffle_mask_without_self(int* out) { SIMAD_LAUNCH(shuffle_mask_without_self_kernel, 1, 32, 0, 0, out); }

__global__ void shuffle_bad_width_kernel(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1, 12);
}

void shuffle_bad_width(int* out) { SIMAD_LAUNCH(shuffle_bad_width_kernel, 1, 32, 0, 0, out); }

__global__ void exit_before_barrier_kernel(int n, int* out) {
  __shared__ int s[1024];
  const int t = threadIdx.x;
  if (t >= n) return;
  s[t] = t;
  __syncthreads();
  out[t] = s[(t + 1) % n];
}

void exit_before_barrier(int threads, int n, int* out) {
  SIMAD_LAUNCH(exit_before_barrier_kernel, 1, threads, 0, 0, n, out);
}

__global__ void split_barrier_sites_kernel(int* out) {
  __shared__ int s[64];
  const int t = threadIdx.x;
  s[t] = t;
  if (t < 32)
    __syncthreads();
  else
    __syncthreads();
  out[t] = s[63 - t];
}

void split_barrier_sites(int* out) { SIMAD_LAUNCH(split_barrier_sites_kernel, 1, 64, 0, 0, out); }

__global__ void fill_kernel(int* out, int n) {
  const int i = blockIdx.x * (blockDim.x * blockDim.y * blockDim.z) +
                threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  if (i < n) out[i] = i;
}

void fill(dim3 grid, dim3 block, std::size_t smem_bytes, int* out, int n, bool named) {
  if (named)
    SIMAD_LAUNCH(fill_kernel, grid, block, smem_bytes, 0, out, n);
  else
    simad::cuda::launch(fill_kernel, grid, block, smem_bytes, 0, out, n);
}

cudaError_t fill_allow_dynamic_smem(int bytes) {
  return cudaFuncSetAttribute(fill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

__global__ void throw_in_kernel_kernel(int* out) {
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
#if !defined(__CUDACC__)
  if (blockIdx.x == 1 && threadIdx.x == 5) throw std::runtime_error("thrown by thread 5 of block 1");
#endif
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = 2;
}

void throw_in_kernel(int* out) { SIMAD_LAUNCH(throw_in_kernel_kernel, 4, 32, 0, 0, out); }

}  // namespace simad_emu_test
