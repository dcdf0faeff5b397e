// simad/cuda/kernels/attention.hpp: fused multi-head self-attention on the GPU (kernels/attention.cu),
// float, with the semantics and argument order of simad/ops/attention.hpp: qkv (B, N, 3C) packed as
// q | k | v, head h in columns [h hs, (h + 1) hs) of each third; mask (B, N) 1 = token, 0 = padding
// (padded keys get no weight; a sequence with no key outputs zeros and lse = +inf); the forward
// OVERWRITES out and lse; the backward ACCUMULATES into dqkv (skipped when null). Pointers are device
// pointers; bad sizes throw simad::Error; asynchronous on `stream`.
//
// FlashAttention style (Dao et al. 2022): a block owns a tile of 32 query rows (forward, dQ) or 32
// keys (dK/dV) of one (sequence, head); the other side streams through shared memory in tiles of 32
// rows; scores live only in registers, softmax is online (running max and sum), and the backward
// recomputes the probabilities from lse. Head size hs = C / NH must be <= kCudaAttentionMaxHeadSize.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

inline constexpr int64_t kCudaAttentionMaxHeadSize = 64;

void attention_forward(float* out,           // (B, N, C)
                       float* lse,           // (B, NH, N) saved for backward
                       const float* qkv,     // (B, N, 3C)
                       const uint8_t* mask,  // (B, N) or nullptr
                       int64_t B, int64_t N, int64_t C, int64_t NH, cudaStream_t stream = nullptr);

// The forward on tensor cores: q, k, v and the probabilities rounded to bf16 for the two products (QK^T, PV:
// mma.sync m16n8k16, fp32 sums), the softmax in fp32. Same arguments and semantics as attention_forward;
// outputs within about 1e-2 of its (relative errors of about 2^-8 per product), lse closer. For inference:
// the backward expects attention_forward's out and lse. A block of 4 warps owns 64 query rows.
void attention_forward_bf16_tensor_cores(float* out, float* lse, const float* qkv, const uint8_t* mask, int64_t B,
                                         int64_t N, int64_t C, int64_t NH, cudaStream_t stream = nullptr);

void attention_backward(float* dqkv,          // (B, N, 3C) accumulated
                        const float* dout,    // (B, N, C)
                        const float* qkv,     // (B, N, 3C)
                        const float* out,     // (B, N, C) the forward output
                        const float* lse,     // (B, NH, N) the forward's
                        const uint8_t* mask,  // (B, N) or nullptr
                        int64_t B, int64_t N, int64_t C, int64_t NH, cudaStream_t stream = nullptr);

// The backward on tensor cores: every product (S = Q K^T and dO V^T recomputed, dS K, P^T dO, dS^T Q) on
// mma.sync m16n8k16 with its inputs rounded to bf16 and fp32 sums; P, dS and D = rowsum(dO o O) in fp32. Same
// arguments and semantics as attention_backward (on attention_forward's out and lse); gradients within a few
// percent of its. Blocks of 4 warps own 64 query rows (dQ) or 64 keys (dK, dV), no atomics.
void attention_backward_bf16_tensor_cores(float* dqkv, const float* dout, const float* qkv, const float* out,
                                          const float* lse, const uint8_t* mask, int64_t B, int64_t N, int64_t C,
                                          int64_t NH, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
