// kernels/topk_gather.cu: the gather of the kept members (simad/ops/topk_gather.hpp) on the GPU.
// Declared in include/simad/cuda/kernels/topk_gather.hpp.
// Forward and dinp: one block per slot, threads over its C columns (a set's slots hold distinct
// members, so no two threads add to the same dinp element). dweight: one thread per slot, a dot product in column
// order in float (the CPU's order and arithmetic).
#include "simad/cuda/kernels/topk_gather.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/grid_stride.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 128;

// One block per slot (grid-stride over slots), its threads over the C columns: no 64-bit division
// per element (a flat index divided by C and k cost registers and spilled on sm_90).
__global__ void __launch_bounds__(kThreads)
    topk_gather_forward_kernel(float* __restrict__ out, const float* __restrict__ inp, const float* __restrict__ weight,
                               const int32_t* __restrict__ idx, long long B, long long S, long long k, long long C) {
  for (long long slot = blockIdx.x; slot < B * k; slot += gridDim.x) {
    const long long s = idx[slot], b = slot / k;
    float* y = out + slot * C;
    if (s < 0 || s >= S) {
      for (long long c = threadIdx.x; c < C; c += blockDim.x) y[c] = 0.0f;
      continue;
    }
    const float w = weight ? weight[slot] : 1.0f;
    const float* x = inp + (b * S + s) * C;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) y[c] = w * x[c];
  }
}

__global__ void __launch_bounds__(kThreads)
    topk_gather_backward_inp_kernel(float* __restrict__ dinp, const float* __restrict__ dout,
                                    const float* __restrict__ weight, const int32_t* __restrict__ idx, long long B,
                                    long long S, long long k, long long C) {
  for (long long slot = blockIdx.x; slot < B * k; slot += gridDim.x) {
    const long long s = idx[slot], b = slot / k;
    if (s < 0 || s >= S) continue;
    const float w = weight ? weight[slot] : 1.0f;
    const float* g = dout + slot * C;
    float* dx = dinp + (b * S + s) * C;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) dx[c] += w * g[c];
  }
}

__global__ void __launch_bounds__(kThreads)
    topk_gather_backward_weight_kernel(float* __restrict__ dweight, const float* __restrict__ dout,
                                       const float* __restrict__ inp, const int32_t* __restrict__ idx, long long B,
                                       long long S, long long k, long long C) {
  const long long slot = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (slot >= B * k) return;
  const long long s = idx[slot], b = slot / k;
  if (s < 0 || s >= S) return;
  const float* g = dout + slot * C;
  const float* x = inp + (b * S + s) * C;
  float dot = 0.0f;
  for (long long c = 0; c < C; ++c) dot += g[c] * x[c];
  dweight[slot] += dot;
}

void check_sizes(const char* op, int64_t B, int64_t S, int64_t k, int64_t C) {
  SIMAD_CHECK(B >= 0 && S >= 0 && k >= 0 && C >= 0, op, ": negative size B=", B, " S=", S, " k=", k, " C=", C);
}

}  // namespace

void topk_gather_forward(float* out, const float* inp, const float* weight, const int32_t* idx, int64_t B, int64_t S,
                         int64_t k, int64_t C, cudaStream_t stream) {
  check_sizes("cuda::kernels::topk_gather_forward", B, S, k, C);
  const long long n = static_cast<long long>(B) * k * C;
  if (n == 0) return;
  SIMAD_CHECK(out != nullptr && idx != nullptr && (S == 0 || inp != nullptr),
              "cuda::kernels::topk_gather_forward: null out, inp or idx");
  SIMAD_LAUNCH(topk_gather_forward_kernel, cuda::grid_stride_blocks(B * k, 1), dim3(kThreads), 0, stream, out, inp,
               weight, idx,
               static_cast<long long>(B), static_cast<long long>(S), static_cast<long long>(k),
               static_cast<long long>(C));
}

void topk_gather_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                          const int32_t* idx, int64_t B, int64_t S, int64_t k, int64_t C, cudaStream_t stream) {
  check_sizes("cuda::kernels::topk_gather_backward", B, S, k, C);
  if (B * k == 0) return;
  SIMAD_CHECK(dout != nullptr && idx != nullptr, "cuda::kernels::topk_gather_backward: null dout or idx");
  const long long n = static_cast<long long>(B) * k * C;
  if (dinp && n > 0)
    SIMAD_LAUNCH(topk_gather_backward_inp_kernel, cuda::grid_stride_blocks(B * k, 1), dim3(kThreads), 0, stream, dinp,
                 dout, weight, idx,
                 static_cast<long long>(B), static_cast<long long>(S), static_cast<long long>(k),
                 static_cast<long long>(C));
  if (dweight) {
    SIMAD_CHECK(inp != nullptr || S == 0, "cuda::kernels::topk_gather_backward: dweight needs inp");
    SIMAD_LAUNCH(topk_gather_backward_weight_kernel, cuda::grid_stride_blocks(static_cast<long long>(B) * k, kThreads),
                 dim3(kThreads), 0,
                 stream, dweight, dout, inp, idx, static_cast<long long>(B), static_cast<long long>(S),
                 static_cast<long long>(k), static_cast<long long>(C));
  }
}

}  // namespace simad::cuda::kernels
