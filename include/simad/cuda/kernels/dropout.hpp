// simad/cuda/kernels/dropout.hpp: inverted dropout on the GPU (kernels/dropout.cu), the op of
// simad/ops/dropout.hpp with the same masks: element i keeps when u >= p, u the 53-bit uniform of
// Philox stream element offset + i of (seed, stream) (simad::Rng numbering), so a CUDA run drops exactly
// the elements a CPU run drops. Forward OVERWRITES out (may be inp) and writes keep (1 = kept) unless
// keep is nullptr; backward ACCUMULATES dinp += keep ? dout / (1 - p) : 0 (keep nullptr: only p == 0).
// Pointers are device pointers; bad arguments throw simad::Error; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void dropout_forward(float* out, uint8_t* keep, const float* inp, int64_t n, float p, uint64_t seed,
                     uint64_t rng_stream, uint64_t offset, cudaStream_t stream = nullptr);
void dropout_backward(float* dinp, const float* dout, const uint8_t* keep, int64_t n, float p,
                      cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
