// simad/cuda/kernels/fusion_attention.hpp: the dual-softmax fusion attention on the GPU
// (kernels/fusion_attention.cu), float, with the semantics and argument order of
// simad/ops/fusion_attention.hpp (S = H W_f V^T per ad; A = softmax over regions, P = softmax over
// words; H~ = A V, V~ = P^T H; masks 1 = real, 0 = padding). Forward OVERWRITES its outputs (A and P
// are saved for the backward); backward ACCUMULATES into dH, dV, dW_f (each may be null).
// One block per ad keeps the ad's score matrix in shared memory: N * K <= kCudaFusionMaxScores.
// With W_f, U = V W_f^T and the W_f gradients are GEMMs (kernels::gemm) over all B K region rows (the CPU
// op's algebra); they need a caller-provided device workspace of B K D floats (forward) and 2 B K D
// floats (backward); without
// W_f the workspace may be null. Pointers are device pointers; bad sizes throw simad::Error;
// asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

inline constexpr int64_t kCudaFusionMaxScores = 6144;  // N * K per ad: two float matrices in 48 KiB

void fusion_attention_forward(float* h_out,           // (B, N, D)
                              float* v_out,           // (B, K, D)
                              float* probs_text,      // (B, N, K) A
                              float* probs_image,     // (B, N, K) P
                              const float* H,         // (B, N, D)
                              const float* V,         // (B, K, D)
                              const float* Wf,        // (D, D) or nullptr (identity)
                              const uint8_t* h_mask,  // (B, N) or nullptr
                              const uint8_t* v_mask,  // (B, K) or nullptr
                              int64_t B, int64_t N, int64_t K, int64_t D,
                              float* workspace,       // (B, K, D) when Wf != nullptr
                              cudaStream_t stream = nullptr);

void fusion_attention_backward(float* dH,                 // (B, N, D) accumulated, or nullptr
                               float* dV,                 // (B, K, D) accumulated, or nullptr
                               float* dWf,                // (D, D) accumulated, or nullptr
                               const float* dh_out,       // (B, N, D)
                               const float* dv_out,       // (B, K, D)
                               const float* H,            // (B, N, D)
                               const float* V,            // (B, K, D)
                               const float* Wf,           // (D, D) or nullptr
                               const float* probs_text,   // (B, N, K) the forward's A
                               const float* probs_image,  // (B, N, K) the forward's P
                               int64_t B, int64_t N, int64_t K, int64_t D,
                               float* workspace,          // (2, B, K, D) when Wf != nullptr
                               cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
