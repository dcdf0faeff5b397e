// simad/cuda/kernels/reduce.hpp: sums and means on the GPU (kernels/reduce.cu), float in and out,
// with the semantics and argument order of simad/ops/reduce.hpp:
//   all:          out (1) = sum (or mean) of inp (N)
//   over rows:    out (C), out_j = sum_i inp_ij (or / N)      (N, C) -> (C)
//   over columns: out (N), out_i = sum_j inp_ij (or / C)      (N, C) -> (N)
// Backward broadcasts and ACCUMULATES (dinp may be nullptr); dout is a device pointer too. The mean of
// zero elements throws simad::Error. Pointers are device pointers; asynchronous on `stream`.
//
// Determinism: no atomics. Every sum is accumulated in double in an order fixed by the shape alone
// (per-thread strided partials, a fixed shuffle tree per warp, warps in order), so two runs give the
// same bits whatever the schedule:
//   - all: up to 256 blocks each sum a fixed contiguous chunk; a one-block kernel adds the block
//     partials (one kernel when one block suffices). Workspace: stream-ordered (cudaMallocAsync).
//   - over rows: blocks of 32 columns x 8 row lanes sum chunks of <= 64 rows per column (up to 256
//     chunks); a second kernel adds each column's chunk partials in order (workspace as above).
//   - over columns: one warp per row (C <= 1024) or one block per row.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

// ---- all elements
void sum_forward(float* out, const float* inp, int64_t N, cudaStream_t stream = nullptr);    // (1) <- (N)
void mean_forward(float* out, const float* inp, int64_t N, cudaStream_t stream = nullptr);   // (1) <- (N)
// dinp_i += dout[0] (sum) or dout[0] / N (mean).
void sum_backward(float* dinp, const float* dout, int64_t N, cudaStream_t stream = nullptr);
void mean_backward(float* dinp, const float* dout, int64_t N, cudaStream_t stream = nullptr);

// ---- over rows (reduces N): (N, C) -> (C)
void sum_over_rows_forward(float* out, const float* inp, int64_t N, int64_t C, cudaStream_t stream = nullptr);
void mean_over_rows_forward(float* out, const float* inp, int64_t N, int64_t C, cudaStream_t stream = nullptr);
// dinp_ij += dout_j (sum) or dout_j / N (mean).
void sum_over_rows_backward(float* dinp, const float* dout, int64_t N, int64_t C, cudaStream_t stream = nullptr);
void mean_over_rows_backward(float* dinp, const float* dout, int64_t N, int64_t C, cudaStream_t stream = nullptr);

// ---- over columns (reduces C): (N, C) -> (N)
void sum_over_cols_forward(float* out, const float* inp, int64_t N, int64_t C, cudaStream_t stream = nullptr);
void mean_over_cols_forward(float* out, const float* inp, int64_t N, int64_t C, cudaStream_t stream = nullptr);
// dinp_ij += dout_i (sum) or dout_i / C (mean).
void sum_over_cols_backward(float* dinp, const float* dout, int64_t N, int64_t C, cudaStream_t stream = nullptr);
void mean_over_cols_backward(float* dinp, const float* dout, int64_t N, int64_t C, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
