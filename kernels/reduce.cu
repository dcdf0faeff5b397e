// kernels/reduce.cu: deterministic sums and means (simad/cuda/kernels/reduce.hpp). Double
// accumulation, fixed orders, no atomics; backward kernels are grid-stride broadcasts.
#include "simad/cuda/portable.hpp"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/reduce.hpp"
#include "simad/cuda/row_reduce.hpp"

namespace simad::cuda::kernels {
namespace {

using namespace simad::cuda::rows;

constexpr int kThreads = 256;
constexpr int64_t kAllChunkMin = 8192;  // elements per block of the all-elements sum, at least
constexpr int kMaxBlocks = 256;         // partials of the all-elements and over-rows sums
constexpr int kColTile = 32, kRowLanes = 8, kChunkRows = 64;

// Block b sums inp[b * chunk, min(N, (b + 1) * chunk)); one block: out[0] = sum / divisor.
__global__ void reduce_all_partial_kernel(double* __restrict__ partial, float* __restrict__ out,
                                          const float* __restrict__ inp, int64_t N, int64_t chunk, double divisor) {
  __shared__ double red[32];
  const int64_t begin = int64_t(blockIdx.x) * chunk;
  const int64_t end = begin + chunk < N ? begin + chunk : N;
  double s = 0.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) s += double(inp[i]);
  s = group_sum<true>(s, red);
  if (threadIdx.x == 0) {
    if (gridDim.x == 1) out[0] = float(s / divisor);
    else partial[blockIdx.x] = s;
  }
}

__global__ void reduce_all_final_kernel(float* __restrict__ out, const double* __restrict__ partial, int blocks,
                                        double divisor) {
  __shared__ double red[32];
  double s = 0.0;
  for (int b = int(threadIdx.x); b < blocks; b += int(blockDim.x)) s += partial[b];
  s = group_sum<true>(s, red);
  if (threadIdx.x == 0) out[0] = float(s / divisor);
}

// Block (kColTile, kRowLanes), grid (column tiles, chunks): column sums of rows
// [chunk * rows_per_chunk, +rows_per_chunk), lanes added in lane order; one chunk: out[j] = s / divisor,
// else partial[chunk * C + j] = s.
__global__ void reduce_cols_partial_kernel(double* __restrict__ partial, float* __restrict__ out,
                                           const float* __restrict__ inp, int64_t N, int C, int rows_per_chunk,
                                           double divisor) {
  __shared__ double acc[kRowLanes][kColTile + 1];
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int j = int(blockIdx.x) * kColTile + tx;
  const int64_t i0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t i1 = i0 + rows_per_chunk < N ? i0 + rows_per_chunk : N;
  double s = 0.0;
  if (j < C)
    for (int64_t i = i0 + ty; i < i1; i += kRowLanes) s += double(inp[i * C + j]);
  acc[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && j < C) {
    for (int y = 1; y < kRowLanes; ++y) s += acc[y][tx];
    if (gridDim.y == 1) out[j] = float(s / divisor);
    else partial[int64_t(blockIdx.y) * C + j] = s;
  }
}

__global__ void reduce_cols_final_kernel(float* __restrict__ out, const double* __restrict__ partial, int chunks,
                                         int C, double divisor) {
  const int j = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (j >= C) return;
  double s = 0.0;
  for (int c = 0; c < chunks; ++c) s += partial[int64_t(c) * C + j];
  out[j] = float(s / divisor);
}

// out[row] = sum_j inp[row, j] * scale, a warp or a block per row.
template <bool kBlock>
__global__ void reduce_rows_kernel(float* __restrict__ out, const float* __restrict__ inp, int N, int C,
                                   double scale) {
  __shared__ double red[32];
  int64_t row;
  int t, stride;
  if constexpr (kBlock) {
    row = blockIdx.x, t = int(threadIdx.x), stride = int(blockDim.x);
  } else {
    row = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5), t = int(threadIdx.x) & 31, stride = 32;
  }
  if (row >= N) return;  // uniform over the row's group
  const float* x = inp + row * C;
  double s = 0.0;
  for (int j = t; j < C; j += stride) s += double(x[j]);
  s = group_sum<kBlock>(s, red);
  if (t == 0) out[row] = float(s * scale);
}

