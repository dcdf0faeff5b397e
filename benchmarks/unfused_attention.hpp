// benchmarks/unfused_attention.hpp: the unfused peers of simad's fused attention ops, composed from
// simad's own GEMM (OpenBLAS) and softmax ops the way a framework without fused kernels runs them:
// the full score matrices are materialised, softmaxed, and multiplied again. Used by
// bench_attention.cpp and `simad bench attention`; same semantics as ops/attention.hpp and
// ops/fusion_attention.hpp (so the benchmarks can compare outputs before timing).
//   UnfusedAttention: per (sequence, head) S = Q K^T / sqrt(hs) (B, NH, N, N), masked row softmax, O = P V;
//     backward: dP = dO V^T, dV += P^T dO, dS = softmax_backward, dQ += dS K scale, dK += dS^T Q scale.
//   UnfusedFusion: per ad S = G V^T and S^T = V G^T (G = H W_f), row softmaxes of both (A and P^T),
//     H~ = A V, V~ = P^T H; backward by the same products and softmax_backward. W_f goes through the
//     words (G: 2 B N D^2 flops), not through the regions as in simad's op: different algebra.
//   BlasFusion: the same algebra as ops/fusion_attention.hpp (U = V W_f^T, S = H U^T: 2 B K D^2 for
//     W_f), written as a C++ user without simad would: OpenBLAS cblas_sgemm and plain loops for the
//     masked softmaxes, none of simad's ops.
// Small per-head / per-ad GEMMs run in parallel over heads or ads with OpenBLAS on one thread each.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "simad/core/parallel.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/gemm.hpp"
#include "simad/ops/softmax.hpp"

namespace simad::bench {

// fn(b) for each ad b of a batch, ads spread over simad's threads, BLAS single-threaded inside them.
template <typename F>
void run_per_ad(int64_t batch, F& fn) {
  blas::BlasThreadsScope single(1);
  parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) fn(b);
  });
}

struct UnfusedAttention {
  int64_t B, N, C, NH, hs;
  std::vector<float> P, dS;      // (B, NH, N, N)
  std::vector<uint8_t> mask_rows;  // (B, NH, N, N): the key mask repeated for every score row

  UnfusedAttention(int64_t B_, int64_t N_, int64_t C_, int64_t NH_, const uint8_t* mask)
      : B(B_), N(N_), C(C_), NH(NH_), hs(C_ / NH_), P(size_t(B_ * NH_ * N_ * N_)), dS(P.size()),
        mask_rows(P.size()) {
    for (int64_t bh = 0; bh < B * NH; ++bh)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < N; ++j) mask_rows[size_t((bh * N + i) * N + j)] = mask ? mask[(bh / NH) * N + j] : 1;
  }

  template <typename F>
  void per_head(F&& fn) {
    blas::BlasThreadsScope single(1);
    parallel_for(B * NH, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t bh = b0; bh < b1; ++bh) fn(bh / NH, bh % NH, bh);
    });
  }

  void forward(float* out, const float* qkv) {
    const float scale = 1.0f / std::sqrt(float(hs));
    per_head([&](int64_t b, int64_t h, int64_t bh) {
      const float* q = qkv + b * N * 3 * C + h * hs;
      ops::gemm(false, true, N, N, hs, scale, q, 3 * C, q + C, 3 * C, 0.0f, P.data() + bh * N * N, N);
    });
    ops::softmax_forward(P.data(), P.data(), mask_rows.data(), B * NH * N, N);
    per_head([&](int64_t b, int64_t h, int64_t bh) {
      const float* v = qkv + b * N * 3 * C + 2 * C + h * hs;
      ops::gemm(false, false, N, hs, N, 1.0f, P.data() + bh * N * N, N, v, 3 * C, 0.0f, out + b * N * C + h * hs, C);
    });
  }

  // After forward (P holds the probabilities). dqkv accumulates.
  void backward(float* dqkv, const float* dout, const float* qkv) {
    const float scale = 1.0f / std::sqrt(float(hs));
    std::fill(dS.begin(), dS.end(), 0.0f);
    std::vector<float> dP(P.size());
    per_head([&](int64_t b, int64_t h, int64_t bh) {
      const float* v = qkv + b * N * 3 * C + 2 * C + h * hs;
      const float* go = dout + b * N * C + h * hs;
      ops::gemm(false, true, N, N, hs, 1.0f, go, C, v, 3 * C, 0.0f, dP.data() + bh * N * N, N);     // dP = dO V^T
      ops::gemm(true, false, N, hs, N, 1.0f, P.data() + bh * N * N, N, go, C, 1.0f,
                dqkv + b * N * 3 * C + 2 * C + h * hs, 3 * C);                                     // dV += P^T dO
    });
    ops::softmax_backward(dS.data(), dP.data(), P.data(), B * NH * N, N);
    per_head([&](int64_t b, int64_t h, int64_t bh) {
      const float* q = qkv + b * N * 3 * C + h * hs;
      float* dq = dqkv + b * N * 3 * C + h * hs;
      ops::gemm(false, false, N, hs, N, scale, dS.data() + bh * N * N, N, q + C, 3 * C, 1.0f, dq, 3 * C);  // dQ
      ops::gemm(true, false, N, hs, N, scale, dS.data() + bh * N * N, N, q, 3 * C, 1.0f, dq + C, 3 * C);   // dK
    });
  }
};

