// kernels/upsample.cu: Darknet's nearest-neighbour upsampling, forward and backward
// (simad/cuda/kernels/upsample.hpp; the CPU op is simad/ops/upsample.hpp). One thread per output element
// (forward: neighbouring threads write neighbouring x, and S of them read one input) or per input element
// (backward: a gather over its block, no atomics).
#include "simad/cuda/kernels/upsample.hpp"

#include <climits>

#include "simad/core/error.hpp"
#include "simad/cuda/grid_stride.hpp"
#include "simad/cuda/portable.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) upsample_nearest_forward_kernel(float* __restrict__ out,
                                                                            const float* __restrict__ inp,
                                                                            long long planes, int H, int W, int S,
                                                                            float scale) {
  const int Wo = W * S, Ho = H * S;
  SIMAD_GRID_STRIDE(i, planes * Ho * Wo) {
    const int x = int(i % Wo), y = int((i / Wo) % Ho);
    const long long p = i / (static_cast<long long>(Ho) * Wo);
    out[i] = scale * inp[(p * H + y / S) * W + x / S];
  }
}

__global__ void __launch_bounds__(kThreads) upsample_nearest_backward_kernel(float* __restrict__ dinp,
                                                                             const float* __restrict__ dout,
                                                                             long long planes, int H, int W, int S,
                                                                             float scale) {
  const int Wo = W * S, Ho = H * S;
  SIMAD_GRID_STRIDE(i, planes * H * W) {
    const int x = int(i % W), y = int((i / W) % H);
    const float* g = dout + (i / (static_cast<long long>(H) * W)) * Ho * Wo;
    float acc = 0.0f;
    for (int a = 0; a < S; ++a)
      for (int b = 0; b < S; ++b) acc += g[(y * S + a) * Wo + x * S + b];
    dinp[i] += scale * acc;
  }
}

void check(const char* who, int64_t B, int64_t C, int64_t H, int64_t W, int64_t S) {
  SIMAD_CHECK(B >= 0 && C >= 0 && H >= 0 && W >= 0 && S >= 1, who, ": bad arguments B=", B, " C=", C, " H=", H,
              " W=", W, " stride=", S);
  SIMAD_CHECK(H * S * W * S <= INT_MAX, who, ": upsampled plane of ", H * S, "x", W * S, " too large");
}

}  // namespace

void upsample_nearest_forward(float* out, const float* inp, int64_t B, int64_t C, int64_t H, int64_t W, int64_t S,
                              float scale, cudaStream_t stream) {
  check("cuda upsample_nearest_forward", B, C, H, W, S);
  const long long n = static_cast<long long>(B * C * H * S * W * S);
  if (n == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "cuda upsample_nearest_forward: null out or inp");
  SIMAD_LAUNCH(upsample_nearest_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out,
               inp, static_cast<long long>(B * C), int(H), int(W), int(S), scale);
}

void upsample_nearest_backward(float* dinp, const float* dout, int64_t B, int64_t C, int64_t H, int64_t W, int64_t S,
                               float scale, cudaStream_t stream) {
  check("cuda upsample_nearest_backward", B, C, H, W, S);
  const long long n = static_cast<long long>(B * C * H * W);
  if (n == 0) return;
  SIMAD_CHECK(dinp != nullptr && dout != nullptr, "cuda upsample_nearest_backward: null dinp or dout");
  SIMAD_LAUNCH(upsample_nearest_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream,
               dinp, dout, static_cast<long long>(B * C), int(H), int(W), int(S), scale);
}

}  // namespace simad::cuda::kernels
