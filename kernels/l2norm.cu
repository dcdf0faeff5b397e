// kernels/l2norm.cu: L2 row normalisation (simad/ops/l2norm.hpp) on the GPU. Declared in
// include/simad/cuda/kernels/l2norm.hpp.
// One thread per row, sums in double in column order: the CPU op's arithmetic (emulated: equal bit for
// bit; nvcc may fuse multiply-adds, equal to rounding). The models normalise a few hundred embeddings of ~128 values per
// step, far below what a block-per-row reduction would pay for.
#include "simad/cuda/kernels/l2norm.hpp"

#include <cmath>

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 128;

__global__ void __launch_bounds__(kThreads)
    l2norm_forward_kernel(float* out, float* norm, const float* inp, long long N, long long C, float eps) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= N) return;
  const float* x = inp + i * C;
  float* y = out + i * C;
  double ss = 0;
  for (long long j = 0; j < C; ++j) ss += static_cast<double>(x[j]) * static_cast<double>(x[j]);
  const double n = sqrt(ss);
  const double inv = 1.0 / (n > static_cast<double>(eps) ? n : static_cast<double>(eps));
  for (long long j = 0; j < C; ++j) y[j] = static_cast<float>(static_cast<double>(x[j]) * inv);
  if (norm) norm[i] = static_cast<float>(n);
}

__global__ void __launch_bounds__(kThreads)
    l2norm_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ out,
                           const float* __restrict__ norm, long long N, long long C, float eps) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= N) return;
  const float* y = out + i * C;
  const float* g = dout + i * C;
  float* dx = dinp + i * C;
  const double n = static_cast<double>(norm[i]);
  if (n < static_cast<double>(eps)) {
    const double inv = 1.0 / static_cast<double>(eps);
    for (long long j = 0; j < C; ++j) dx[j] += static_cast<float>(static_cast<double>(g[j]) * inv);
    return;
  }
  double dot = 0;
  for (long long j = 0; j < C; ++j) dot += static_cast<double>(y[j]) * static_cast<double>(g[j]);
  const double inv = 1.0 / n;
  for (long long j = 0; j < C; ++j)
    dx[j] += static_cast<float>((static_cast<double>(g[j]) - static_cast<double>(y[j]) * dot) * inv);
}

void check_args(const char* op, int64_t N, int64_t C, float eps) {
  SIMAD_CHECK(N >= 0 && C >= 0, op, ": negative size N=", N, " C=", C);
  SIMAD_CHECK(eps > 0.0f && std::isfinite(eps), op, ": eps must be finite and > 0, got ", eps);
}

dim3 rows_grid(int64_t N) { return dim3(static_cast<unsigned>((N + kThreads - 1) / kThreads)); }

}  // namespace

void l2norm_forward(float* out, float* norm, const float* inp, int64_t N, int64_t C, float eps, cudaStream_t stream) {
  check_args("cuda::kernels::l2norm_forward", N, C, eps);
  if (N == 0) return;
  SIMAD_CHECK(C == 0 || (out != nullptr && inp != nullptr), "cuda::kernels::l2norm_forward: null out or inp");
  SIMAD_LAUNCH(l2norm_forward_kernel, rows_grid(N), dim3(kThreads), 0, stream, out, norm, inp,
               static_cast<long long>(N), static_cast<long long>(C), eps);
}

void l2norm_backward(float* dinp, const float* dout, const float* out, const float* norm, int64_t N, int64_t C,
                     float eps, cudaStream_t stream) {
  check_args("cuda::kernels::l2norm_backward", N, C, eps);
  if (!dinp || N == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr && out != nullptr && norm != nullptr,
              "cuda::kernels::l2norm_backward: null dout, out or norm");
  SIMAD_LAUNCH(l2norm_backward_kernel, rows_grid(N), dim3(kThreads), 0, stream, dinp, dout, out, norm,
               static_cast<long long>(N), static_cast<long long>(C), eps);
}

}  // namespace simad::cuda::kernels
