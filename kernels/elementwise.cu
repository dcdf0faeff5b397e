// kernels/elementwise.cu: activations (forward / backward, as simad/ops/activation.hpp) and fill /
// scale / axpy over n contiguous floats. Declared in include/simad/cuda/kernels/elementwise.hpp.
// One grid-stride kernel per operation; 256 threads per block, at most 4096 blocks (grid-stride over
// the rest), 64-bit indices.
#include "simad/cuda/kernels/elementwise.hpp"

#include <cmath>

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/grid_stride.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

// The CPU ops' constants, in float.
constexpr float kInvSqrt2 = 0.70710678118654752440f;     // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;   // 1 / sqrt(2 pi)
// As ops/activation.hpp computes them in float: sqrt(2) * (1 / sqrt(pi)) rounded, and 0.044715.
constexpr float kSqrt2OverPi = 1.41421356237309504880f * 0.56418958354775628695f;
constexpr float kGeluTanhCubic = 0.044715f;

__device__ __forceinline__ float sigmoidf_stable(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

__global__ void __launch_bounds__(kThreads) relu_forward_kernel(float* out, const float* inp, long long n) {
  SIMAD_GRID_STRIDE(i, n) {
    const float x = inp[i];
    out[i] = x < 0.0f ? 0.0f : x;  // NaN stays NaN
  }
}
__global__ void __launch_bounds__(kThreads)
    relu_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ inp,
                         long long n) {
  SIMAD_GRID_STRIDE(i, n) {
    if (inp[i] > 0.0f) dinp[i] += dout[i];
  }
}

__global__ void __launch_bounds__(kThreads)
    leaky_relu_forward_kernel(float* out, const float* inp, long long n, float slope) {
  SIMAD_GRID_STRIDE(i, n) {
    const float x = inp[i];
    out[i] = x > 0.0f ? x : slope * x;
  }
}
__global__ void __launch_bounds__(kThreads)
    leaky_relu_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ inp,
                               long long n, float slope) {
  SIMAD_GRID_STRIDE(i, n) { dinp[i] += inp[i] > 0.0f ? dout[i] : slope * dout[i]; }
}

__global__ void __launch_bounds__(kThreads) gelu_forward_kernel(float* out, const float* inp, long long n) {
  SIMAD_GRID_STRIDE(i, n) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + erff(x * kInvSqrt2));
  }
}
__global__ void __launch_bounds__(kThreads)
    gelu_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ inp,
                         long long n) {
  SIMAD_GRID_STRIDE(i, n) {
    const float x = inp[i];
    const float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
    dinp[i] += dout[i] * (cdf + x * pdf);
  }
}

// gelu_tanh: the same expression and order as ops/activation.hpp's float path.
__global__ void __launch_bounds__(kThreads) gelu_tanh_forward_kernel(float* out, const float* inp, long long n) {
  SIMAD_GRID_STRIDE(i, n) {
    const float x = inp[i];
    const float t = tanhf(kSqrt2OverPi * (x + kGeluTanhCubic * x * x * x));
    out[i] = 0.5f * x * (1.0f + t);
  }
}
__global__ void __launch_bounds__(kThreads)
    gelu_tanh_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout,
                              const float* __restrict__ inp, long long n) {
  SIMAD_GRID_STRIDE(i, n) {
    const float x = inp[i], x2 = x * x;
    const float t = tanhf(kSqrt2OverPi * (x + kGeluTanhCubic * x2 * x));
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluTanhCubic * x2);
    dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
  }
}

__global__ void __launch_bounds__(kThreads) tanh_forward_kernel(float* out, const float* inp, long long n) {
  SIMAD_GRID_STRIDE(i, n) { out[i] = tanhf(inp[i]); }
}
__global__ void __launch_bounds__(kThreads)
    tanh_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ out,
                         long long n) {
  SIMAD_GRID_STRIDE(i, n) {
    const float y = out[i];
    dinp[i] += dout[i] * (1.0f - y * y);
  }
}

__global__ void __launch_bounds__(kThreads) sigmoid_forward_kernel(float* out, const float* inp, long long n) {
  SIMAD_GRID_STRIDE(i, n) { out[i] = sigmoidf_stable(inp[i]); }
}
__global__ void __launch_bounds__(kThreads)
    sigmoid_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ out,
                            long long n) {
  SIMAD_GRID_STRIDE(i, n) {
    const float y = out[i];
    dinp[i] += dout[i] * (y * (1.0f - y));
  }
}

__global__ void __launch_bounds__(kThreads) fill_kernel(float* x, float value, long long n) {
  SIMAD_GRID_STRIDE(i, n) { x[i] = value; }
}
__global__ void __launch_bounds__(kThreads) scale_kernel(float* x, float alpha, long long n) {
  SIMAD_GRID_STRIDE(i, n) { x[i] = alpha == 0.0f ? 0.0f : alpha * x[i]; }
}
__global__ void __launch_bounds__(kThreads)
    axpy_kernel(float* __restrict__ y, float alpha, const float* __restrict__ x, long long n) {
  SIMAD_GRID_STRIDE(i, n) { y[i] += alpha * x[i]; }
}
__global__ void __launch_bounds__(kThreads) mul_forward_kernel(float* out, const float* a, const float* b, long long n) {
  SIMAD_GRID_STRIDE(i, n) { out[i] = a[i] * b[i]; }
}
__global__ void __launch_bounds__(kThreads)
    mul_backward_kernel(float* da, float* db, const float* __restrict__ dout, const float* __restrict__ a,
                        const float* __restrict__ b, long long n) {
  SIMAD_GRID_STRIDE(i, n) {
    const float g = dout[i];
    if (da) da[i] += g * b[i];
    if (db) db[i] += g * a[i];
  }
}

