// tests/cuda/emu/kernels.hpp: host wrappers of the emulator's test kernels (tests/cuda/emu/*.cu).
// The .cu files compile with nvcc (nvcc -std=c++20 -arch=sm_90 -I include -c tests/cuda/emu/x.cu) and
// with g++ against the SIMT emulator; test_emulator.cpp runs them under the emulator. Pointers are
// device pointers (cudaMalloc); every wrapper launches through simad::cuda::launch / SIMAD_LAUNCH.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace simad_emu_test {

// ---- builtins.cu ----
// out[12 * global_linear_thread + k]: threadIdx.xyz, blockIdx.xyz, blockDim.xyz, gridDim.xyz.
void write_indices(dim3 grid, dim3 block, unsigned* out);
// Per thread t of `threads` (grid of 2 blocks): out[4t..4t+3] = __shfl_sync(v, lane*7 + src),
// __shfl_up_sync(v, up), __shfl_down_sync(v, down), __shfl_xor_sync(v, xor_mask), all with `width`;
// outf[t] = __shfl_xor_sync(float, 1, width); outd[t] = __shfl_down_sync(double, 1, width).
void shuffles(int threads, int width, int src, unsigned up, unsigned down, int xor_mask, const int* in, int* out,
              float* outf, double* outd);
// Per thread (block of `threads`, 1 block): out[8t..8t+7] = ballot(full), any(full), all(full),
// ballot of its half warp (masks 0x0000ffff / 0xffff0000 at the same time), then lanes 24..31 exit and
// the others write ballot(full, 1), all(full, 1), __activemask(), and 1 after a __syncwarp.
void votes(int threads, const int* pred, unsigned* out);
// Per block (block of 96): out[4b..4b+3] = __syncthreads_count(t % 3 == 0), _and(t < 96), _or(t == 95),
// and __syncthreads_count(1) after threads >= exit_from have returned.
void barrier_counts(int blocks, int exit_from, int* out);

struct AtomicResults {
  int add_i, sub_i, min_i, max_i, and_i, or_i, xor_i, exch_i, cas_i;
  unsigned add_u, sub_u, min_u, max_u, and_u, or_u, xor_u, inc_u, dec_u, exch_u, cas_u;
  long long min_ll, max_ll;
  unsigned long long add_ull, min_ull, max_ull, and_ull, or_ull, xor_ull, exch_ull, cas_ull;
  float add_f, max_f_cas, exch_f;
  double add_d;
  int shared_min, shared_max;  // of block 0's shared-memory atomicMin/atomicMax
};
// n threads (blocks of 128) apply every atomic to *r with values derived from the thread index
// (see builtins.cu); exch_old[t] = the value atomicExch(&r->exch_i, t) returned.
void atomics(int n, AtomicResults* r, int* exch_old);
// Histogram of values in [0, bins) (bins <= 256): shared-memory atomicAdd per block, then global.
void histogram(const int* values, int n, int bins, unsigned* hist);
// out[k * n + i] for the intrinsics listed in builtins.cu, over inputs x[i] (i < n).
void math(const float* x, int n, float* out, int* iout);
inline constexpr int kMathFloatOutputs = 12;
inline constexpr int kMathIntOutputs = 8;

// ---- shared_memory.cu ----
// Each block fills its shared tile with block-specific values and re-checks them over 16 barrier
// rounds; *errors counts wrong reads; *poison_misses counts dynamic-smem words that were not NaN
// when the block started. kind: 0 static __shared__, 1 SIMAD_DYNAMIC_SHARED, 2 literal extern __shared__.
void shared_isolation(int kind, int blocks, unsigned* errors, unsigned* poison_misses);
bool literal_extern_shared_supported();
// Block of 256 threads: out[0] = the count of dynamic-smem floats that were not NaN at the start,
// out[1] = the sum of i over i < smem_bytes / 4, each written by one thread and read by another.
// opt_in: first raise the kernel's limit with cudaFuncSetAttribute(MaxDynamicSharedMemorySize).
void dynamic_shared_size(std::size_t smem_bytes, bool opt_in, double* out);

// ---- sgemm.cu ----
// C[M x N] = A[M x K] * B[K x N], row-major, shared-memory tiles of tile x tile (16 or 32).
void sgemm_tiled(int tile, const float* A, const float* B, float* C, int M, int N, int K, cudaStream_t stream = 0);

// ---- softmax.cu ----
// y = softmax over each row of x[rows x cols]; one block of `threads` (a multiple of 32) per row.
void softmax_rows(const float* x, float* y, int rows, int cols, int threads, cudaStream_t stream = 0);

// ---- misuse.cu ----
// Even threads wait at a __syncthreads, odd ones at a full-mask shuffle: a deadlock.
void divergent_barrier(int blocks, int* out);
extern const int kDivergentBarrierLine, kDivergentShuffleLine;
// Lanes 16..31 return, lanes 0..15 shuffle with xor 16 under a full mask: they read exited lanes.
void shuffle_exited_lanes(int* out);
// Lanes < 16 call __shfl_xor_sync, lanes >= 16 __shfl_down_sync, same full mask.
void shuffle_disagree(int* out);
// Every lane calls __shfl_sync with mask 0x1.
void shuffle_mask_without_self(int* out);
// __shfl_xor_sync with width 12.
void shuffle_bad_width(int* out);
// Threads >= n return, then the rest meet at a __syncthreads (allowed unless strict barriers).
void exit_before_barrier(int threads, int n, int* out);
// Threads < 32 and >= 32 meet at two different __syncthreads call sites.
void split_barrier_sites(int* out);
// A kernel that writes out[i] = i; launched by SIMAD_LAUNCH or (named=false) by simad::cuda::launch.
void fill(dim3 grid, dim3 block, std::size_t smem_bytes, int* out, int n, bool named = true);
cudaError_t fill_allow_dynamic_smem(int bytes);
// Thread 5 of block 1 throws std::runtime_error (emulator only; on nvcc it does nothing).
void throw_in_kernel(int* out);

}  // namespace simad_emu_test
