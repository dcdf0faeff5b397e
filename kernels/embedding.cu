// kernels/embedding.cu: embedding lookup and scatter-add backward (simad/cuda/kernels/embedding.hpp).
#include "simad/cuda/portable.hpp"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/embedding.hpp"

namespace simad::cuda::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;  // one warp per position

// *first_bad = min over positions i with ids[i] outside [0, V) (left alone when none).
__global__ void embedding_check_ids_kernel(int* first_bad, const int32_t* __restrict__ ids, int N, int64_t V) {
  for (int i = int(blockIdx.x * blockDim.x + threadIdx.x); i < N; i += int(gridDim.x * blockDim.x)) {
    const int32_t id = ids[i];
    if (id < 0 || id >= V) atomicMin(first_bad, i);
  }
}

__global__ void embedding_forward_kernel(float* __restrict__ out, const int32_t* __restrict__ ids,
                                         const float* __restrict__ table, int N, int C, int64_t V,
                                         int32_t padding_id) {
  const int64_t i = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (i >= N) return;
  const int lane = int(threadIdx.x) & 31;
  const int32_t id = ids[i];
  float* y = out + i * C;
  if (id == padding_id || id < 0 || id >= V) {  // (bad ids were rejected by the launcher)
    for (int j = lane; j < C; j += 32) y[j] = 0.0f;
    return;
  }
  const float* row = table + int64_t(id) * C;
  for (int j = lane; j < C; j += 32) y[j] = row[j];
}

__global__ void embedding_backward_kernel(float* __restrict__ dtable, const float* __restrict__ dout,
                                          const int32_t* __restrict__ ids, int N, int C, int64_t V,
                                          int32_t padding_id) {
  const int64_t i = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (i >= N) return;
  const int32_t id = ids[i];
  if (id == padding_id || id < 0 || id >= V) return;
  const int lane = int(threadIdx.x) & 31;
  const float* g = dout + i * C;
  float* d = dtable + int64_t(id) * C;
  for (int j = lane; j < C; j += 32) atomicAdd(d + j, g[j]);
}

void cuda_check(cudaError_t e, const char* what) {
  SIMAD_CHECK(e == cudaSuccess, "cuda embedding: ", what, ": ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

// Host-side argument checks, then the device id check (one stream synchronisation).
void check_ids(const char* what, const int32_t* ids, int64_t N, int64_t C, int64_t V, int32_t padding_id,
               cudaStream_t stream) {
  SIMAD_CHECK(N >= 0 && C >= 0 && V >= 0, what, ": negative size N=", N, " C=", C, " V=", V);
  SIMAD_CHECK(N < INT_MAX && C <= INT_MAX, what, ": N=", N, " or C=", C, " is too large");
  SIMAD_CHECK(padding_id >= -1 && padding_id < V, what, ": padding_id ", padding_id, " is neither -1 nor in [0, V=",
              V, ")");
  SIMAD_CHECK(N == 0 || ids != nullptr, what, ": null ids for N=", N);
  if (N == 0) return;
  int* dbad = nullptr;
  cuda_check(cudaMallocAsync(reinterpret_cast<void**>(&dbad), sizeof(int), stream), "cudaMallocAsync");
  int bad = INT_MAX;
  cudaError_t e = cudaMemsetAsync(dbad, 0x7f, sizeof(int), stream);  // 0x7f7f7f7f > any N here
  if (e == cudaSuccess) {
    const unsigned blocks = unsigned(std::min<int64_t>((N + kThreads - 1) / kThreads, 1024));
    try {
      SIMAD_LAUNCH(embedding_check_ids_kernel, blocks, kThreads, 0, stream, dbad, ids, int(N), V);
    } catch (...) {
      (void)cudaFreeAsync(dbad, stream);
      throw;
    }
    e = cudaMemcpyAsync(&bad, dbad, sizeof(int), cudaMemcpyDeviceToHost, stream);
  }
  (void)cudaFreeAsync(dbad, stream);
  cuda_check(e, "id check");
  cuda_check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  if (bad < N) {
    int32_t id = 0;
    cuda_check(cudaMemcpy(&id, ids + bad, sizeof id, cudaMemcpyDeviceToHost), "cudaMemcpy of an id");
    fail(what, ": id ", id, " at position ", bad, " is out of range [0, V=", V, ")");
  }
}

}  // namespace

void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C, int64_t V,
                       int32_t padding_id, cudaStream_t stream) {
  check_ids("cuda embedding_forward", ids, N, C, V, padding_id, stream);
  if (N == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && table != nullptr, "cuda embedding_forward: null out or table for N=", N, " C=", C);
  SIMAD_LAUNCH(embedding_forward_kernel, unsigned((N + kRowsPerBlock - 1) / kRowsPerBlock), kThreads, 0, stream, out,
               ids, table, int(N), int(C), V, padding_id);
}

void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C, int64_t V,
                        int32_t padding_id, cudaStream_t stream) {
  if (!dtable) return;
  check_ids("cuda embedding_backward", ids, N, C, V, padding_id, stream);
  if (N == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr, "cuda embedding_backward: null dout for N=", N, " C=", C);
  SIMAD_LAUNCH(embedding_backward_kernel, unsigned((N + kRowsPerBlock - 1) / kRowsPerBlock), kThreads, 0, stream,
               dtable, dout, ids, int(N), int(C), V, padding_id);
}

}  // namespace simad::cuda::kernels
