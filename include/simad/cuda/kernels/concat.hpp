// simad/cuda/kernels/concat.hpp: one part of a concatenation on the GPU (kernels/concat.cu), the op of
// simad/ops/concat.hpp taken part by part: the whole is (outer, total) and part p is (outer, width) at
// columns [offset, offset + width):
//   concat_part_forward:   whole[r, offset + j]  = part[r, j]       (OVERWRITES those columns)
//   concat_part_backward:  dpart[r, j]          += dwhole[r, offset + j]   (ACCUMULATES; nullptr: skipped)
// Device pointers; bad sizes throw simad::Error; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void concat_part_forward(float* whole, const float* part, int64_t outer, int64_t total, int64_t offset, int64_t width,
                         cudaStream_t stream = nullptr);
void concat_part_backward(float* dpart, const float* dwhole, int64_t outer, int64_t total, int64_t offset,
                          int64_t width, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