// Broadcast backward: dinp[i, j] += g with k = 0 (kind 0, all), j (kind 1, over rows) or i (kind 2,
// over columns); as the CPU op, g = float(double(dout[k]) / f) for kinds 0 and 1 (f = 1 or N) and
// float(double(dout[k]) * f) for kind 2 (f = 1 or 1 / C). C = 1 for kind 0.
template <int kKind>
__global__ void reduce_broadcast_kernel(float* __restrict__ dinp, const float* __restrict__ dout, int64_t N, int64_t C,
                                        double f) {
  const int64_t total = N * C;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = kKind == 0 ? 0 : kKind == 1 ? idx % C : idx / C;
    const double d = double(dout[k]);
    dinp[idx] += kKind == 2 ? float(d * f) : float(d / f);
  }
}

void cuda_check(cudaError_t e, const char* what) { check_op_call(e, "reduce", what); }

struct Workspace {
  void* ptr = nullptr;
  cudaStream_t stream;
  Workspace(std::size_t bytes, cudaStream_t s) : stream(s) {
    if (bytes) cuda_check(cudaMallocAsync(&ptr, bytes, stream), "cudaMallocAsync of the workspace");
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() {
    if (ptr) (void)cudaFreeAsync(ptr, stream);
  }
};

void check_sizes(const char* what, int64_t N, int64_t C) {
  SIMAD_CHECK(N >= 0 && C >= 0, what, ": negative size N=", N, " C=", C);
  SIMAD_CHECK(N <= INT_MAX && C <= INT_MAX, what, ": N=", N, " or C=", C, " is above INT_MAX");
}

unsigned broadcast_blocks(int64_t total) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((total + kThreads - 1) / kThreads, 8192)));
}

void sum_all(float* out, const float* inp, int64_t N, double divisor, cudaStream_t stream) {
  // The chunking depends on N only: the bits depend on nothing else.
  const int64_t blocks = std::clamp<int64_t>((N + kAllChunkMin - 1) / kAllChunkMin, 1, kMaxBlocks);
  const int64_t chunk = std::max<int64_t>(1, (N + blocks - 1) / blocks);
  Workspace ws(blocks > 1 ? sizeof(double) * std::size_t(blocks) : 0, stream);
  auto* partial = static_cast<double*>(ws.ptr);
  SIMAD_LAUNCH(reduce_all_partial_kernel, unsigned(blocks), kThreads, 0, stream, partial, out, inp, N, chunk, divisor);
  if (blocks > 1)
    SIMAD_LAUNCH(reduce_all_final_kernel, 1, kThreads, 0, stream, out, partial, int(blocks), divisor);
}

void sum_rows(float* out, const float* inp, int64_t N, int64_t C, double divisor, cudaStream_t stream) {
  const int64_t chunks = std::clamp<int64_t>((N + kChunkRows - 1) / kChunkRows, 1, kMaxBlocks);
  const int rows_per_chunk = int(std::max<int64_t>(1, (N + chunks - 1) / chunks));
  Workspace ws(chunks > 1 ? sizeof(double) * std::size_t(chunks * C) : 0, stream);
  auto* partial = static_cast<double*>(ws.ptr);
  const dim3 grid(unsigned((C + kColTile - 1) / kColTile), unsigned(chunks)), block(kColTile, kRowLanes);
  SIMAD_LAUNCH(reduce_cols_partial_kernel, grid, block, 0, stream, partial, out, inp, N, int(C), rows_per_chunk,
               divisor);
  if (chunks > 1)
    SIMAD_LAUNCH(reduce_cols_final_kernel, unsigned((C + kThreads - 1) / kThreads), kThreads, 0, stream, out, partial,
                 int(chunks), int(C), divisor);
}

void sum_cols(float* out, const float* inp, int64_t N, int64_t C, double scale, cudaStream_t stream) {
  if (C <= kWarpRowMaxC) {
    const int64_t rows_per_block = kWarpRowsThreads / 32;
    SIMAD_LAUNCH(reduce_rows_kernel<false>, unsigned((N + rows_per_block - 1) / rows_per_block), kWarpRowsThreads, 0,
                 stream, out, inp, int(N), int(C), scale);
  } else {
    SIMAD_LAUNCH(reduce_rows_kernel<true>, unsigned(N), block_row_threads(C), 0, stream, out, inp, int(N), int(C),
                 scale);
  }
}

template <int kKind>
void broadcast(float* dinp, const float* dout, int64_t N, int64_t C, double f, cudaStream_t stream) {
  SIMAD_LAUNCH(reduce_broadcast_kernel<kKind>, broadcast_blocks(N * C), kThreads, 0, stream, dinp, dout, N, C, f);
}

}  // namespace

