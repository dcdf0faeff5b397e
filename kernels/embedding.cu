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
__global__ void embedding_reset_kernel(int* first_bad) { *first_bad = INT_MAX; }

__global__ void embedding_check_ids_kernel(int* first_bad, const int32_t* __restrict__ ids, int N, int64_t V) {
  for (int i = int(blockIdx.x * blockDim.x + threadIdx.x); i < N; i += int(gridDim.x * blockDim.x)) {
    const int32_t id = ids[i];
    if (id < 0 || id >= V) atomicMin(first_bad, i);
  }
}

// A bad id at position i: recorded in *first_bad by one lane (deferred forms; null: the launcher checked).
__device__ void note_bad_position(int* first_bad, int64_t i, int lane) {
  if (first_bad && lane == 0) atomicMin(first_bad, int(i));
}

__global__ void embedding_forward_kernel(float* __restrict__ out, const int32_t* __restrict__ ids,
                                         const float* __restrict__ table, int N, int C, int64_t V,
                                         int32_t padding_id, int* first_bad) {
  const int64_t i = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (i >= N) return;
  const int lane = int(threadIdx.x) & 31;
  const int32_t id = ids[i];
  float* y = out + i * C;
  if (id < 0 || id >= V) note_bad_position(first_bad, i, lane);  // padding_id is -1 (none) or in [0, V)
  if (id == padding_id || id < 0 || id >= V) {
    for (int j = lane; j < C; j += 32) y[j] = 0.0f;
    return;
  }
  const float* row = table + int64_t(id) * C;
  for (int j = lane; j < C; j += 32) y[j] = row[j];
}

__global__ void embedding_backward_kernel(float* __restrict__ dtable, const float* __restrict__ dout,
                                          const int32_t* __restrict__ ids, int N, int C, int64_t V,
                                          int32_t padding_id, int* first_bad) {
  const int64_t i = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (i >= N) return;
  const int32_t id = ids[i];
  const int lane = int(threadIdx.x) & 31;
  if (id < 0 || id >= V) note_bad_position(first_bad, i, lane);  // padding_id is -1 (none) or in [0, V)
  if (id == padding_id || id < 0 || id >= V) return;
  const float* g = dout + i * C;
  float* d = dtable + int64_t(id) * C;
  for (int j = lane; j < C; j += 32) atomicAdd(d + j, g[j]);
}

void cuda_check(cudaError_t e, const char* what) { check_op_call(e, "embedding", what); }

// The host-side argument checks of every form.
void check_arguments(const char* what, const int32_t* ids, int64_t N, int64_t C, int64_t V, int32_t padding_id) {
  SIMAD_CHECK(N >= 0 && C >= 0 && V >= 0, what, ": negative size N=", N, " C=", C, " V=", V);
  SIMAD_CHECK(N < INT_MAX && C <= INT_MAX, what, ": N=", N, " or C=", C, " is too large");
  SIMAD_CHECK(padding_id >= -1 && padding_id < V, what, ": padding_id ", padding_id, " is neither -1 nor in [0, V=",
              V, ")");
  SIMAD_CHECK(N == 0 || ids != nullptr, what, ": null ids for N=", N);
}

// The argument checks, then the device id check (one stream synchronisation).
void check_ids(const char* what, const int32_t* ids, int64_t N, int64_t C, int64_t V, int32_t padding_id,
               cudaStream_t stream) {
  check_arguments(what, ids, N, C, V, padding_id);
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
  if (bad < N) embedding_check_bad_position(what, bad, ids, V);
}

// The lookup and scatter kernels, after the argument checks; first_bad null: the ids were checked.
void launch_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C, int64_t V,
                    int32_t padding_id, int* first_bad, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && table != nullptr, "cuda embedding_forward: null out or table for N=", N, " C=", C);
  SIMAD_LAUNCH(embedding_forward_kernel, unsigned((N + kRowsPerBlock - 1) / kRowsPerBlock), kThreads, 0, stream, out,
               ids, table, int(N), int(C), V, padding_id, first_bad);
}

void launch_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C, int64_t V,
                     int32_t padding_id, int* first_bad, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr, "cuda embedding_backward: null dout for N=", N, " C=", C);
  SIMAD_LAUNCH(embedding_backward_kernel, unsigned((N + kRowsPerBlock - 1) / kRowsPerBlock), kThreads, 0, stream,
               dtable, dout, ids, int(N), int(C), V, padding_id, first_bad);
}

}  // namespace

void embedding_check_bad_position(const char* what, int first_bad_host, const int32_t* ids, int64_t V) {
  if (first_bad_host == embedding_no_bad_position) return;
  SIMAD_CHECK(first_bad_host >= 0 && ids != nullptr, what, ": bad first-bad-position flag ", first_bad_host);
  int32_t id = 0;
  cuda_check(cudaMemcpy(&id, ids + first_bad_host, sizeof id, cudaMemcpyDeviceToHost), "cudaMemcpy of an id");
  fail(what, ": id ", id, " at position ", first_bad_host, " is out of range [0, V=", V, ")");
}

void embedding_reset_bad_position(int* first_bad, cudaStream_t stream) {
  SIMAD_CHECK(first_bad != nullptr, "cuda embedding_reset_bad_position: null flag");
  SIMAD_LAUNCH(embedding_reset_kernel, 1, 1, 0, stream, first_bad);
}

void embedding_forward_deferred(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C, int64_t V,
                                int32_t padding_id, int* first_bad, cudaStream_t stream) {
  check_arguments("cuda embedding_forward_deferred", ids, N, C, V, padding_id);
  SIMAD_CHECK(first_bad != nullptr, "cuda embedding_forward_deferred: null first_bad flag");
  launch_forward(out, ids, table, N, C, V, padding_id, first_bad, stream);
}

void embedding_backward_deferred(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C,
                                 int64_t V, int32_t padding_id, int* first_bad, cudaStream_t stream) {
  if (!dtable) return;
  check_arguments("cuda embedding_backward_deferred", ids, N, C, V, padding_id);
  SIMAD_CHECK(first_bad != nullptr, "cuda embedding_backward_deferred: null first_bad flag");
  launch_backward(dtable, dout, ids, N, C, V, padding_id, first_bad, stream);
}

void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C, int64_t V,
                       int32_t padding_id, cudaStream_t stream) {
  check_ids("cuda embedding_forward", ids, N, C, V, padding_id, stream);
  launch_forward(out, ids, table, N, C, V, padding_id, nullptr, stream);
}

void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C, int64_t V,
                        int32_t padding_id, cudaStream_t stream) {
  if (!dtable) return;
  check_ids("cuda embedding_backward", ids, N, C, V, padding_id, stream);
  launch_backward(dtable, dout, ids, N, C, V, padding_id, nullptr, stream);
}

}  // namespace simad::cuda::kernels
