// simad/cuda/kernels/triplet.hpp: batch-hard triplet mining on the GPU (kernels/triplet.cu), float,
// with the semantics and argument order of simad/ops/triplet.hpp (Hermans et al. 2017, eq. 5): the
// forward OVERWRITES loss (1), hardest_pos / hardest_neg (B) and skipped (1, int64), all device
// pointers; the backward ACCUMULATES into demb and skips a null demb. dloss is a host value. Both
// need a workspace of triplet_workspace_bytes(B) device bytes (the same buffer may serve both).
// Bad sizes throw simad::Error; asynchronous on `stream`.
//
// Kernels: mining runs one warp per anchor; lanes stride over the candidates, each computing
// sum_k (a_k - x_k)^2 in order with unfused multiply and add (the CPU op's arithmetic, so the
// selections are the CPU's bit for bit), and the warp reduces (max, smaller index on ties) for the
// positive and (min, smaller index) for the negative with shuffles. One block then averages the
// hinges over the valid anchors in a fixed order. The backward computes each valid anchor's
// coefficients of (a - p) and (a - n), then one block per embedding row gathers, in anchor order,
// every term that lands on that row (as anchor, as someone's positive, as someone's negative):
// deterministic, no atomics.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "simad/ops/triplet.hpp"

namespace simad::cuda::kernels {

size_t triplet_workspace_bytes(int64_t B);

void batch_hard_triplet_forward(float* loss,            // (1)
                                int32_t* hardest_pos,   // (B)
                                int32_t* hardest_neg,   // (B)
                                int64_t* skipped,       // (1)
                                const float* emb,       // (B, D)
                                const int32_t* labels,  // (B)
                                int64_t B, int64_t D, float margin, simad::ops::TripletDistance dist,
                                void* workspace, size_t workspace_bytes, cudaStream_t stream = nullptr);

void batch_hard_triplet_backward(float* demb,                 // (B, D) accumulated
                                 float dloss,                 // host value
                                 const float* emb,            // (B, D)
                                 const int32_t* hardest_pos,  // (B)
                                 const int32_t* hardest_neg,  // (B)
                                 int64_t B, int64_t D, float margin, simad::ops::TripletDistance dist,
                                 void* workspace, size_t workspace_bytes, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
