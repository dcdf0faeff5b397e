// kernels/triplet.cu: batch-hard triplet mining, loss and gradient (simad/cuda/kernels/triplet.hpp).
#include "simad/cuda/portable.hpp"

#include <math.h>

#include <climits>
#include <cstddef>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/triplet.hpp"

namespace simad::cuda::kernels {
namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarpsPerBlock = 8;
constexpr int kReduceThreads = 256;

// sum_k (a_k - x_k)^2 in order; multiply and add kept separate (no fma contraction): the CPU op's bits.
__device__ float squared_distance(const float* a, const float* x, int D) {
  float s = 0.0f;
  for (int k = 0; k < D; ++k) {
    const float diff = a[k] - x[k];
    s = __fadd_rn(s, __fmul_rn(diff, diff));
  }
  return s;
}

__device__ float to_distance(float s, int euclidean) { return euclidean ? __fsqrt_rn(s) : s; }

// One warp per anchor: hardest positive / negative, the anchor's hinge (0 when skipped).
__global__ void triplet_mine_kernel(int32_t* pos, int32_t* neg, float* hinge, const float* emb, const int32_t* labels,
                                    int B, int D, float margin, int euclidean) {
  const int lane = int(threadIdx.x) % 32;
  const int a = int(blockIdx.x) * kWarpsPerBlock + int(threadIdx.x) / 32;
  if (a >= B) return;  // whole warps leave together (a is warp-uniform)
  const float* xa = emb + int64_t(a) * D;
  const int la = labels[a];
  float bp = -1.0f, bn = INFINITY;
  int ip = -1, in = -1;
  for (int j = lane; j < B; j += 32) {
    if (j == a) continue;
    const float s = squared_distance(xa, emb + int64_t(j) * D, D);
    if (labels[j] == la) {
      if (s > bp) bp = s, ip = j;  // j ascends per lane: strict keeps the smaller index
    } else if (s < bn) {
      bn = s, in = j;
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float op = __shfl_xor_sync(kFull, bp, off), on = __shfl_xor_sync(kFull, bn, off);
    const int oip = __shfl_xor_sync(kFull, ip, off), oin = __shfl_xor_sync(kFull, in, off);
    if (oip >= 0 && (ip < 0 || op > bp || (op == bp && oip < ip))) bp = op, ip = oip;
    if (oin >= 0 && (in < 0 || on < bn || (on == bn && oin < in))) bn = on, in = oin;
  }
  if (lane == 0) {
    pos[a] = ip;
    neg[a] = in;
    float h = 0.0f;
    if (ip >= 0 && in >= 0) {
      h = to_distance(bp, euclidean) - to_distance(bn, euclidean) + margin;
      h = h > 0.0f ? h : 0.0f;
    }
    hinge[a] = h;
  }
}

// One block: loss = mean hinge over valid anchors (fixed order: per-thread strided sums in double,
// then a tree), skipped = B - valid.
__global__ void triplet_loss_kernel(float* loss, int64_t* skipped, const float* hinge, const int32_t* pos,
                                    const int32_t* neg, int B) {
  __shared__ double sum[kReduceThreads];
  __shared__ int cnt[kReduceThreads];
  const int t = int(threadIdx.x);
  double s = 0.0;
  int c = 0;
  for (int a = t; a < B; a += kReduceThreads) {
    if (pos[a] >= 0 && neg[a] >= 0) s += double(hinge[a]), ++c;
  }
  sum[t] = s;
  cnt[t] = c;
  __syncthreads();
  for (int w = kReduceThreads / 2; w > 0; w >>= 1) {
    if (t < w) sum[t] += sum[t + w], cnt[t] += cnt[t + w];
    __syncthreads();
  }
  if (t == 0) {
    *loss = cnt[0] ? float(sum[0] / double(cnt[0])) : 0.0f;
    *skipped = int64_t(B) - cnt[0];
  }
}

// One block: coefficients of (a - p) and (a - n) for each anchor with a positive hinge, 0 otherwise.
__global__ void triplet_coeff_kernel(float* cp, float* cn, const float* emb, const int32_t* pos, const int32_t* neg,
                                     int B, int D, float margin, int euclidean, float dloss) {
  __shared__ int cnt[kReduceThreads];
  const int t = int(threadIdx.x);
  int c = 0;
  for (int a = t; a < B; a += kReduceThreads) c += pos[a] >= 0 && neg[a] >= 0;
  cnt[t] = c;
  __syncthreads();
  for (int w = kReduceThreads / 2; w > 0; w >>= 1) {
    if (t < w) cnt[t] += cnt[t + w];
    __syncthreads();
  }
  const int valid = cnt[0];
  for (int a = t; a < B; a += kReduceThreads) {
    float p_coef = 0.0f, n_coef = 0.0f;
    const int p = pos[a], n = neg[a];
    if (p >= 0 && n >= 0) {
      const float* xa = emb + int64_t(a) * D;
      const float dp = to_distance(squared_distance(xa, emb + int64_t(p) * D, D), euclidean);
      const float dn = to_distance(squared_distance(xa, emb + int64_t(n) * D, D), euclidean);
      if (dp - dn + margin > 0.0f) {
        const float s = dloss / float(valid);
        if (euclidean) {
          p_coef = dp > 0.0f ? s / dp : 0.0f;
          n_coef = dn > 0.0f ? s / dn : 0.0f;
        } else {
          p_coef = 2.0f * s;
          n_coef = 2.0f * s;
        }
      }
    }
    cp[a] = p_coef;
    cn[a] = n_coef;
  }
}

// One block per row r: every term of d loss / d x_r, gathered in anchor order.
__global__ void triplet_grad_kernel(float* demb, const float* emb, const int32_t* pos, const int32_t* neg,
                                    const float* cp, const float* cn, int B, int D) {
  const int r = int(blockIdx.x);
  const float* xr = emb + int64_t(r) * D;
  for (int k = int(threadIdx.x); k < D; k += int(blockDim.x)) {
    float g = 0.0f;
    if (cp[r] != 0.0f || cn[r] != 0.0f) {  // r as an anchor
      g += cp[r] * (xr[k] - emb[int64_t(pos[r]) * D + k]) - cn[r] * (xr[k] - emb[int64_t(neg[r]) * D + k]);
    }
    for (int a = 0; a < B; ++a) {
      if (cp[a] != 0.0f && pos[a] == r) g -= cp[a] * (emb[int64_t(a) * D + k] - xr[k]);
      if (cn[a] != 0.0f && neg[a] == r) g += cn[a] * (emb[int64_t(a) * D + k] - xr[k]);
    }
    demb[int64_t(r) * D + k] += g;
  }
}

void check_sizes(const char* what, int64_t B, int64_t D, void* workspace, size_t bytes) {
  SIMAD_CHECK(B >= 0 && B <= INT_MAX && D >= 1 && D <= INT_MAX, what, ": bad sizes B=", B, " D=", D);
  SIMAD_CHECK(B == 0 || (workspace && bytes >= triplet_workspace_bytes(B)), what, ": workspace of ", bytes,
              " bytes, ", triplet_workspace_bytes(B), " needed");
}

}  // namespace

size_t triplet_workspace_bytes(int64_t B) {
  SIMAD_CHECK(B >= 0, "triplet_workspace_bytes: negative B=", B);
  return size_t(3 * B) * sizeof(float);  // hinge, cp, cn
}

void batch_hard_triplet_forward(float* loss, int32_t* hardest_pos, int32_t* hardest_neg, int64_t* skipped,
                                const float* emb, const int32_t* labels, int64_t B, int64_t D, float margin,
                                simad::ops::TripletDistance dist, void* workspace, size_t workspace_bytes,
                                cudaStream_t stream) {
  const char* what = "cuda batch_hard_triplet_forward";
  check_sizes(what, B, D, workspace, workspace_bytes);
  SIMAD_CHECK(loss && skipped && (B == 0 || (hardest_pos && hardest_neg && emb && labels)), what, ": null pointer");
  float* hinge = static_cast<float*>(workspace);
  const int euclidean = dist == simad::ops::TripletDistance::Euclidean;
  if (B > 0)
    SIMAD_LAUNCH(triplet_mine_kernel, unsigned((B + kWarpsPerBlock - 1) / kWarpsPerBlock), 32 * kWarpsPerBlock, 0,
                 stream, hardest_pos, hardest_neg, hinge, emb, labels, int(B), int(D), margin, euclidean);
  SIMAD_LAUNCH(triplet_loss_kernel, 1, kReduceThreads, 0, stream, loss, skipped, hinge, hardest_pos, hardest_neg,
               int(B));
}

void batch_hard_triplet_backward(float* demb, float dloss, const float* emb, const int32_t* hardest_pos,
                                 const int32_t* hardest_neg, int64_t B, int64_t D, float margin,
                                 simad::ops::TripletDistance dist, void* workspace, size_t workspace_bytes,
                                 cudaStream_t stream) {
  const char* what = "cuda batch_hard_triplet_backward";
  if (!demb || B == 0) return;
  check_sizes(what, B, D, workspace, workspace_bytes);
  SIMAD_CHECK(emb && hardest_pos && hardest_neg, what, ": null pointer");
  float* cp = static_cast<float*>(workspace) + B;
  float* cn = cp + B;
  const int euclidean = dist == simad::ops::TripletDistance::Euclidean;
  SIMAD_LAUNCH(triplet_coeff_kernel, 1, kReduceThreads, 0, stream, cp, cn, emb, hardest_pos, hardest_neg, int(B),
               int(D), margin, euclidean, dloss);
  SIMAD_LAUNCH(triplet_grad_kernel, unsigned(B), 128, 0, stream, demb, emb, hardest_pos, hardest_neg, cp, cn, int(B),
               int(D));
}

}  // namespace simad::cuda::kernels
