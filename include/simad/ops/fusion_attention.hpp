// simad/ops/fusion_attention.hpp: the dual-softmax co-attention between the words and the image
// regions of an ad (MODELS.md "fusion attention": ION's DFA, eq. 7-9; ToTYEmb's fusion, eq. 12-14,
// is the same operator with W_f = I), forward and backward, batched over ads.
// Per ad b, with H (N, D) the word vectors, V (K, D) the region vectors and an optional bilinear W_f (D, D):
//   S = H W_f V^T                         s_ij = h_i^T W_f v_j               (N, K), the ONE score matrix
//   A = softmax over regions of S         A_ij = exp(s_ij) / sum_j' exp(s_ij')  (rows of S)
//   P = softmax over words of S           P_ij = exp(s_ij) / sum_i' exp(s_i'j)  (columns of S)
//   H~ = A V      h~_i = sum_j A_ij v_j   (text side: each word gathers regions)
//   V~ = P^T H    v~_j = sum_i P_ij h_i   (image side: each region gathers words)
// Masks (B, N) for words and (B, K) for regions, 1 = real, 0 = padding (nullptr = none): padded
// regions get no weight in A, padded words none in P. A padded word's row of A and a padded region's
// column of P are zero, so its output row h~_i / v~_j is zero (and an ad with no region, or no word,
// outputs zeros on that side); padded positions receive zero gradient.
// The forward saves A and P (B, N, K) for the backward. Backward ACCUMULATES (any gradient may be
// nullptr), with G = H W_f (G = H when W_f is nullptr, i.e. W_f = I):
//   dA = dH~ V^T,  dS  = A o (dA - rowsum(A o dA))      dV += A^T dH~
//   dP = H dV~^T,  dS += P o (dP - colsum(P o dP))      dH += P dV~
//   dG = dS V,     dV += dS^T G,    dH += dG W_f^T,     dW_f += H^T dG
// G = H W_f and the W_f products of the backward are single GEMMs over all B N rows (OpenBLAS);
// the per-ad work (scores, both softmaxes, the four small products) runs in parallel over ads, each
// ad on one thread, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/gemm.hpp"
#include "simad/ops/softmax.hpp"  // detail::dot_lanes, softmax_exp