void check_args(const char* op, int64_t n, bool a_set, bool b_set) {
  SIMAD_CHECK(n >= 0, op, ": negative element count ", n);
  SIMAD_CHECK(n == 0 || (a_set && b_set), op, ": null pointer for ", n, " elements");
}

void check_slope(const char* op, float slope) {
  SIMAD_CHECK(std::isfinite(slope), op, ": slope must be finite, got ", slope);
}

}  // namespace

void relu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::relu_forward", n, out != nullptr, inp != nullptr);
  if (n == 0) return;
  SIMAD_LAUNCH(relu_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, inp, n);
}
void relu_backward(float* dinp, const float* dout, const float* inp, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::relu_backward", n, dout != nullptr, inp != nullptr);
  if (n == 0 || !dinp) return;
  SIMAD_LAUNCH(relu_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, dinp, dout, inp, n);
}

void leaky_relu_forward(float* out, const float* inp, int64_t n, float slope, cudaStream_t stream) {
  check_args("cuda::kernels::leaky_relu_forward", n, out != nullptr, inp != nullptr);
  check_slope("cuda::kernels::leaky_relu_forward", slope);
  if (n == 0) return;
  SIMAD_LAUNCH(leaky_relu_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, inp, n, slope);
}
void leaky_relu_backward(float* dinp, const float* dout, const float* inp, int64_t n, float slope,
                         cudaStream_t stream) {
  check_args("cuda::kernels::leaky_relu_backward", n, dout != nullptr, inp != nullptr);
  check_slope("cuda::kernels::leaky_relu_backward", slope);
  if (n == 0 || !dinp) return;
  SIMAD_LAUNCH(leaky_relu_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, dinp, dout, inp, n, slope);
}

void gelu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::gelu_forward", n, out != nullptr, inp != nullptr);
  if (n == 0) return;
  SIMAD_LAUNCH(gelu_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, inp, n);
}
void gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::gelu_backward", n, dout != nullptr, inp != nullptr);
  if (n == 0 || !dinp) return;
  SIMAD_LAUNCH(gelu_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, dinp, dout, inp, n);
}

void gelu_tanh_forward(float* out, const float* inp, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::gelu_tanh_forward", n, out != nullptr, inp != nullptr);
  if (n == 0) return;
  SIMAD_LAUNCH(gelu_tanh_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, inp,
               n);
}
void gelu_tanh_backward(float* dinp, const float* dout, const float* inp, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::gelu_tanh_backward", n, dout != nullptr, inp != nullptr);
  if (n == 0 || !dinp) return;
  SIMAD_LAUNCH(gelu_tanh_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, dinp,
               dout, inp, n);
}

void tanh_forward(float* out, const float* inp, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::tanh_forward", n, out != nullptr, inp != nullptr);
  if (n == 0) return;
  SIMAD_LAUNCH(tanh_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, inp, n);
}
void tanh_backward(float* dinp, const float* dout, const float* out, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::tanh_backward", n, dout != nullptr, out != nullptr);
  if (n == 0 || !dinp) return;
  SIMAD_LAUNCH(tanh_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, dinp, dout, out, n);
}

void sigmoid_forward(float* out, const float* inp, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::sigmoid_forward", n, out != nullptr, inp != nullptr);
  if (n == 0) return;
  SIMAD_LAUNCH(sigmoid_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, inp, n);
}
void sigmoid_backward(float* dinp, const float* dout, const float* out, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::sigmoid_backward", n, dout != nullptr, out != nullptr);
  if (n == 0 || !dinp) return;
  SIMAD_LAUNCH(sigmoid_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, dinp, dout, out, n);
}

void fill(float* x, float value, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::fill", n, x != nullptr, true);
  if (n == 0) return;
  SIMAD_LAUNCH(fill_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, x, value, n);
}
void scale(float* x, float alpha, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::scale", n, x != nullptr, true);
  if (n == 0) return;
  SIMAD_LAUNCH(scale_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, x, alpha, n);
}
void axpy(float* y, float alpha, const float* x, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::axpy", n, y != nullptr, x != nullptr);
  if (n == 0) return;
  SIMAD_LAUNCH(axpy_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, y, alpha, x, n);
}

void mul_forward(float* out, const float* a, const float* b, int64_t n, cudaStream_t stream) {
  check_args("cuda::kernels::mul_forward", n, out != nullptr, a != nullptr && b != nullptr);
  if (n == 0) return;
  SIMAD_LAUNCH(mul_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, a, b, n);
}

void mul_backward(float* da, float* db, const float* dout, const float* a, const float* b, int64_t n,
                  cudaStream_t stream) {
  check_args("cuda::kernels::mul_backward", n, dout != nullptr, (!da || b != nullptr) && (!db || a != nullptr));
  if (n == 0 || (!da && !db)) return;
  SIMAD_LAUNCH(mul_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, da, db, dout, a, b, n);
}

}  // namespace simad::cuda::kernels
