// kernels/layernorm.cu: layer normalisation forward and backward (simad/cuda/kernels/layernorm.hpp).
// Rows are handled by a warp (C <= kWarpRowMaxC, 8 rows per block) or a whole block; the parameter
// gradients by a deterministic two-kernel reduction over row chunks (no float atomics).
#include "simad/cuda/portable.hpp"

#include <math.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/layernorm.hpp"
#include "simad/cuda/row_reduce.hpp"

namespace simad::cuda::kernels {
namespace {

using namespace simad::cuda::rows;

constexpr int kParamCols = 32;          // columns per block of the dweight/dbias kernel (one per lane)
constexpr int kParamLanes = 8;          // row lanes per block of that kernel
constexpr int kChunkRows = 64;          // rows per chunk partial (fewer chunks when N > 256 * 64)
constexpr int kMaxChunks = 256;

template <bool kBlock>
__global__ void layernorm_forward_kernel(float* __restrict__ out, float* __restrict__ mean, float* __restrict__ rstd,
                                         const float* __restrict__ inp, const float* __restrict__ weight,
                                         const float* __restrict__ bias, int N, int C, float eps) {
  __shared__ float red[32];
  int64_t row;
  int t, stride;
  if (!row_of_group<kBlock>(N, row, t, stride)) return;
  const float* x = inp + row * C;
  const float inv_C = 1.0f / float(C);
  float s = 0.0f;
  for (int j = t; j < C; j += stride) s += x[j];
  const float m = group_sum<kBlock>(s, red) * inv_C;
  float v = 0.0f;
  for (int j = t; j < C; j += stride) {
    const float d = x[j] - m;
    v += d * d;
  }
  v = group_sum<kBlock>(v, red) * inv_C;
  const float r = rsqrtf(v + eps);
  float* y = out + row * C;
  for (int j = t; j < C; j += stride)
    y[j] = (x[j] - m) * r * (weight ? weight[j] : 1.0f) + (bias ? bias[j] : 0.0f);
  if (t == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
}

template <bool kBlock>
__global__ void layernorm_backward_dinp_kernel(float* __restrict__ dinp, const float* __restrict__ dout,
                                               const float* __restrict__ inp, const float* __restrict__ weight,
                                               const float* __restrict__ mean, const float* __restrict__ rstd, int N,
                                               int C) {
  __shared__ float red[32];
  int64_t row;
  int t, stride;
  if (!row_of_group<kBlock>(N, row, t, stride)) return;
  const float* x = inp + row * C;
  const float* dy = dout + row * C;
  const float m = mean[row], r = rstd[row];
  float g_sum = 0.0f, gx_sum = 0.0f;  // sum_k g_k, sum_k g_k xhat_k
  for (int j = t; j < C; j += stride) {
    const float g = weight ? dy[j] * weight[j] : dy[j];
    g_sum += g;
    gx_sum += g * (x[j] - m) * r;
  }
  const float inv_C = 1.0f / float(C);
  const float g_mean = group_sum<kBlock>(g_sum, red) * inv_C;
  const float gx_mean = group_sum<kBlock>(gx_sum, red) * inv_C;
  float* dx = dinp + row * C;
  for (int j = t; j < C; j += stride) {
    const float g = weight ? dy[j] * weight[j] : dy[j];
    dx[j] += r * (g - g_mean - (x[j] - m) * r * gx_mean);
  }
}

// Block (kParamCols, kParamLanes), grid (column tiles, chunks). Block (tile, chunk) sums rows
// [chunk * rows_per_chunk, +rows_per_chunk) of its 32 columns: lane y takes every kParamLanes-th row,
// then lane sums are added in lane order. With one chunk it accumulates into dweight/dbias directly;
// otherwise it writes pw/pb[chunk * C + j] for layernorm_param_grad_final_kernel.
__global__ void layernorm_param_grad_partial_kernel(float* __restrict__ dweight, float* __restrict__ dbias,
                                                    float* __restrict__ pw, float* __restrict__ pb,
                                                    const float* __restrict__ dout, const float* __restrict__ inp,
                                                    const float* __restrict__ mean, const float* __restrict__ rstd,
                                                    int N, int C, int rows_per_chunk) {
  __shared__ float sw[kParamLanes][kParamCols + 1], sb[kParamLanes][kParamCols + 1];
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int j = int(blockIdx.x) * kParamCols + tx;
  const int64_t i0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t i1 = i0 + rows_per_chunk < N ? i0 + rows_per_chunk : int64_t(N);
  float aw = 0.0f, ab = 0.0f;
  if (j < C) {
    for (int64_t i = i0 + ty; i < i1; i += kParamLanes) {
      const float g = dout[i * C + j];
      aw += g * ((inp[i * C + j] - mean[i]) * rstd[i]);
      ab += g;
    }
  }
  sw[ty][tx] = aw;
  sb[ty][tx] = ab;
  __syncthreads();
  if (ty == 0 && j < C) {
    for (int y = 1; y < kParamLanes; ++y) aw += sw[y][tx], ab += sb[y][tx];
    if (gridDim.y == 1) {
      if (dweight) dweight[j] += aw;
      if (dbias) dbias[j] += ab;
    } else {
      pw[int64_t(blockIdx.y) * C + j] = aw;
      pb[int64_t(blockIdx.y) * C + j] = ab;
    }
  }
}

// One thread per column: the chunk partials in chunk order.
__global__ void layernorm_param_grad_final_kernel(float* __restrict__ dweight, float* __restrict__ dbias,
                                                  const float* __restrict__ pw, const float* __restrict__ pb,
                                                  int chunks, int C) {
  const int j = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (j >= C) return;
  float aw = 0.0f, ab = 0.0f;
  for (int c = 0; c < chunks; ++c) aw += pw[int64_t(c) * C + j], ab += pb[int64_t(c) * C + j];
  if (dweight) dweight[j] += aw;
  if (dbias) dbias[j] += ab;
}

void cuda_check(cudaError_t e, const char* what) { check_op_call(e, "layernorm", what); }

void check_sizes(const char* what, int64_t N, int64_t C) {
  SIMAD_CHECK(N >= 0 && C >= 0, what, ": negative size N=", N, " C=", C);
  SIMAD_CHECK(N <= INT_MAX && C <= INT_MAX, what, ": N=", N, " or C=", C, " is above INT_MAX");
}

unsigned warp_row_blocks(int64_t N) {
  const int64_t rows_per_block = kWarpRowsThreads / 32;
  return unsigned((N + rows_per_block - 1) / rows_per_block);
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps, cudaStream_t stream) {
  check_sizes("cuda layernorm_forward", N, C);
  SIMAD_CHECK(eps >= 0.0f && std::isfinite(eps), "cuda layernorm_forward: eps must be finite and >= 0, got ", eps);
  if (N == 0) return;
  SIMAD_CHECK(C >= 1, "cuda layernorm_forward: C must be >= 1 for N=", N, " rows");
  SIMAD_CHECK(out != nullptr && inp != nullptr, "cuda layernorm_forward: null out or inp for N=", N, " C=", C);
  if (C <= kWarpRowMaxC)
    SIMAD_LAUNCH(layernorm_forward_kernel<false>, warp_row_blocks(N), kWarpRowsThreads, 0, stream, out, mean, rstd,
                 inp, weight, bias, int(N), int(C), eps);
  else
    SIMAD_LAUNCH(layernorm_forward_kernel<true>, unsigned(N), block_row_threads(C), 0, stream, out, mean, rstd, inp,
                 weight, bias, int(N), int(C), eps);
}

namespace {

// The dweight/dbias chunking: it depends on N only, so the bits of dweight/dbias are fixed by the shape.
int64_t param_grad_chunks(int64_t N) { return std::min<int64_t>(kMaxChunks, (N + kChunkRows - 1) / kChunkRows); }

// The backward on a workspace of at least layernorm_backward_workspace_bytes(N, C) (nullptr when that is 0).
void backward_on(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                 const float* mean, const float* rstd, int64_t N, int64_t C, float* ws, cudaStream_t stream) {
  if (dinp) {
    if (C <= kWarpRowMaxC)
      SIMAD_LAUNCH(layernorm_backward_dinp_kernel<false>, warp_row_blocks(N), kWarpRowsThreads, 0, stream, dinp,
                   dout, inp, weight, mean, rstd, int(N), int(C));
    else
      SIMAD_LAUNCH(layernorm_backward_dinp_kernel<true>, unsigned(N), block_row_threads(C), 0, stream, dinp, dout,
                   inp, weight, mean, rstd, int(N), int(C));
  }
  if (dweight || dbias) {
    const int64_t chunks = param_grad_chunks(N);
    const int rows_per_chunk = int((N + chunks - 1) / chunks);
    const dim3 grid(unsigned((C + kParamCols - 1) / kParamCols), unsigned(chunks));
    const dim3 block(kParamCols, kParamLanes);
    float* pw = chunks > 1 ? ws : nullptr;
    float* pb = chunks > 1 ? ws + chunks * C : nullptr;
    SIMAD_LAUNCH(layernorm_param_grad_partial_kernel, grid, block, 0, stream, dweight, dbias, pw, pb, dout, inp, mean,
                 rstd, int(N), int(C), rows_per_chunk);
    if (chunks > 1)
      SIMAD_LAUNCH(layernorm_param_grad_final_kernel, unsigned((C + 255) / 256), 256, 0, stream, dweight, dbias, pw,
                   pb, int(chunks), int(C));
  }
}

// Checks shared by both backward overloads; false when there is nothing to do.
bool backward_wanted(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* mean, const float* rstd, int64_t N, int64_t C) {
  check_sizes("cuda layernorm_backward", N, C);
  if (N == 0 || C == 0 || (!dinp && !dweight && !dbias)) return false;
  SIMAD_CHECK(dout != nullptr && inp != nullptr && mean != nullptr && rstd != nullptr,
              "cuda layernorm_backward: null dout, inp, mean or rstd for N=", N, " C=", C);
  return true;
}

}  // namespace

size_t layernorm_backward_workspace_bytes(int64_t N, int64_t C) {
  check_sizes("cuda layernorm_backward_workspace_bytes", N, C);
  const int64_t chunks = param_grad_chunks(N);
  return chunks > 1 ? sizeof(float) * size_t(2 * chunks * C) : 0;
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C,
                        void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (!backward_wanted(dinp, dweight, dbias, dout, inp, mean, rstd, N, C)) return;
  if (dweight || dbias) {
    const size_t need = layernorm_backward_workspace_bytes(N, C);
    SIMAD_CHECK(workspace_bytes >= need && (need == 0 || workspace != nullptr),
                "cuda layernorm_backward: workspace of ", workspace_bytes, " bytes", workspace ? "" : " (null)",
                ", needs ", need, " for N=", N, " C=", C);
  }
  backward_on(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C, static_cast<float*>(workspace), stream);
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C,
                        cudaStream_t stream) {
  if (!backward_wanted(dinp, dweight, dbias, dout, inp, mean, rstd, N, C)) return;
  const size_t bytes = dweight || dbias ? layernorm_backward_workspace_bytes(N, C) : 0;
  float* ws = nullptr;
  if (bytes > 0)
    cuda_check(cudaMallocAsync(reinterpret_cast<void**>(&ws), bytes, stream),
               "cudaMallocAsync of the dweight/dbias workspace");
  try {
    backward_on(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C, ws, stream);
  } catch (...) {
    if (ws) (void)cudaFreeAsync(ws, stream);
    throw;
  }
  if (ws) cuda_check(cudaFreeAsync(ws, stream), "cudaFreeAsync of the dweight/dbias workspace");
}

}  // namespace simad::cuda::kernels
