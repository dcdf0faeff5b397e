// tests/cuda/emu/shared_memory.cu: shared memory must be private to each block, also when blocks run
// in parallel on several worker threads: static __shared__ (in a template kernel), dynamic shared
// memory through SIMAD_DYNAMIC_SHARED, and literal `extern __shared__`.
#include "simad/cuda/portable.hpp"

#include "kernels.hpp"

namespace simad_emu_test {

constexpr int kThreads = 64;
constexpr int kCols = 17;

__device__ float tile_value(unsigned block, int round, int i) {
  return float(block * 1000u + unsigned(round) * 37u + unsigned(i));
}

// Each thread owns a row of the tile; over 16 barrier rounds it checks another thread's row (written
// by this block in the previous round) and rewrites its own.
__device__ void exercise_tile(float* tile, unsigned* errors) {
  const int t = threadIdx.x;
  const unsigned b = blockIdx.x;
  for (int c = 0; c < kCols; ++c) tile[t * kCols + c] = tile_value(b, 0, t * kCols + c);
  unsigned bad = 0;
  for (int round = 1; round <= 16; ++round) {
    __syncthreads();
    const int other = (t + round) % kThreads;
    for (int c = 0; c < kCols; ++c)
      if (tile[other * kCols + c] != tile_value(b, round - 1, other * kCols + c)) ++bad;
    __syncthreads();
    for (int c = 0; c < kCols; ++c) tile[t * kCols + c] = tile_value(b, round, t * kCols + c);
  }
  if (bad) atomicAdd(errors, bad);
}

__device__ unsigned count_not_nan(const float* p, int n) {
  unsigned miss = 0;
  for (int i = 0; i < n; ++i)
    if (!isnan(p[i])) ++miss;
  return miss;
}

template <int Cols>
__global__ void static_shared_kernel(unsigned* errors) {
  __shared__ float tile[kThreads * Cols];
  exercise_tile(tile, errors);
}

__global__ void dynamic_shared_kernel(unsigned* errors, unsigned* poison_misses) {
  SIMAD_DYNAMIC_SHARED(float, tile);
  const unsigned miss = count_not_nan(tile + threadIdx.x * kCols, kCols);
  if (miss) atomicAdd(poison_misses, miss);
  __syncthreads();
  exercise_tile(tile, errors);
}

#if defined(__CUDACC__) || !defined(SIMAD_EMU_SHARED_AS_STATIC)
SIMAD_DEFINE_EXTERN_SHARED(float, ext_tile);

__global__ void extern_shared_kernel(unsigned* errors, unsigned* poison_misses) {
  extern __shared__ float ext_tile[];
  const unsigned miss = count_not_nan(ext_tile + threadIdx.x * kCols, kCols);
  if (miss) atomicAdd(poison_misses, miss);
  __syncthreads();
  exercise_tile(ext_tile, errors);
}
bool literal_extern_shared_supported() { return true; }
#else
bool literal_extern_shared_supported() { return false; }
#endif

void shared_isolation(int kind, int blocks, unsigned* errors, unsigned* poison_misses) {
  const std::size_t smem = sizeof(float) * kThreads * kCols;
  if (kind == 0) SIMAD_LAUNCH(static_shared_kernel<kCols>, blocks, kThreads, 0, 0, errors);
  if (kind == 1) SIMAD_LAUNCH(dynamic_shared_kernel, blocks, kThreads, smem, 0, errors, poison_misses);
#if defined(__CUDACC__) || !defined(SIMAD_EMU_SHARED_AS_STATIC)
  if (kind == 2) SIMAD_LAUNCH(extern_shared_kernel, blocks, kThreads, smem, 0, errors, poison_misses);
#endif
}

__global__ void dynamic_size_kernel(int n, double* out) {
  SIMAD_DYNAMIC_SHARED(float, buf);
  const unsigned miss = count_not_nan(buf, threadIdx.x == 0 ? n : 0);
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = float(i);
  __syncthreads();
  double sum = 0;
  for (int i = (threadIdx.x + 1) % blockDim.x; i < n; i += blockDim.x) sum += double(buf[i]);
  if (threadIdx.x == 0) out[0] = double(miss);
  atomicAdd(&out[1], sum);
}

void dynamic_shared_size(std::size_t smem_bytes, bool opt_in, double* out) {
  if (opt_in) cudaFuncSetAttribute(dynamic_size_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_bytes));
  SIMAD_LAUNCH(dynamic_size_kernel, 1, 256, smem_bytes, 0, int(smem_bytes / sizeof(float)), out);
}

}  // namespace simad_emu_test