// ---- all elements
void sum_forward(float* out, const float* inp, int64_t N, cudaStream_t stream) {
  SIMAD_CHECK(N >= 0, "cuda sum_forward: negative size N=", N);
  SIMAD_CHECK(out != nullptr && (N == 0 || inp != nullptr), "cuda sum_forward: null out or inp for N=", N);
  sum_all(out, inp, N, 1.0, stream);
}
void mean_forward(float* out, const float* inp, int64_t N, cudaStream_t stream) {
  SIMAD_CHECK(N >= 1, "cuda mean_forward: the mean of ", N, " elements is undefined");
  SIMAD_CHECK(out != nullptr && inp != nullptr, "cuda mean_forward: null out or inp for N=", N);
  sum_all(out, inp, N, double(N), stream);
}
void sum_backward(float* dinp, const float* dout, int64_t N, cudaStream_t stream) {
  SIMAD_CHECK(N >= 0, "cuda sum_backward: negative size N=", N);
  if (!dinp || N == 0) return;
  SIMAD_CHECK(dout != nullptr, "cuda sum_backward: null dout");
  broadcast<0>(dinp, dout, N, 1, 1.0, stream);
}
void mean_backward(float* dinp, const float* dout, int64_t N, cudaStream_t stream) {
  SIMAD_CHECK(N >= 1, "cuda mean_backward: the mean of ", N, " elements is undefined");
  if (!dinp) return;
  SIMAD_CHECK(dout != nullptr, "cuda mean_backward: null dout");
  broadcast<0>(dinp, dout, N, 1, double(N), stream);
}

// ---- over rows
void sum_over_rows_forward(float* out, const float* inp, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda sum_over_rows_forward", N, C);
  if (C == 0) return;
  SIMAD_CHECK(out != nullptr && (N == 0 || inp != nullptr), "cuda sum_over_rows_forward: null out or inp for N=", N,
              " C=", C);
  sum_rows(out, inp, N, C, 1.0, stream);
}
void mean_over_rows_forward(float* out, const float* inp, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda mean_over_rows_forward", N, C);
  SIMAD_CHECK(N >= 1, "cuda mean_over_rows_forward: the mean over ", N, " rows is undefined");
  if (C == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "cuda mean_over_rows_forward: null out or inp for N=", N, " C=", C);
  sum_rows(out, inp, N, C, double(N), stream);
}
void sum_over_rows_backward(float* dinp, const float* dout, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda sum_over_rows_backward", N, C);
  if (!dinp || N == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr, "cuda sum_over_rows_backward: null dout");
  broadcast<1>(dinp, dout, N, C, 1.0, stream);
}
void mean_over_rows_backward(float* dinp, const float* dout, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda mean_over_rows_backward", N, C);
  SIMAD_CHECK(N >= 1, "cuda mean_over_rows_backward: the mean over ", N, " rows is undefined");
  if (!dinp || C == 0) return;
  SIMAD_CHECK(dout != nullptr, "cuda mean_over_rows_backward: null dout");
  broadcast<1>(dinp, dout, N, C, double(N), stream);
}

// ---- over columns
void sum_over_cols_forward(float* out, const float* inp, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda sum_over_cols_forward", N, C);
  if (N == 0) return;
  SIMAD_CHECK(out != nullptr && (C == 0 || inp != nullptr), "cuda sum_over_cols_forward: null out or inp for N=", N,
              " C=", C);
  sum_cols(out, inp, N, C, 1.0, stream);
}
void mean_over_cols_forward(float* out, const float* inp, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda mean_over_cols_forward", N, C);
  SIMAD_CHECK(C >= 1, "cuda mean_over_cols_forward: the mean over ", C, " columns is undefined");
  if (N == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "cuda mean_over_cols_forward: null out or inp for N=", N, " C=", C);
  sum_cols(out, inp, N, C, 1.0 / double(C), stream);
}
void sum_over_cols_backward(float* dinp, const float* dout, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda sum_over_cols_backward", N, C);
  if (!dinp || N == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr, "cuda sum_over_cols_backward: null dout");
  broadcast<2>(dinp, dout, N, C, 1.0, stream);
}
void mean_over_cols_backward(float* dinp, const float* dout, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda mean_over_cols_backward", N, C);
  SIMAD_CHECK(C >= 1, "cuda mean_over_cols_backward: the mean over ", C, " columns is undefined");
  if (!dinp || N == 0) return;
  SIMAD_CHECK(dout != nullptr, "cuda mean_over_cols_backward: null dout");
  broadcast<2>(dinp, dout, N, C, 1.0 / double(C), stream);
}

}  // namespace simad::cuda::kernels
