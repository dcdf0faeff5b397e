// simad/cuda/kernels/maxpool2d.hpp: 2-D max pooling with Darknet's padding rule on the GPU
// (kernels/maxpool2d.cu), float, NCHW, with the semantics and argument order of simad/ops/maxpool2d.hpp:
// Ho = (H + padding - size) / stride + 1, window origin y * stride - padding / 2, positions outside the
// input skipped; the forward OVERWRITES out and, when argmax is not null, records the winner's y * W + x
// in its plane (the first maximum in row-major window order, -1 for a window wholly outside); the
// backward ACCUMULATES dinp[argmax] += dout. Pointers are device pointers; bad sizes throw simad::Error
// before anything runs; asynchronous on `stream`.
//
// Kernels: the forward runs one thread per output (grid-stride, neighbouring threads on neighbouring x),
// the window walked in the CPU's order with the CPU's comparisons, so out and argmax are the CPU's bits
// (ties, NaN and -inf included). The backward runs one thread per input element, which gathers dout
// over the outputs whose window holds it (at most ceil(size / stride)^2), in output order: where windows
// overlap (size > stride) the additions are the CPU's in the CPU's order, so dinp has the CPU's bits
// too, without atomics. An argmax outside its output's window (not from the forward) adds nothing
// (the CPU op throws).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void maxpool2d_forward(float* out,        // (B, C, Ho, Wo)
                       const float* inp,  // (B, C, H, W)
                       int64_t B, int64_t C, int64_t H, int64_t W, int64_t size, int64_t stride, int64_t padding,
                       int32_t* argmax = nullptr,  // (B, C, Ho, Wo) or null
                       cudaStream_t stream = nullptr);

void maxpool2d_backward(float* dinp,            // (B, C, H, W) accumulated
                        const float* dout,      // (B, C, Ho, Wo)
                        const int32_t* argmax,  // (B, C, Ho, Wo) from the forward
                        int64_t B, int64_t C, int64_t H, int64_t W, int64_t size, int64_t stride,
                        int64_t padding,  // the forward's window
                        cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
