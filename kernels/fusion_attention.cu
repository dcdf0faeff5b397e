// kernels/fusion_attention.cu: dual-softmax fusion attention, forward and backward (declared in
// simad/cuda/kernels/fusion_attention.hpp; the CPU op simad/ops/fusion_attention.hpp is the
// specification). Ads are small (N ~ 32 words, K ~ 10 regions), so one block of 128 threads owns an
// ad: the score matrix S (forward) or dS and dP (backward) stay in shared memory, the two softmaxes
// run one thread per row / per column, and the products with H, V run one thread per output element
// (consecutive threads, consecutive features: coalesced). W_f enters only through U = V W_f^T and the
// W_f gradients, GEMMs over all ads at once (kernels::gemm): the CPU op's algebra. U has K rows per ad
// where G = H W_f would have N, so each W_f product costs N / K times fewer flops (ads: N ~ 32, K ~ 10).
#include "simad/cuda/portable.hpp"

#include <math.h>

#include <climits>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/fusion_attention.hpp"
#include "simad/cuda/kernels/gemm.hpp"

namespace simad::cuda::kernels {
namespace {

constexpr int kThreads = 128;

__device__ inline float dot_row(const float* a, const float* b, int D) {
  float s = 0.0f;
  for (int d = 0; d < D; ++d) s += a[d] * b[d];
  return s;
}

__global__ void __launch_bounds__(kThreads)
    fusion_forward_kernel(float* __restrict__ h_out, float* __restrict__ v_out, float* __restrict__ A,
                          float* __restrict__ P, const float* __restrict__ H, const float* __restrict__ U,
                          const float* __restrict__ V, const uint8_t* __restrict__ h_mask,
                          const uint8_t* __restrict__ v_mask, int N, int K, int D) {
  SIMAD_DYNAMIC_SHARED(float, S);  // (N, K)
  const long long b = blockIdx.x;
  const int t = static_cast<int>(threadIdx.x);
  const float* Hb = H + b * N * D;
  const float* Ub = U + b * K * D;
  const float* Vb = V + b * K * D;
  float* Ab = A + b * N * K;
  float* Pb = P + b * N * K;
  for (int e = t; e < N * K; e += kThreads) {
    const int i = e / K, j = e % K;
    const bool real = (!h_mask || h_mask[b * N + i]) && (!v_mask || v_mask[b * K + j]);
    S[e] = real ? dot_row(Hb + i * D, Ub + j * D, D) : -INFINITY;  // s_ij = h_i . u_j
  }
  __syncthreads();
  for (int i = t; i < N; i += kThreads) {  // A: rows, over the regions
    float mx = -INFINITY, sum = 0.0f;
    for (int j = 0; j < K; ++j) mx = fmaxf(mx, S[i * K + j]);
    for (int j = 0; j < K; ++j) sum += mx == -INFINITY ? 0.0f : expf(S[i * K + j] - mx);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int j = 0; j < K; ++j) Ab[i * K + j] = mx == -INFINITY ? 0.0f : expf(S[i * K + j] - mx) * inv;
  }
  for (int j = t; j < K; j += kThreads) {  // P: columns, over the words
    float mx = -INFINITY, sum = 0.0f;
    for (int i = 0; i < N; ++i) mx = fmaxf(mx, S[i * K + j]);
    for (int i = 0; i < N; ++i) sum += mx == -INFINITY ? 0.0f : expf(S[i * K + j] - mx);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int i = 0; i < N; ++i) Pb[i * K + j] = mx == -INFINITY ? 0.0f : expf(S[i * K + j] - mx) * inv;
  }
  __syncthreads();  // A and P (global) are visible to the whole block
  for (int e = t; e < N * D; e += kThreads) {  // H~ = A V
    const int i = e / D, d = e % D;
    float acc = 0.0f;
    for (int j = 0; j < K; ++j) acc += Ab[i * K + j] * Vb[j * D + d];
    h_out[b * N * D + e] = acc;
  }
  for (int e = t; e < K * D; e += kThreads) {  // V~ = P^T H
    const int j = e / D, d = e % D;
    float acc = 0.0f;
    for (int i = 0; i < N; ++i) acc += Pb[i * K + j] * Hb[i * D + d];
    v_out[b * K * D + e] = acc;
  }
}