struct UnfusedFusion {
  int64_t B, N, K, D;
  std::vector<float> A, Pt, G, dA, dPt, dS, dSt, dG;  // A, dA, dS (B, N, K); Pt, dPt, dSt (B, K, N); G, dG (B, N, D)
  std::vector<uint8_t> mask_a, mask_p;               // (B, N, K), (B, K, N)

  UnfusedFusion(int64_t B_, int64_t N_, int64_t K_, int64_t D_, const uint8_t* hm, const uint8_t* vm)
      : B(B_), N(N_), K(K_), D(D_), A(size_t(B_ * N_ * K_)), Pt(A.size()), G(size_t(B_ * N_ * D_)), dA(A.size()),
        dPt(A.size()), dS(A.size()), dSt(A.size()), dG(G.size()), mask_a(A.size()), mask_p(A.size()) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j) {
          const uint8_t m = uint8_t(hm[b * N + i] && vm[b * K + j]);
          mask_a[size_t((b * N + i) * K + j)] = m;
          mask_p[size_t((b * K + j) * N + i)] = m;
        }
  }

  template <typename F>
  void per_ad(F&& fn) {
    run_per_ad(B, fn);
  }

  void forward(float* h_out, float* v_out, const float* H, const float* V, const float* Wf) {
    const float* g = H;
    if (Wf) {
      ops::gemm(false, false, B * N, D, D, 1.0f, H, D, Wf, D, 0.0f, G.data(), D);
      g = G.data();
    }
    per_ad([&](int64_t b) {
      ops::gemm(false, true, N, K, D, 1.0f, g + b * N * D, D, V + b * K * D, D, 0.0f, A.data() + b * N * K, K);
      ops::gemm(false, true, K, N, D, 1.0f, V + b * K * D, D, g + b * N * D, D, 0.0f, Pt.data() + b * N * K, N);
    });
    ops::softmax_forward(A.data(), A.data(), mask_a.data(), B * N, K);
    ops::softmax_forward(Pt.data(), Pt.data(), mask_p.data(), B * K, N);
    per_ad([&](int64_t b) {
      ops::gemm(false, false, N, D, K, 1.0f, A.data() + b * N * K, K, V + b * K * D, D, 0.0f, h_out + b * N * D, D);
      ops::gemm(false, false, K, D, N, 1.0f, Pt.data() + b * N * K, N, H + b * N * D, D, 0.0f, v_out + b * K * D, D);
    });
  }

  // After forward. dH, dV, dWf accumulate (dWf only with Wf).
  void backward(float* dH, float* dV, float* dWf, const float* dh_out, const float* dv_out, const float* H,
                const float* V, const float* Wf) {
    const float* g = Wf ? G.data() : H;
    std::fill(dS.begin(), dS.end(), 0.0f);
    std::fill(dSt.begin(), dSt.end(), 0.0f);
    per_ad([&](int64_t b) {
      const int64_t o = b * N * K;
      ops::gemm(false, true, N, K, D, 1.0f, dh_out + b * N * D, D, V + b * K * D, D, 0.0f, dA.data() + o, K);
      ops::gemm(true, false, K, D, N, 1.0f, A.data() + o, K, dh_out + b * N * D, D, 1.0f, dV + b * K * D, D);
      ops::gemm(false, true, K, N, D, 1.0f, dv_out + b * K * D, D, H + b * N * D, D, 0.0f, dPt.data() + o, N);
      ops::gemm(true, false, N, D, K, 1.0f, Pt.data() + o, N, dv_out + b * K * D, D, 1.0f, dH + b * N * D, D);
    });
    ops::softmax_backward(dS.data(), dA.data(), A.data(), B * N, K);
    ops::softmax_backward(dSt.data(), dPt.data(), Pt.data(), B * K, N);
    float* dg = Wf ? dG.data() : dH;
    per_ad([&](int64_t b) {
      const int64_t o = b * N * K;
      // dS total = dS + dSt^T: dG = dS V + dSt^T V, dV += dS^T G + dSt G.
      ops::gemm(false, false, N, D, K, 1.0f, dS.data() + o, K, V + b * K * D, D, Wf ? 0.0f : 1.0f, dg + b * N * D, D);
      ops::gemm(true, false, N, D, K, 1.0f, dSt.data() + o, N, V + b * K * D, D, 1.0f, dg + b * N * D, D);
      ops::gemm(true, false, K, D, N, 1.0f, dS.data() + o, K, g + b * N * D, D, 1.0f, dV + b * K * D, D);
      ops::gemm(false, false, K, D, N, 1.0f, dSt.data() + o, N, g + b * N * D, D, 1.0f, dV + b * K * D, D);
    });
    if (!Wf) return;
    ops::gemm(false, true, B * N, D, D, 1.0f, dG.data(), D, Wf, D, 1.0f, dH, D);
    if (dWf) ops::gemm(true, false, D, D, B * N, 1.0f, H, D, dG.data(), D, 1.0f, dWf, D);
  }
};

