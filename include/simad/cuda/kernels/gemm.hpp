// simad/cuda/kernels/gemm.hpp: SGEMM on the GPU (kernels/gemm.cu), row-major like simad::ops::gemm.
//   C (M, N) = alpha * op(A) op(B) + beta * C,  op(A) (M, K), op(B) (K, N), op(X) = X or X^T;
//   lda/ldb/ldc are the row strides of the matrices as stored. beta == 0: C is not read (NaN in C does
//   not propagate). K == 0: C = beta * C (0 when beta == 0). All pointers are device pointers.
// gemm / gemm_strided_batched: cuBLAS in the real-CUDA build, simad's tiled kernel under the emulator
// (which has no cuBLAS). gemm_tiled / gemm_strided_batched_tiled: always simad's kernel (64 x 64 x 16
// shared-memory tiles, 256 threads, 4 x 4 outputs per thread; any M, N, K, all four transposes).
// Batched: matrix b of each operand starts at X + b * stride_x. Batches whose C matrices overlap
// (stride_c == 0 with beta == 1 sums every product into one C) run one after another in batch order.
// Bad sizes throw simad::Error (as ops::gemm). Asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc, cudaStream_t stream = nullptr);

void gemm_tiled(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                cudaStream_t stream = nullptr);

void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                          float* C, int64_t ldc, int64_t stride_c, int64_t batch, cudaStream_t stream = nullptr);

void gemm_strided_batched_tiled(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                                const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                                int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch,
                                cudaStream_t stream = nullptr);

// C = alpha op(A) op(B) + beta C on tensor cores: op(A) and op(B) rounded to bf16 (8 significant bits, to
// nearest) as they are staged, products summed in fp32 (mma.sync m16n8k16: simad/cuda/tile_gemm.hpp's
// Bf16MmaMath, 64 x 64 tiles of 4 warps, or Bf16MmaMath128, 128 x 128 tiles of 8 warps, where there are enough
// of those to fill a GPU; tile_side 64 or 128 forces one, 0 chooses). Relative errors of about 2^-8 per product:
// for training and inference that tolerate bf16, at tensor-core rates. Same arguments, checks and beta rules as
// gemm().
void gemm_bf16_tensor_cores(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                            int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                            cudaStream_t stream = nullptr, int tile_side = 0);

// True when gemm() / gemm_strided_batched() go to cuBLAS (the real-CUDA build).
bool gemm_uses_cublas();

}  // namespace simad::cuda::kernels
