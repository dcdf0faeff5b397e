// kernels/batchnorm.cu: Darknet's batch normalisation, training and inference forward and backward
// (simad/cuda/kernels/batchnorm.hpp; the CPU op and its formulas: simad/ops/batchnorm.hpp).
// The training forward and the backward run one block per channel: each thread sums its strided share of
// the channel's B x HW values, the block adds the partial sums in a fixed tree (rows::group_sum), then the
// threads write their share. The inference forward is elementwise (grid-stride).
#include "simad/cuda/kernels/batchnorm.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/grid_stride.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/row_reduce.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

// d(var) and d'(var) of the fork (ops::batchnorm_denominator and its derivative).
__device__ __forceinline__ float denominator(float var, bool pjreddie) {
  return pjreddie ? sqrtf(var) + 1e-6f : sqrtf(var + 1e-5f);
}
__device__ __forceinline__ float denominator_derivative(float var, bool pjreddie) {
  return pjreddie ? 0.5f / sqrtf(var) : 0.5f / sqrtf(var + 1e-5f);
}

// Element e of channel c's B x HW values, image-major.
__device__ __forceinline__ long long at(long long e, int c, int C, int HW) {
  return (e / HW * C + c) * HW + e % HW;
}

__global__ void __launch_bounds__(kThreads)
    batchnorm_forward_train_kernel(float* out, float* __restrict__ mean, float* __restrict__ var,
                                   float* __restrict__ running_mean, float* __restrict__ running_var, const float* inp,
                                   const float* __restrict__ scale, const float* __restrict__ bias, int B, int C,
                                   int HW, bool pjreddie, float momentum) {
  __shared__ float red[32];
  const int c = static_cast<int>(blockIdx.x);
  const long long N = static_cast<long long>(B) * HW;
  float sum = 0.0f;
  for (long long e = threadIdx.x; e < N; e += kThreads) sum += inp[at(e, c, C, HW)];
  const float m = rows::group_sum<true>(sum, red) / float(N);
  float sq = 0.0f;
  for (long long e = threadIdx.x; e < N; e += kThreads) {
    const float d = inp[at(e, c, C, HW)] - m;
    sq += d * d;
  }
  const float v = rows::group_sum<true>(sq, red) / float(N - 1);
  if (threadIdx.x == 0) {
    mean[c] = m, var[c] = v;
    if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * m;
    if (running_var) running_var[c] = (1.0f - momentum) * running_var[c] + momentum * v;
  }
  const float inv = 1.0f / denominator(v, pjreddie), s = scale[c], sh = bias[c];
  // out may alias inp: each element is read (above, and here) only by the thread that writes it.
  for (long long e = threadIdx.x; e < N; e += kThreads) {
    const long long i = at(e, c, C, HW);
    out[i] = s * (inp[i] - m) * inv + sh;
  }
}

__global__ void __launch_bounds__(kThreads)
    batchnorm_forward_inference_kernel(float* out, const float* inp, const float* __restrict__ scale,
                                       const float* __restrict__ bias, const float* __restrict__ running_mean,
                                       const float* __restrict__ running_var, long long n, int C, int HW,
                                       bool pjreddie) {
  SIMAD_GRID_STRIDE(i, n) {
    const int c = int(i / HW % C);
    const float k = scale[c] / denominator(running_var[c], pjreddie);
    out[i] = k * (inp[i] - running_mean[c]) + bias[c];
  }
}