// The fusion attention of ops/fusion_attention.hpp in its own algebra, from OpenBLAS and loops:
//   forward  U = V W_f^T (all ads at once; U = V without W_f); per ad S = H U^T (N, K), A = row
//            softmax of S, P = column softmax of S (kept as P^T, (K, N)), H~ = A V, V~ = P^T H;
//   backward per ad dA = dH~ V^T, dV += A^T dH~, dP^T = dV~ H^T, dH += P dV~,
//            dS = A o (dA - rowsum(A o dA)) + P o (dP - colsum(P o dP)), dH += dS U, dU = dS^T H;
//            then for all ads dV += dU W_f and dW_f += dU^T V (dV += dU without W_f).
// Dense like a framework: padded words and regions are computed, then masked (simad skips them).
// U is kept from the forward (simad's backward recomputes it). Per-ad GEMMs run in parallel over
// ads with OpenBLAS on one thread each, the all-ads GEMMs on simad's thread count.
struct BlasFusion {
  int64_t B, N, K, D;
  std::vector<float> U, dU, A, Pt, dA, dPt;  // U, dU (B, K, D); A, dA (B, N, K); Pt, dPt (B, K, N)
  std::vector<uint8_t> keep;                 // (B, N, K): word i and region j both real

  BlasFusion(int64_t B_, int64_t N_, int64_t K_, int64_t D_, const uint8_t* hm, const uint8_t* vm)
      : B(B_), N(N_), K(K_), D(D_), U(size_t(B_ * K_ * D_)), dU(U.size()), A(size_t(B_ * N_ * K_)), Pt(A.size()),
        dA(A.size()), dPt(A.size()), keep(A.size()) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j) keep[size_t((b * N + i) * K + j)] = uint8_t(hm[b * N + i] && vm[b * K + j]);
  }

  // C = alpha op(A) op(B) + beta C, row-major, straight to OpenBLAS.
  static void sgemm(bool ta, bool tb, int64_t M, int64_t Nc, int64_t Kd, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(Nc),
                int(Kd), 1.0f, a, int(lda), b, int(ldb), beta, c, int(ldc));
  }

  template <typename F>
  void per_ad(F&& fn) {
    run_per_ad(B, fn);
  }

  void forward(float* h_out, float* v_out, const float* H, const float* V, const float* Wf) {
    const float* u = V;
    if (Wf) {
      blas::match_simad_threads();
      sgemm(false, true, B * K, D, D, V, D, Wf, D, 0.0f, U.data(), D);
      u = U.data();
    }
    per_ad([&](int64_t b) {
      float* a = A.data() + b * N * K;
      float* pt = Pt.data() + b * N * K;
      const uint8_t* m = keep.data() + b * N * K;
      sgemm(false, true, N, K, D, H + b * N * D, D, u + b * K * D, D, 0.0f, a, K);  // S
      for (int64_t j = 0; j < K; ++j) {  // P^T: softmax of each column of S over the words
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < N; ++i)
          if (m[i * K + j]) mx = std::max(mx, a[i * K + j]);
        float sum = 0.0f;
        for (int64_t i = 0; i < N; ++i) {
          const float e = m[i * K + j] ? std::exp(a[i * K + j] - mx) : 0.0f;
          pt[j * N + i] = e;
          sum += e;
        }
        for (int64_t i = 0; i < N; ++i) pt[j * N + i] = sum > 0.0f ? pt[j * N + i] / sum : 0.0f;
      }
      for (int64_t i = 0; i < N; ++i) {  // A: softmax of each row of S over the regions, in place
        float* row = a + i * K;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < K; ++j)
          if (m[i * K + j]) mx = std::max(mx, row[j]);
        float sum = 0.0f;
        for (int64_t j = 0; j < K; ++j) {
          row[j] = m[i * K + j] ? std::exp(row[j] - mx) : 0.0f;
          sum += row[j];
        }
        for (int64_t j = 0; j < K; ++j) row[j] = sum > 0.0f ? row[j] / sum : 0.0f;
      }
      sgemm(false, false, N, D, K, a, K, V + b * K * D, D, 0.0f, h_out + b * N * D, D);   // H~ = A V
      sgemm(false, false, K, D, N, pt, N, H + b * N * D, D, 0.0f, v_out + b * K * D, D);  // V~ = P^T H
    });
  }

  // After forward. dH, dV, dWf accumulate (dWf only with Wf).
  void backward(float* dH, float* dV, float* dWf, const float* dh_out, const float* dv_out, const float* H,
                const float* V, const float* Wf) {
    const float* u = Wf ? U.data() : V;
    per_ad([&](int64_t b) {
      const int64_t o = b * N * K;
      const float *a = A.data() + o, *pt = Pt.data() + o, *hb = H + b * N * D, *vb = V + b * K * D;
      float *da = dA.data() + o, *dpt = dPt.data() + o;
      sgemm(false, true, N, K, D, dh_out + b * N * D, D, vb, D, 0.0f, da, K);           // dA = dH~ V^T
      sgemm(true, false, K, D, N, a, K, dh_out + b * N * D, D, 1.0f, dV + b * K * D, D);  // dV += A^T dH~
      sgemm(false, true, K, N, D, dv_out + b * K * D, D, hb, D, 0.0f, dpt, N);           // dP^T = dV~ H^T
      sgemm(true, false, N, D, K, pt, N, dv_out + b * K * D, D, 1.0f, dH + b * N * D, D);  // dH += P dV~
      for (int64_t i = 0; i < N; ++i) {  // dS = A o (dA - rowsum(A o dA)), into dA
        float dot = 0.0f;
        for (int64_t j = 0; j < K; ++j) dot += a[i * K + j] * da[i * K + j];
        for (int64_t j = 0; j < K; ++j) da[i * K + j] = a[i * K + j] * (da[i * K + j] - dot);
      }
      for (int64_t j = 0; j < K; ++j) {  // dS += P o (dP - colsum(P o dP))
        float dot = 0.0f;
        for (int64_t i = 0; i < N; ++i) dot += pt[j * N + i] * dpt[j * N + i];
        for (int64_t i = 0; i < N; ++i) da[i * K + j] += pt[j * N + i] * (dpt[j * N + i] - dot);
      }
      sgemm(false, false, N, D, K, da, K, u + b * K * D, D, 1.0f, dH + b * N * D, D);  // dH += dS U
      sgemm(true, false, K, D, N, da, K, hb, D, 0.0f, dU.data() + b * K * D, D);       // dU = dS^T H
    });
    if (!Wf) {
      for (size_t e = 0; e < dU.size(); ++e) dV[e] += dU[e];
      return;
    }
    blas::match_simad_threads();
    sgemm(false, false, B * K, D, D, dU.data(), D, Wf, D, 1.0f, dV, D);            // dV += dU W_f
    if (dWf) sgemm(true, false, D, D, B * K, dU.data(), D, V, D, 1.0f, dWf, D);   // dW_f += dU^T V
  }
};

}  // namespace simad::bench
