// kernels/concat.cu: one part of a concatenation along the last axis (simad/ops/concat.hpp) on the
// GPU. Declared in include/simad/cuda/kernels/concat.hpp. A grid-stride loop over the outer x width
// elements of the part; consecutive threads take consecutive columns of a row (coalesced on both sides).
#include "simad/cuda/kernels/concat.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/grid_stride.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    concat_part_forward_kernel(float* __restrict__ whole, const float* __restrict__ part, long long outer,
                               long long total, long long offset, long long width) {
  SIMAD_GRID_STRIDE(i, outer * width)
    whole[(i / width) * total + offset + i % width] = part[i];
}

__global__ void __launch_bounds__(kThreads)
    concat_part_backward_kernel(float* __restrict__ dpart, const float* __restrict__ dwhole, long long outer,
                                long long total, long long offset, long long width) {
  SIMAD_GRID_STRIDE(i, outer * width)
    dpart[i] += dwhole[(i / width) * total + offset + i % width];
}

void check_sizes(const char* op, int64_t outer, int64_t total, int64_t offset, int64_t width) {
  SIMAD_CHECK(outer >= 0 && width >= 0 && offset >= 0 && offset + width <= total, op, ": part [", offset, ", ",
              offset + width, ") of ", total, " columns (outer ", outer, ") is out of range");
}

}  // namespace

void concat_part_forward(float* whole, const float* part, int64_t outer, int64_t total, int64_t offset, int64_t width,
                         cudaStream_t stream) {
  check_sizes("cuda::kernels::concat_part_forward", outer, total, offset, width);
  if (outer == 0 || width == 0) return;
  SIMAD_CHECK(whole != nullptr && part != nullptr, "cuda::kernels::concat_part_forward: null pointer");
  SIMAD_LAUNCH(concat_part_forward_kernel, cuda::grid_stride_blocks(static_cast<long long>(outer) * width, kThreads), dim3(kThreads), 0, stream,
               whole, part, static_cast<long long>(outer), static_cast<long long>(total),
               static_cast<long long>(offset), static_cast<long long>(width));
}

void concat_part_backward(float* dpart, const float* dwhole, int64_t outer, int64_t total, int64_t offset,
                          int64_t width, cudaStream_t stream) {
  check_sizes("cuda::kernels::concat_part_backward", outer, total, offset, width);
  if (!dpart || outer == 0 || width == 0) return;
  SIMAD_CHECK(dwhole != nullptr, "cuda::kernels::concat_part_backward: null dwhole");
  SIMAD_LAUNCH(concat_part_backward_kernel, cuda::grid_stride_blocks(static_cast<long long>(outer) * width, kThreads), dim3(kThreads), 0,
               stream, dpart, dwhole, static_cast<long long>(outer), static_cast<long long>(total),
               static_cast<long long>(offset), static_cast<long long>(width));
}

}  // namespace simad::cuda::kernels
