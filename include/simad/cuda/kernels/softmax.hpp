// simad/cuda/kernels/softmax.hpp: masked row softmax on the GPU (kernels/softmax.cu), float, with the
// semantics and argument order of simad/ops/softmax.hpp: forward OVERWRITES out (out == inp allowed),
// padded positions get exactly 0 and a fully padded row all zeros; backward ACCUMULATES
// dinp += out * (dout - rowsum(out * dout)) and skips a null dinp. Pointers are device pointers; bad
// sizes throw simad::Error; asynchronous on `stream` (no synchronisation).
//
// Kernels: rows of C <= 1024 run one warp per row (8 rows per block of 256 threads), longer rows one
// block per row (256..1024 threads). The forward reads each row twice: one pass keeps a running
// (max, sum of exp) per thread (online softmax), merged across the warp with shuffles and across the
// block through shared memory; the second pass writes exp(x - max) / sum.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void softmax_forward(float* out,           // (N, C)
                     const float* inp,     // (N, C)
                     const uint8_t* mask,  // (N, C) 1 = keep, 0 = padding; or nullptr (keep all)
                     int64_t N, int64_t C, cudaStream_t stream = nullptr);

void softmax_backward(float* dinp,        // (N, C) accumulated
                      const float* dout,  // (N, C)
                      const float* out,   // (N, C) the forward output
                      int64_t N, int64_t C, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