__global__ void __launch_bounds__(kThreads)
    batchnorm_backward_kernel(float* __restrict__ dinp, float* __restrict__ dscale, float* __restrict__ dbias,
                              const float* __restrict__ dout, const float* __restrict__ inp,
                              const float* __restrict__ mean, const float* __restrict__ var,
                              const float* __restrict__ scale, int B, int C, int HW, bool pjreddie) {
  __shared__ float red[32];
  const int c = static_cast<int>(blockIdx.x);
  const long long N = static_cast<long long>(B) * HW;
  const float m = mean[c], inv = 1.0f / denominator(var[c], pjreddie);
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  for (long long e = threadIdx.x; e < N; e += kThreads) {
    const long long i = at(e, c, C, HW);
    sum_dy += dout[i];
    sum_dy_xhat += dout[i] * (inp[i] - m) * inv;
  }
  sum_dy = rows::group_sum<true>(sum_dy, red);
  sum_dy_xhat = rows::group_sum<true>(sum_dy_xhat, red);
  if (threadIdx.x == 0) {
    if (dbias) dbias[c] += sum_dy;
    if (dscale) dscale[c] += sum_dy_xhat;
  }
  if (!dinp) return;
  const float s = scale[c];
  const float dvar = -s * sum_dy_xhat * inv * denominator_derivative(var[c], pjreddie);
  const float k_x = dvar * 2.0f / float(N - 1), k_mean = s * sum_dy * inv / float(N);
  for (long long e = threadIdx.x; e < N; e += kThreads) {
    const long long i = at(e, c, C, HW);
    dinp[i] += s * dout[i] * inv + k_x * (inp[i] - m) - k_mean;
  }
}

void check(const char* who, int64_t B, int64_t C, int64_t HW, bool train) {
  SIMAD_CHECK(B >= 1 && C >= 1 && HW >= 1, who, ": bad shape B=", B, " C=", C, " HW=", HW);
  SIMAD_CHECK(!train || B * HW >= 2, who, ": the unbiased batch variance needs at least 2 values per channel, got ",
              B * HW);
  SIMAD_CHECK(B <= 2147483647 && C <= 2147483647 && HW <= 2147483647, who, ": shape beyond 32-bit sizes B=", B,
              " C=", C, " HW=", HW);
}

}  // namespace

void batchnorm_forward_train(float* out, float* mean, float* var, float* running_mean, float* running_var,
                             const float* inp, const float* scale, const float* bias, int64_t B, int64_t C,
                             int64_t HW, ops::BatchNormVariant variant, float momentum, cudaStream_t stream) {
  check("cuda batchnorm_forward_train", B, C, HW, true);
  SIMAD_CHECK(out && mean && var && inp && scale && bias, "cuda batchnorm_forward_train: null pointer");
  SIMAD_LAUNCH(batchnorm_forward_train_kernel, dim3(static_cast<unsigned>(C)), dim3(kThreads), 0, stream, out, mean,
               var, running_mean, running_var, inp, scale, bias, int(B), int(C), int(HW),
               variant == ops::BatchNormVariant::pjreddie, momentum);
}

void batchnorm_forward_inference(float* out, const float* inp, const float* scale, const float* bias,
                                 const float* running_mean, const float* running_var, int64_t B, int64_t C,
                                 int64_t HW, ops::BatchNormVariant variant, cudaStream_t stream) {
  check("cuda batchnorm_forward_inference", B, C, HW, false);
  SIMAD_CHECK(out && inp && scale && bias && running_mean && running_var,
              "cuda batchnorm_forward_inference: null pointer");
  const long long n = static_cast<long long>(B * C * HW);
  SIMAD_LAUNCH(batchnorm_forward_inference_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream,
               out, inp, scale, bias, running_mean, running_var, n, int(C), int(HW),
               variant == ops::BatchNormVariant::pjreddie);
}

void batchnorm_backward(float* dinp, float* dscale, float* dbias, const float* dout, const float* inp,
                        const float* mean, const float* var, const float* scale, int64_t B, int64_t C, int64_t HW,
                        ops::BatchNormVariant variant, cudaStream_t stream) {
  check("cuda batchnorm_backward", B, C, HW, true);
  if (!dinp && !dscale && !dbias) return;
  SIMAD_CHECK(dout && inp && mean && var && (scale || !dinp), "cuda batchnorm_backward: null pointer");
  SIMAD_LAUNCH(batchnorm_backward_kernel, dim3(static_cast<unsigned>(C)), dim3(kThreads), 0, stream, dinp, dscale,
               dbias, dout, inp, mean, var, scale, int(B), int(C), int(HW), variant == ops::BatchNormVariant::pjreddie);
}

}  // namespace simad::cuda::kernels
