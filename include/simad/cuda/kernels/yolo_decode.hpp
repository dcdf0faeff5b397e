// simad/cuda/kernels/yolo_decode.hpp: a [yolo] layer's candidate boxes on the GPU (kernels/yolo_decode.cu),
// float, with the semantics and argument order of simad/ops/yolo_decode.hpp: per image, the cell-anchors whose
// objectness exceeds the threshold, decoded and compacted in cell-major, then anchor order (the CPU's order),
// with their count. So the host fetches the few candidates (for NMS) instead of the layer's whole output.
// One block per image: each thread scans a contiguous run of cell-anchors, the block adds up the runs' counts
// in order, and each thread writes its run's candidates at its offset. expf: boxes within a few ulp of the
// CPU's std::exp. Device pointers; bad sizes throw simad::Error; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void yolo_decode(float* box,            // (B, A lh lw, 4)
                 float* objectness,     // (B, A lh lw)
                 float* prob,           // (B, A lh lw, classes)
                 int32_t* where,        // (B, A lh lw)
                 int32_t* count,        // (B)
                 const float* pred,     // (B, A, 5 + classes, lh lw)
                 const float* anchors,  // (A, 2)
                 int64_t B, int64_t A, int64_t classes, int64_t lw, int64_t lh, int64_t net_w, int64_t net_h,
                 float threshold, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
