// simad/cuda/kernels/cross_entropy.hpp: softmax cross-entropy from logits on the GPU
// (kernels/cross_entropy.cu), float, with the semantics and argument order of
// simad/ops/cross_entropy.hpp: the forward returns the mean loss over the rows whose target is not
// ignore_index (0 when every row is ignored) and saves probs (softmax of EVERY row; may be nullptr);
// the backward ACCUMULATES dlogits += (probs - onehot(target)) * dloss / count over the rows that count
// (dlogits may be nullptr). A target outside [0, C) that is not the ignore index throws simad::Error
// naming the first such row. Pointers are device pointers.
//
// Synchronisation: both launchers wait for `stream` once (the forward returns the loss to the host,
// and both need the count of rows and the target check on the host). On a bad target the forward has
// already written probs.
// Kernels: one warp per row (C <= 1024) or one block per row computes the online (max, sum of exp),
// probs and the row's loss in double; one block then sums the row losses in a fixed order (strided
// per thread, fixed shuffle tree): the loss has the same bits on every run. The backward is an
// elementwise kernel over (N, C).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

float cross_entropy_forward(float* probs,                // (N, C) saved for backward, or nullptr
                            const float* logits,         // (N, C)
                            const int32_t* targets,      // (N) class index in [0, C), or ignore_index
                            int64_t N, int64_t C, int32_t ignore_index = -100, cudaStream_t stream = nullptr);

void cross_entropy_backward(float* dlogits,            // (N, C) accumulated, or nullptr
                            float dloss,               // scalar: d(objective) / d(loss)
                            const float* probs,        // (N, C) saved by the forward
                            const int32_t* targets,    // (N)
                            int64_t N, int64_t C, int32_t ignore_index = -100, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
