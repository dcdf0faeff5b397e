// kernels/keyword_gate.cu: ION's keyword weights (simad/ops/keyword_gate.hpp, eq. 2-3) on the GPU.
// Declared in include/simad/cuda/kernels/keyword_gate.hpp. One thread per word.
#include "simad/cuda/kernels/keyword_gate.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    keyword_gate_forward_kernel(float* __restrict__ lambda, const float* __restrict__ probs,
                                const uint8_t* __restrict__ mask, long long N, int hard) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= N) return;
  const float p = probs[i * 2 + 1];
  lambda[i] = !mask[i] ? 0.0f : hard ? (p > 0.5f ? 1.0f : 0.0f) : p;
}

__global__ void __launch_bounds__(kThreads)
    keyword_gate_backward_kernel(float* __restrict__ dlogits, const float* __restrict__ dlambda,
                                 const float* __restrict__ probs, const uint8_t* __restrict__ mask, long long N) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= N || !mask[i]) return;
  const float p = probs[i * 2 + 1];
  const float g = dlambda[i] * p * (1.0f - p);
  dlogits[i * 2 + 1] += g;
  dlogits[i * 2] -= g;
}

dim3 grid_for(int64_t N) { return dim3(static_cast<unsigned>((N + kThreads - 1) / kThreads)); }

}  // namespace

void keyword_gate_forward(float* lambda, const float* probs, const uint8_t* mask, int64_t N, bool hard,
                          cudaStream_t stream) {
  SIMAD_CHECK(N >= 0, "cuda::kernels::keyword_gate_forward: negative size ", N);
  if (N == 0) return;
  SIMAD_CHECK(lambda && probs && mask, "cuda::kernels::keyword_gate_forward: null pointer");
  SIMAD_LAUNCH(keyword_gate_forward_kernel, grid_for(N), dim3(kThreads), 0, stream, lambda, probs, mask,
               static_cast<long long>(N), hard ? 1 : 0);
}

void keyword_gate_backward(float* dlogits, const float* dlambda, const float* probs, const uint8_t* mask, int64_t N,
                           cudaStream_t stream) {
  SIMAD_CHECK(N >= 0, "cuda::kernels::keyword_gate_backward: negative size ", N);
  if (N == 0 || !dlogits) return;
  SIMAD_CHECK(dlambda && probs && mask, "cuda::kernels::keyword_gate_backward: null pointer");
  SIMAD_LAUNCH(keyword_gate_backward_kernel, grid_for(N), dim3(kThreads), 0, stream, dlogits, dlambda, probs, mask,
               static_cast<long long>(N));
}

}  // namespace simad::cuda::kernels
