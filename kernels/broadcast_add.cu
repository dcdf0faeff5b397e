// kernels/broadcast_add.cu: add a per-set vector to every member (simad/ops/broadcast_add.hpp) on the
// GPU. Declared in include/simad/cuda/kernels/broadcast_add.hpp. Forward and da: one thread per
// element; dv: one thread per (b, c) summing the members in order (deterministic, the CPU's order).
#include "simad/cuda/kernels/broadcast_add.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/grid_stride.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    broadcast_add_forward_kernel(float* out, const float* a, const float* __restrict__ v, long long B, long long S,
                                 long long C) {
  SIMAD_GRID_STRIDE(i, B * S * C)
    out[i] = a[i] + v[(i / (S * C)) * C + i % C];
}

__global__ void __launch_bounds__(kThreads)
    broadcast_add_backward_a_kernel(float* __restrict__ da, const float* __restrict__ dout, long long n) {
  SIMAD_GRID_STRIDE(i, n)
    da[i] += dout[i];
}

__global__ void __launch_bounds__(kThreads)
    broadcast_add_backward_v_kernel(float* __restrict__ dv, const float* __restrict__ dout, long long B, long long S,
                                    long long C) {
  SIMAD_GRID_STRIDE(i, B * C) {
    const long long b = i / C, c = i % C;
    float acc = dv[i];
    for (long long s = 0; s < S; ++s) acc += dout[(b * S + s) * C + c];
    dv[i] = acc;
  }
}

void check_sizes(const char* op, int64_t B, int64_t S, int64_t C) {
  SIMAD_CHECK(B >= 0 && S >= 0 && C >= 0, op, ": negative size B=", B, " S=", S, " C=", C);
}

}  // namespace

void broadcast_add_forward(float* out, const float* a, const float* v, int64_t B, int64_t S, int64_t C,
                           cudaStream_t stream) {
  check_sizes("cuda::kernels::broadcast_add_forward", B, S, C);
  const long long n = static_cast<long long>(B) * S * C;
  if (n == 0) return;
  SIMAD_CHECK(out && a && v, "cuda::kernels::broadcast_add_forward: null pointer");
  SIMAD_LAUNCH(broadcast_add_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, a, v,
               static_cast<long long>(B), static_cast<long long>(S), static_cast<long long>(C));
}

void broadcast_add_backward(float* da, float* dv, const float* dout, int64_t B, int64_t S, int64_t C,
                            cudaStream_t stream) {
  check_sizes("cuda::kernels::broadcast_add_backward", B, S, C);
  const long long n = static_cast<long long>(B) * S * C;
  if (n == 0 || (!da && !dv)) return;
  SIMAD_CHECK(dout, "cuda::kernels::broadcast_add_backward: null dout");
  if (da) SIMAD_LAUNCH(broadcast_add_backward_a_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, da, dout, n);
  if (dv)
    SIMAD_LAUNCH(broadcast_add_backward_v_kernel, cuda::grid_stride_blocks(static_cast<long long>(B) * C, kThreads), dim3(kThreads), 0, stream,
                 dv, dout, static_cast<long long>(B), static_cast<long long>(S), static_cast<long long>(C));
}

}  // namespace simad::cuda::kernels