namespace simad::ops {

namespace detail {
inline void fusion_check(const char* op, int64_t B, int64_t N, int64_t K, int64_t D) {
  SIMAD_CHECK(B >= 0 && N >= 0 && K >= 0 && D >= 0, op, ": negative size B=", B, " N=", N, " K=", K, " D=", D);
}

template <typename T>
inline T fusion_exp(T x) {  // x <= 0
  return softmax_exp(softmax_exp_arg(x));
}

// y (n) += a x (n)
template <typename T>
inline void axpy(T* y, T a, const T* x, int64_t n) {
  for (int64_t d = 0; d < n; ++d) y[d] += a * x[d];
}
}  // namespace detail

template <typename T>
void fusion_attention_forward(T* h_out,               // (B, N, D) H~ = A V
                              T* v_out,               // (B, K, D) V~ = P^T H
                              T* probs_text,          // (B, N, K) A, saved for backward
                              T* probs_image,         // (B, N, K) P, saved for backward
                              const T* H,             // (B, N, D) word vectors
                              const T* V,             // (B, K, D) region vectors
                              const T* Wf,            // (D, D) bilinear weight, or nullptr (identity)
                              const uint8_t* h_mask,  // (B, N) 1 = word, 0 = padding; or nullptr
                              const uint8_t* v_mask,  // (B, K) 1 = region, 0 = padding; or nullptr
                              int64_t B, int64_t N, int64_t K, int64_t D) {
  static_assert(std::is_floating_point_v<T>, "fusion_attention: floating-point element type");
  detail::fusion_check("fusion_attention_forward", B, N, K, D);
  if (B == 0 || (N == 0 && K == 0)) return;
  SIMAD_CHECK(h_out != nullptr && v_out != nullptr && probs_text != nullptr && probs_image != nullptr &&
                  H != nullptr && V != nullptr,
              "fusion_attention_forward: null output or input for B=", B, " N=", N, " K=", K, " D=", D);
  std::vector<T> g;  // G = H W_f (B N, D)
  if (Wf && N > 0 && D > 0) {
    g.resize(size_t(B * N * D));
    gemm(false, false, B * N, D, D, T(1), H, D, Wf, D, T(0), g.data(), D);
  }
  const T* G = Wf ? g.data() : H;
  constexpr T neg_inf = -std::numeric_limits<T>::infinity();
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> S(static_cast<size_t>(N * K)), colmax(static_cast<size_t>(K)), colsum(static_cast<size_t>(K));
    for (int64_t b = b0; b < b1; ++b) {
      const T* Hb = H + b * N * D;
      const T* Gb = G + b * N * D;
      const T* Vb = V + b * K * D;
      const uint8_t* hm = h_mask ? h_mask + b * N : nullptr;
      const uint8_t* vm = v_mask ? v_mask + b * K : nullptr;
      T* A = probs_text + b * N * K;
      T* P = probs_image + b * N * K;
      // Scores; a padded word or region gets -inf, so both softmaxes skip it.
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j)
          S[size_t(i * K + j)] =
              (hm && !hm[i]) || (vm && !vm[j]) ? neg_inf : detail::dot_lanes(Gb + i * D, Vb + j * D, D);
      // A: softmax of each row over the regions.
      for (int64_t i = 0; i < N; ++i) {
        const T* s = S.data() + i * K;
        T* a = A + i * K;
        T mx = neg_inf;
        for (int64_t j = 0; j < K; ++j) mx = std::max(mx, s[j]);
        if (mx == neg_inf) {  // padded word or no region
          std::fill(a, a + K, T(0));
          continue;
        }
        T sum = T(0);
        for (int64_t j = 0; j < K; ++j) sum += a[j] = s[j] == neg_inf ? T(0) : detail::fusion_exp(s[j] - mx);
        for (int64_t j = 0; j < K; ++j) a[j] /= sum;
      }
      // P: softmax of each column over the words.
      std::fill(colmax.begin(), colmax.end(), neg_inf);
      std::fill(colsum.begin(), colsum.end(), T(0));
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j) colmax[size_t(j)] = std::max(colmax[size_t(j)], S[size_t(i * K + j)]);
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j) {
          const T s = S[size_t(i * K + j)], mx = colmax[size_t(j)];
          const T e = s == neg_inf ? T(0) : detail::fusion_exp(s - mx);
          P[i * K + j] = e;
          colsum[size_t(j)] += e;
        }
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j)
          if (colsum[size_t(j)] > T(0)) P[i * K + j] /= colsum[size_t(j)];
      // H~ = A V and V~ = P^T H.
      T* ho = h_out + b * N * D;
      T* vo = v_out + b * K * D;
      std::fill(ho, ho + N * D, T(0));
      std::fill(vo, vo + K * D, T(0));
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j) {
          const T a = A[i * K + j], p = P[i * K + j];
          if (a != T(0)) detail::axpy(ho + i * D, a, Vb + j * D, D);
          if (p != T(0)) detail::axpy(vo + j * D, p, Hb + i * D, D);
        }
    }
  });
}