// dU = dS^T H is written (not accumulated) when given: it is the caller's workspace (W_f case), and the
// launcher adds dU W_f to dV. Without W_f (U = V) dU is null and dS^T H goes straight into dV.
__global__ void __launch_bounds__(kThreads)
    fusion_backward_kernel(float* __restrict__ dH, float* __restrict__ dV, float* __restrict__ dU,
                           const float* __restrict__ dh_out, const float* __restrict__ dv_out,
                           const float* __restrict__ H, const float* __restrict__ U, const float* __restrict__ V,
                           const float* __restrict__ A, const float* __restrict__ P, int N, int K, int D) {
  SIMAD_DYNAMIC_SHARED(float, smem);
  float* dS = smem;          // (N, K)
  float* dP = dS + N * K;    // (N, K)
  const long long b = blockIdx.x;
  const int t = static_cast<int>(threadIdx.x);
  const float* Hb = H + b * N * D;
  const float* Ub = U + b * K * D;
  const float* Vb = V + b * K * D;
  const float* dho = dh_out + b * N * D;
  const float* dvo = dv_out + b * K * D;
  const float* Ab = A + b * N * K;
  const float* Pb = P + b * N * K;
  for (int e = t; e < N * K; e += kThreads) {
    const int i = e / K, j = e % K;
    dS[e] = Ab[e] != 0.0f ? dot_row(dho + i * D, Vb + j * D, D) : 0.0f;  // dA
    dP[e] = Pb[e] != 0.0f ? dot_row(dvo + j * D, Hb + i * D, D) : 0.0f;
  }
  __syncthreads();
  for (int i = t; i < N; i += kThreads) {  // row softmax backward
    float dot = 0.0f;
    for (int j = 0; j < K; ++j) dot += Ab[i * K + j] * dS[i * K + j];
    for (int j = 0; j < K; ++j) dS[i * K + j] = Ab[i * K + j] * (dS[i * K + j] - dot);
  }
  __syncthreads();
  for (int j = t; j < K; j += kThreads) {  // column softmax backward
    float dot = 0.0f;
    for (int i = 0; i < N; ++i) dot += Pb[i * K + j] * dP[i * K + j];
    for (int i = 0; i < N; ++i) dS[i * K + j] += Pb[i * K + j] * (dP[i * K + j] - dot);
  }
  __syncthreads();
  if (dV || dU)
    for (int e = t; e < K * D; e += kThreads) {  // dV += A^T dH~ (+ dS^T H when U = V); dU = dS^T H
      const int j = e / D, d = e % D;
      float from_a = 0.0f, from_s = 0.0f;
      for (int i = 0; i < N; ++i) {
        from_a += Ab[i * K + j] * dho[i * D + d];
        from_s += dS[i * K + j] * Hb[i * D + d];
      }
      if (dU) {
        dU[b * K * D + e] = from_s;
        if (dV) dV[b * K * D + e] += from_a;
      } else {
        dV[b * K * D + e] += from_a + from_s;
      }
    }
  if (dH)
    for (int e = t; e < N * D; e += kThreads) {  // dH += P dV~ + dS U
      const int i = e / D, d = e % D;
      float acc = 0.0f;
      for (int j = 0; j < K; ++j) acc += Pb[i * K + j] * dvo[j * D + d] + dS[i * K + j] * Ub[j * D + d];
      dH[b * N * D + e] += acc;
    }
}

