// kernels/linear.cu: the bias of a linear layer (simad/ops/linear.hpp) on the GPU: broadcast add in
// the forward, column sums in the backward. Declared in include/simad/cuda/kernels/linear.hpp.
// Forward: a grid-stride loop over the N x OC outputs (coalesced along OC). Backward: one thread per
// output column sums its N rows in order (deterministic; neighbouring threads read neighbouring
// columns, so each row is read coalesced); columns in blocks of 256 threads.
#include "simad/cuda/kernels/linear.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/grid_stride.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    linear_bias_forward_kernel(float* __restrict__ out, const float* __restrict__ bias, long long total, long long OC) {
  SIMAD_GRID_STRIDE(i, total)
    out[i] += bias[i % OC];
}

__global__ void __launch_bounds__(kThreads)
    linear_bias_backward_kernel(float* __restrict__ dbias, const float* __restrict__ dout, long long N, long long OC) {
  const long long o = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (o >= OC) return;
  float s = 0.0f;
  for (long long n = 0; n < N; ++n) s += dout[n * OC + o];
  dbias[o] += s;
}

void check_sizes(const char* op, int64_t N, int64_t OC) {
  SIMAD_CHECK(N >= 0 && OC >= 0, op, ": negative size N=", N, " OC=", OC);
}

}  // namespace

void linear_bias_forward(float* out, const float* bias, int64_t N, int64_t OC, cudaStream_t stream) {
  check_sizes("cuda::kernels::linear_bias_forward", N, OC);
  const long long total = static_cast<long long>(N) * OC;
  if (total == 0) return;
  SIMAD_CHECK(out != nullptr && bias != nullptr, "cuda::kernels::linear_bias_forward: null out or bias");
  SIMAD_LAUNCH(linear_bias_forward_kernel, cuda::grid_stride_blocks(total, kThreads), dim3(kThreads), 0, stream, out,
               bias, total, static_cast<long long>(OC));
}

void linear_bias_backward(float* dbias, const float* dout, int64_t N, int64_t OC, cudaStream_t stream) {
  check_sizes("cuda::kernels::linear_bias_backward", N, OC);
  if (OC == 0 || !dbias) return;
  if (N == 0) return;  // adds nothing
  SIMAD_CHECK(dout != nullptr, "cuda::kernels::linear_bias_backward: null dout for N=", N);
  const long long blocks = (static_cast<long long>(OC) + kThreads - 1) / kThreads;
  SIMAD_LAUNCH(linear_bias_backward_kernel, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, stream, dbias,
               dout, static_cast<long long>(N), static_cast<long long>(OC));
}

}  // namespace simad::cuda::kernels
