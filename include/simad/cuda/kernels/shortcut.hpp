// simad/cuda/kernels/shortcut.hpp: Darknet's [shortcut] on the GPU (kernels/shortcut.cu), float, with the
// semantics and argument order of simad/ops/shortcut.hpp:
//   forward:  out = act(a + b), act linear or leaky (slope 0.1; v <= 0 and NaN take the slope)   (OVERWRITES)
//   backward: g = dout * act'(out); da += g, db += g (either may be null; da == db gets 2 g)   (ACCUMULATES)
// Elementwise, so the CPU op's bits. Device pointers; asynchronous on `stream`. The networks fuse the
// forward into the convolution before it where they can (cuda/kernels/conv2d.hpp's residual).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void shortcut_forward(float* out, const float* a, const float* b, int64_t n, bool leaky, cudaStream_t stream = nullptr);

void shortcut_backward(float* da, float* db, const float* dout, const float* out, int64_t n, bool leaky,
                       cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