void check_sizes(const char* what, int64_t B, int64_t N, int64_t K, int64_t D) {
  SIMAD_CHECK(B >= 0 && N >= 0 && K >= 0 && D >= 0, what, ": negative size B=", B, " N=", N, " K=", K, " D=", D);
  SIMAD_CHECK(N * K <= kCudaFusionMaxScores, what, ": N * K = ", N * K, " scores per ad exceed ",
              kCudaFusionMaxScores, " (the CPU op has no limit)");
  SIMAD_CHECK(B <= INT_MAX && B * N <= INT_MAX && D <= INT_MAX && B * N * D <= (1LL << 40), what,
              ": sizes too large B=", B, " N=", N, " D=", D);
}

}  // namespace

void fusion_attention_forward(float* h_out, float* v_out, float* probs_text, float* probs_image, const float* H,
                              const float* V, const float* Wf, const uint8_t* h_mask, const uint8_t* v_mask,
                              int64_t B, int64_t N, int64_t K, int64_t D, float* workspace, cudaStream_t stream) {
  check_sizes("cuda fusion_attention_forward", B, N, K, D);
  if (B == 0 || (N == 0 && K == 0)) return;
  SIMAD_CHECK(h_out != nullptr && v_out != nullptr && probs_text != nullptr && probs_image != nullptr &&
                  H != nullptr && V != nullptr,
              "cuda fusion_attention_forward: null output or input");
  SIMAD_CHECK(!Wf || workspace, "cuda fusion_attention_forward: W_f needs a workspace of B K D floats");
  const float* U = V;
  if (Wf) {  // U = V W_f^T
    gemm(false, true, B * K, D, D, 1.0f, V, D > 0 ? D : 1, Wf, D > 0 ? D : 1, 0.0f, workspace, D > 0 ? D : 1,
         stream);
    U = workspace;
  }
  SIMAD_LAUNCH(fusion_forward_kernel, dim3(unsigned(B)), dim3(kThreads), size_t(N * K) * sizeof(float), stream,
               h_out, v_out, probs_text, probs_image, H, U, V, h_mask, v_mask, int(N), int(K), int(D));
}

void fusion_attention_backward(float* dH, float* dV, float* dWf, const float* dh_out, const float* dv_out,
                               const float* H, const float* V, const float* Wf, const float* probs_text,
                               const float* probs_image, int64_t B, int64_t N, int64_t K, int64_t D,
                               float* workspace, cudaStream_t stream) {
  check_sizes("cuda fusion_attention_backward", B, N, K, D);
  if (!Wf) dWf = nullptr;
  if (B == 0 || N == 0 || K == 0 || D == 0 || (!dH && !dV && !dWf)) return;
  SIMAD_CHECK(dh_out != nullptr && dv_out != nullptr && H != nullptr && V != nullptr && probs_text != nullptr &&
                  probs_image != nullptr,
              "cuda fusion_attention_backward: null gradient or saved input");
  SIMAD_CHECK(!Wf || workspace, "cuda fusion_attention_backward: W_f needs a workspace of 2 B K D floats");
  const float* U = V;
  float* dU = nullptr;
  if (Wf) {
    float* u = workspace;
    gemm(false, true, B * K, D, D, 1.0f, V, D, Wf, D, 0.0f, u, D, stream);  // U = V W_f^T, recomputed
    U = u;
    if (dV || dWf) dU = workspace + B * K * D;
  }
  SIMAD_LAUNCH(fusion_backward_kernel, dim3(unsigned(B)), dim3(kThreads), 2 * size_t(N * K) * sizeof(float), stream,
               dH, dV, dU, dh_out, dv_out, H, U, V, probs_text, probs_image, int(N), int(K), int(D));
  if (!dU) return;
  if (dV) gemm(false, false, B * K, D, D, 1.0f, dU, D, Wf, D, 1.0f, dV, D, stream);    // dV += dU W_f
  if (dWf) gemm(true, false, D, D, B * K, 1.0f, dU, D, V, D, 1.0f, dWf, D, stream);  // dW_f += dU^T V
}

}  // namespace simad::cuda::kernels
