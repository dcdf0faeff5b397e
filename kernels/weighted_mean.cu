// kernels/weighted_mean.cu: weighted set mean (simad/ops/weighted_mean.hpp) on the GPU. Declared in
// include/simad/cuda/kernels/weighted_mean.hpp.
// Forward: one thread per (b, c) walks the members in order (each thread of a set recomputes the
// weight sum, a few dozen adds; the c == 0 thread stores den). Backward: dx one thread per (b, s, c),
// dw one thread per (b, s) summing over c in order. Same expressions as the CPU op, same order.
#include "simad/cuda/kernels/weighted_mean.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/grid_stride.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    weighted_mean_forward_kernel(float* __restrict__ out, float* __restrict__ den, const float* __restrict__ x,
                                 const float* __restrict__ w, long long B, long long S, long long C) {
  SIMAD_GRID_STRIDE(i, B * C) {
    const long long b = i / C, c = i % C;
    float y = 0.0f, L = 0.0f;
    for (long long s = 0; s < S; ++s) {
      const float ws = w[b * S + s];
      if (ws == 0.0f) continue;
      L += ws;
      y += ws * x[(b * S + s) * C + c];
    }
    const float n = L > 1.0f ? L : 1.0f;
    out[i] = y / n;
    if (c == 0) den[b] = n;
  }
}

__global__ void __launch_bounds__(kThreads)
    weighted_mean_backward_x_kernel(float* __restrict__ dx, const float* __restrict__ dout, const float* __restrict__ w,
                                    const float* __restrict__ den, long long B, long long S, long long C) {
  SIMAD_GRID_STRIDE(i, B * S * C) {
    const long long bs = i / C, c = i % C, b = bs / S;
    const float ws = w[bs];
    if (ws != 0.0f) dx[i] += ws * dout[b * C + c] / den[b];
  }
}

__global__ void __launch_bounds__(kThreads)
    weighted_mean_backward_w_kernel(float* __restrict__ dw, const float* __restrict__ dout, const float* __restrict__ x,
                                    const float* __restrict__ out, const float* __restrict__ den, long long B,
                                    long long S, long long C) {
  SIMAD_GRID_STRIDE(bs, B * S) {
    const long long b = bs / S;
    const float* g = dout + b * C;
    const float* xs = x + bs * C;
    const float* y = out + b * C;
    const float n = den[b];
    float acc = 0.0f;
    if (n > 1.0f)
      for (long long c = 0; c < C; ++c) acc += g[c] * ((xs[c] - y[c]) / n);
    else
      for (long long c = 0; c < C; ++c) acc += g[c] * xs[c];
    dw[bs] += acc;
  }
}

void check_sizes(const char* op, int64_t B, int64_t S, int64_t C) {
  SIMAD_CHECK(B >= 0 && S >= 0 && C >= 0, op, ": negative size B=", B, " S=", S, " C=", C);
}

}  // namespace

void weighted_mean_forward(float* out, float* den, const float* x, const float* w, int64_t B, int64_t S, int64_t C,
                           cudaStream_t stream) {
  check_sizes("cuda::kernels::weighted_mean_forward", B, S, C);
  if (B == 0) return;
  SIMAD_CHECK(out && den && w && (x || S * C == 0), "cuda::kernels::weighted_mean_forward: null pointer");
  if (C == 0) return;  // nothing to average; den is not needed by a backward over no columns
  SIMAD_LAUNCH(weighted_mean_forward_kernel, cuda::grid_stride_blocks(static_cast<long long>(B) * C, kThreads), dim3(kThreads), 0, stream, out,
               den, x, w, static_cast<long long>(B), static_cast<long long>(S), static_cast<long long>(C));
}

void weighted_mean_backward(float* dx, float* dw, const float* dout, const float* x, const float* w, const float* out,
                            const float* den, int64_t B, int64_t S, int64_t C, cudaStream_t stream) {
  check_sizes("cuda::kernels::weighted_mean_backward", B, S, C);
  if (B * S == 0 || (!dx && !dw)) return;
  SIMAD_CHECK(dout && w && den && (!dw || (x && out)), "cuda::kernels::weighted_mean_backward: null pointer");
  if (dx && C > 0)
    SIMAD_LAUNCH(weighted_mean_backward_x_kernel, cuda::grid_stride_blocks(static_cast<long long>(B) * S * C, kThreads), dim3(kThreads), 0,
                 stream, dx, dout, w, den, static_cast<long long>(B), static_cast<long long>(S),
                 static_cast<long long>(C));
  if (dw)
    SIMAD_LAUNCH(weighted_mean_backward_w_kernel, cuda::grid_stride_blocks(static_cast<long long>(B) * S, kThreads), dim3(kThreads), 0, stream,
                 dw, dout, x, out, den, static_cast<long long>(B), static_cast<long long>(S),
                 static_cast<long long>(C));
}

}  // namespace simad::cuda::kernels
