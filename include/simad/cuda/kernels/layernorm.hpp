// simad/cuda/kernels/layernorm.hpp: layer normalisation over rows on the GPU (kernels/layernorm.cu),
// float, with the semantics and argument order of simad/ops/layernorm.hpp: forward OVERWRITES out and
// saves mean/rstd (either may be nullptr); weight/bias may be nullptr (1 / 0); the variance is taken
// in two passes. Backward ACCUMULATES into dinp, dweight, dbias (each may be nullptr).
// Pointers are device pointers; bad sizes throw simad::Error; asynchronous on `stream`.
//
// Kernels: forward and dinp run one warp per row for C <= 1024 (8 rows per 256-thread block), one
// block per row beyond. dweight/dbias are DETERMINISTIC (no float atomics: the bits do not depend on
// the schedule): a first kernel sums fixed chunks of rows per column into a workspace (32-column x
// 8-row-lane blocks, lanes combined in a fixed order), a second adds the chunk partials of each column
// in chunk order. Their workspace (2 * chunks * C floats, chunks <= 256; none for N <= 64) is the
// caller's (layernorm_backward_workspace_bytes, cub's way: no allocation in the call), or, in the
// overload without one, stream-ordered memory (cudaMallocAsync / cudaFreeAsync on `stream`).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace simad::cuda::kernels {

void layernorm_forward(float* out,           // (N, C)
                       float* mean,          // (N) saved for backward, or nullptr
                       float* rstd,          // (N) saved for backward, or nullptr
                       const float* inp,     // (N, C)
                       const float* weight,  // (C) or nullptr (1)
                       const float* bias,    // (C) or nullptr (0)
                       int64_t N, int64_t C, float eps = 1e-5f, cudaStream_t stream = nullptr);

void layernorm_backward(float* dinp,          // (N, C) accumulated, or nullptr
                        float* dweight,       // (C) accumulated, or nullptr
                        float* dbias,         // (C) accumulated, or nullptr
                        const float* dout,    // (N, C)
                        const float* inp,     // (N, C) the forward input
                        const float* weight,  // (C) or nullptr (1)
                        const float* mean,    // (N) saved by the forward
                        const float* rstd,    // (N) saved by the forward
                        int64_t N, int64_t C, cudaStream_t stream = nullptr);

// Device bytes the backward's dweight/dbias need (0 for N <= 64); one buffer serves every call with
// this N and C, and may be reused once the call's kernels have run (stream order).
size_t layernorm_backward_workspace_bytes(int64_t N, int64_t C);

// The same backward with a caller-owned workspace of workspace_bytes >= layernorm_backward_workspace_bytes
// (N, C) (unused when dweight and dbias are nullptr); allocates nothing. The same bits as above.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C,
                        void* workspace, size_t workspace_bytes, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