template <typename T>
void fusion_attention_backward(T* dH,                   // (B, N, D) accumulated, or nullptr
                               T* dV,                   // (B, K, D) accumulated, or nullptr
                               T* dWf,                  // (D, D) accumulated, or nullptr (also when Wf is)
                               const T* dh_out,         // (B, N, D) gradient of H~
                               const T* dv_out,         // (B, K, D) gradient of V~
                               const T* H,              // (B, N, D) the forward's
                               const T* V,              // (B, K, D) the forward's
                               const T* Wf,             // (D, D) the forward's, or nullptr
                               const T* probs_text,     // (B, N, K) A saved by the forward
                               const T* probs_image,    // (B, N, K) P saved by the forward
                               int64_t B, int64_t N, int64_t K, int64_t D) {
  static_assert(std::is_floating_point_v<T>, "fusion_attention: floating-point element type");
  detail::fusion_check("fusion_attention_backward", B, N, K, D);
  if (!Wf) dWf = nullptr;
  if (B == 0 || N == 0 || K == 0 || D == 0 || (!dH && !dV && !dWf)) return;
  SIMAD_CHECK(dh_out != nullptr && dv_out != nullptr && H != nullptr && V != nullptr && probs_text != nullptr &&
                  probs_image != nullptr,
              "fusion_attention_backward: null gradient or saved input for B=", B, " N=", N, " K=", K, " D=", D);
  std::vector<T> g, dg;  // G = H W_f and dG (B N, D) when W_f is given
  if (Wf) {
    g.resize(size_t(B * N * D));
    gemm(false, false, B * N, D, D, T(1), H, D, Wf, D, T(0), g.data(), D);
    dg.assign(size_t(B * N * D), T(0));
  }
  const T* G = Wf ? g.data() : H;
  // dG goes to its own buffer with W_f, else straight into dH (G = H); with W_f = I and no dH, skip it.
  T* dG = Wf ? dg.data() : dH;
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> dS(static_cast<size_t>(N * K)), dP(static_cast<size_t>(N * K)), colsum(static_cast<size_t>(K));
    for (int64_t b = b0; b < b1; ++b) {
      const T* Hb = H + b * N * D;
      const T* Gb = G + b * N * D;
      const T* Vb = V + b * K * D;
      const T* dho = dh_out + b * N * D;
      const T* dvo = dv_out + b * K * D;
      const T* A = probs_text + b * N * K;
      const T* P = probs_image + b * N * K;
      T* dVb = dV ? dV + b * K * D : nullptr;
      T* dHb = dH ? dH + b * N * D : nullptr;
      // Text side, row softmax: dS = A o (dA - rowsum(A o dA)), dA_ij = dh~_i . v_j.
      for (int64_t i = 0; i < N; ++i) {
        T dot = T(0);
        for (int64_t j = 0; j < K; ++j) {
          const T a = A[i * K + j];
          const T da = a != T(0) ? detail::dot_lanes(dho + i * D, Vb + j * D, D) : T(0);
          dS[size_t(i * K + j)] = da;
          dot += a * da;
          if (dVb && a != T(0)) detail::axpy(dVb + j * D, a, dho + i * D, D);
        }
        for (int64_t j = 0; j < K; ++j) dS[size_t(i * K + j)] = A[i * K + j] * (dS[size_t(i * K + j)] - dot);
      }
      // Image side, column softmax: dS += P o (dP - colsum(P o dP)), dP_ij = dv~_j . h_i.
      std::fill(colsum.begin(), colsum.end(), T(0));
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j) {
          const T p = P[i * K + j];
          const T dp = p != T(0) ? detail::dot_lanes(dvo + j * D, Hb + i * D, D) : T(0);
          dP[size_t(i * K + j)] = dp;
          colsum[size_t(j)] += p * dp;
          if (dHb && p != T(0)) detail::axpy(dHb + i * D, p, dvo + j * D, D);
        }
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j)
          dS[size_t(i * K + j)] += P[i * K + j] * (dP[size_t(i * K + j)] - colsum[size_t(j)]);
      // S = G V^T: dG = dS V, dV += dS^T G.
      T* dGb = dG ? dG + b * N * D : nullptr;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < K; ++j) {
          const T ds = dS[size_t(i * K + j)];
          if (ds == T(0)) continue;
          if (dGb) detail::axpy(dGb + i * D, ds, Vb + j * D, D);
          if (dVb) detail::axpy(dVb + j * D, ds, Gb + i * D, D);
        }
    }
  });
  if (!Wf) return;
  // G = H W_f: dH += dG W_f^T, dW_f += H^T dG, each one GEMM over all rows.
  if (dH) gemm(false, true, B * N, D, D, T(1), dg.data(), D, Wf, D, T(1), dH, D);
  if (dWf) gemm(true, false, D, D, B * N, T(1), H, D, dg.data(), D, T(1), dWf, D);
}

}  // namespace simad::ops
