// simad/cuda/kernels/yolo_activate.hpp: Darknet's [yolo] layer at inference on the GPU
// (kernels/yolo_activate.cu), float, with the semantics and argument order of simad/ops/yolo_activate.hpp:
// the logistic on tx, ty, objectness and class logits, tw and th copied; out may be inp. Elementwise
// (expf: within a few ulp of the CPU's std::exp). Device pointers; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void yolo_activate(float* out,        // (B, A, 5 + classes, HW)
                   const float* inp,  // (B, A, 5 + classes, HW)
                   int64_t B, int64_t A, int64_t classes, int64_t HW, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
