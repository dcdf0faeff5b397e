// benchmarks/unfused_attention.hpp: the unfused peers of simad's fused attention ops, composed from
// simad's own GEMM (OpenBLAS) and softmax ops the way a framework without fused kernels runs them:
// the full score matrices are materialised, softmaxed, and multiplied again. Used by
// bench_attention.cpp and `simad bench attention`; same semantics as ops/attention.hpp and
// ops/fusion_attention.hpp (so the benchmarks can compare outputs before timing).
//   UnfusedAttention: per (sequence, head) S = Q K^T / sqrt(hs) (B, NH, N, N), masked row softmax, O = P V;
//     backward: dP = dO V^T, dV += P^T dO, dS = softmax_backward, dQ += dS K scale, dK += dS^T Q scale.
//   UnfusedFusion: per ad S = G V^T and S^T = V G^T (G = H W_f), row softmaxes of both (A and P^T),
//     H~ = A V, V~ = P^T H; backward by the same products and softmax_backward.
// Small per-head / per-ad GEMMs run in parallel over heads or ads with OpenBLAS on one thread each.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "simad/core/parallel.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/gemm.hpp"
#include "simad/ops/softmax.hpp"

namespace simad::bench {

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
    blas::BlasThreadsScope single(1);
    parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) fn(b);
    });
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

}  // namespace simad::bench
