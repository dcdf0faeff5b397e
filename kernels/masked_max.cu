// kernels/masked_max.cu: masked set max-pool (simad/ops/masked_max.hpp) on the GPU. Declared in
// include/simad/cuda/kernels/masked_max.hpp.
// One thread per output (b, j), grid-stride: it walks the S members of set b in order (the CPU's
// order, so ties go to the first member exactly as there); neighbouring threads take neighbouring j,
// so every member row is read coalesced. The backward writes one distinct element per (b, j): no atomics.
#include "simad/cuda/kernels/masked_max.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/grid_stride.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    masked_max_forward_kernel(float* __restrict__ out, int32_t* __restrict__ argmax, const float* __restrict__ inp,
                              const uint8_t* __restrict__ mask, long long B, long long S, long long C) {
  SIMAD_GRID_STRIDE(i, B * C) {
    const long long b = i / C, j = i % C;
    float best = 0.0f;
    int32_t arg = -1;
    for (long long s = 0; s < S; ++s) {
      if (mask && !mask[b * S + s]) continue;
      const float x = inp[(b * S + s) * C + j];
      if (arg < 0 || x > best) {  // strict: ties keep the first member
        best = x;
        arg = static_cast<int32_t>(s);
      }
    }
    out[i] = best;
    argmax[i] = arg;
  }
}

__global__ void __launch_bounds__(kThreads)
    masked_max_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout,
                               const int32_t* __restrict__ argmax, long long B, long long S, long long C) {
  SIMAD_GRID_STRIDE(i, B * C) {
    const long long s = argmax[i];
    if (s < 0 || s >= S) continue;
    const long long b = i / C, j = i % C;
    dinp[(b * S + s) * C + j] += dout[i];
  }
}

void check_sizes(const char* op, int64_t B, int64_t S, int64_t C) {
  SIMAD_CHECK(B >= 0 && S >= 0 && C >= 0, op, ": negative size B=", B, " S=", S, " C=", C);
}

}  // namespace

void masked_max_forward(float* out, int32_t* argmax, const float* inp, const uint8_t* mask, int64_t B, int64_t S,
                        int64_t C, cudaStream_t stream) {
  check_sizes("cuda::kernels::masked_max_forward", B, S, C);
  if (B == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && argmax != nullptr && (S == 0 || inp != nullptr),
              "cuda::kernels::masked_max_forward: null out, argmax or inp for B=", B, " S=", S, " C=", C);
  SIMAD_LAUNCH(masked_max_forward_kernel, cuda::grid_stride_blocks(static_cast<long long>(B) * C, kThreads), dim3(kThreads), 0, stream, out,
               argmax, inp, mask, static_cast<long long>(B), static_cast<long long>(S), static_cast<long long>(C));
}

void masked_max_backward(float* dinp, const float* dout, const int32_t* argmax, int64_t B, int64_t S, int64_t C,
                         cudaStream_t stream) {
  check_sizes("cuda::kernels::masked_max_backward", B, S, C);
  if (!dinp || B == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr && argmax != nullptr, "cuda::kernels::masked_max_backward: null dout or argmax");
  SIMAD_LAUNCH(masked_max_backward_kernel, cuda::grid_stride_blocks(static_cast<long long>(B) * C, kThreads), dim3(kThreads), 0, stream, dinp,
               dout, argmax, static_cast<long long>(B), static_cast<long long>(S), static_cast<long long>(C));
}

}  // namespace simad::cuda::kernels
