// simad/ops/fusion_attention.hpp: the dual-softmax co-attention between the words and the image
// regions of an ad (MODELS.md "fusion attention": ION's DFA, eq. 7-9; ToTYEmb's fusion, eq. 12-14,
// is the same operator with W_f = I), forward and backward, batched over ads.
// Per ad b, with H (N, D) the word vectors, V (K, D) the region vectors and an optional bilinear W_f (D, D):
//   S = H W_f V^T = H U^T, U = V W_f^T    s_ij = h_i^T W_f v_j = h_i . u_j  (N, K), the ONE score matrix
//   A = softmax over regions of S         A_ij = exp(s_ij) / sum_j' exp(s_ij')  (rows of S)
//   P = softmax over words of S           P_ij = exp(s_ij) / sum_i' exp(s_i'j)  (columns of S)
//   H~ = A V      h~_i = sum_j A_ij v_j   (text side: each word gathers regions)
//   V~ = P^T H    v~_j = sum_i P_ij h_i   (image side: each region gathers words)
// Masks (B, N) for words and (B, K) for regions, 1 = real, 0 = padding (nullptr = none): padded
// regions get no weight in A, padded words none in P. A padded word's row of A and a padded region's
// column of P are zero, so its output row h~_i / v~_j is zero (and an ad with no region, or no word,
// outputs zeros on that side); padded positions receive zero gradient.
// The forward saves A and P (B, N, K) for the backward. Backward ACCUMULATES (any gradient may be
// nullptr), with U = V W_f^T (U = V when W_f is nullptr, i.e. W_f = I):
//   dA = dH~ V^T,  dS  = A o (dA - rowsum(A o dA))      dV += A^T dH~
//   dP = H dV~^T,  dS += P o (dP - colsum(P o dP))      dH += P dV~
//   dH += dS U,    dU = dS^T H,    dV += dU W_f,        dW_f += dU^T V
// W_f goes through U (K x D per ad), not G = H W_f (N x D): with K regions << N words that is N / K
// times fewer flops for each W_f product (2 B K D^2 for U; the backward recomputes U, since the
// signature has no place to keep it, and adds dU W_f and dU^T V, the last one a single GEMM over
// the kept regions of all ads). Everything else runs in parallel over ads, each ad on one thread
// with its own reused scratch, so results do not depend on the thread count. Per ad, the kept words
// and regions are compacted (padding costs nothing; in the backward, "kept" is a nonzero row or
// column of A or P), and every product (U, S = H U^T, dA, dP; H~ = A V, V~ = P^T H, dH, dV, dU,
// dU W_f) runs in one of two register-tiled micro-kernels on native vectors (GCC/Clang vector
// extensions, as in attention.hpp). Each element sums over features, or over words or regions, in
// plain loop order, so results do not depend on the vector width either.
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
#include "simad/ops/softmax.hpp"  // detail::softmax_exp, softmax_exp_arg
#include "simad/ops/vector_kernel.hpp"

namespace simad::ops {

namespace detail {
inline void fusion_check(const char* op, int64_t B, int64_t N, int64_t K, int64_t D) {
  SIMAD_CHECK(B >= 0 && N >= 0 && K >= 0 && D >= 0, op, ": negative size B=", B, " N=", N, " K=", K, " D=", D);
}

// Native vectors for the micro-kernels (each accumulator is a named register): tiles of up to
// kFusionRows rows x 2 vectors of accumulators, 12 of the 16 AVX2 registers or 24 of the 32 AVX-512
// ones (the rest hold the loaded vectors and the broadcast coefficient). SIMAD_FUSION_WIDE_TILES
// forces the AVX-512 shapes on any machine (the compiler splits the 64-byte vectors), so that tiling
// can be tested without AVX-512.
#if defined(__AVX512F__) || defined(SIMAD_FUSION_WIDE_TILES)
inline constexpr int64_t kFusionVecBytes = 64;
inline constexpr int kFusionRows = 12;
#else
inline constexpr int64_t kFusionVecBytes = 32;
inline constexpr int kFusionRows = 6;
#endif

template <typename T>
using FusionVec = KernelVector<T, kFusionVecBytes>;

// tile.template operator()<R>(r0) over rows [0, n) in as few tiles of at most RMax rows as can be,
// of balanced sizes (21 rows in tiles of <= 6: 5, 5, 5, 6), so no tile computes a row that does not
// exist and none is left with a row or two.
template <int R, typename F>
inline void fusion_tile_of(int64_t rows, int64_t r0, F& tile) {
  if constexpr (R > 1) {
    if (rows < R) return fusion_tile_of<R - 1>(rows, r0, tile);
  }
  tile.template operator()<R>(r0);
}
template <int RMax, typename F>
inline void fusion_row_tiles(int64_t n, F&& tile) {
  const int64_t tiles = (n + RMax - 1) / RMax;
  for (int64_t t = 0, r0 = 0; t < tiles; ++t) {
    const int64_t rows = (n - r0) / (tiles - t);  // the larger tiles come last
    fusion_tile_of<RMax>(rows, r0, tile);
    r0 += rows;
  }
}

// s (R rows, stride lds)[:, c0 : c0 + NC vectors] = rows[r][0 : D] . bt[0 : D, c] with bt (D, ldb):
// scores of R rows against the columns of bt, summed over the D features in order.
template <typename T, int R, int NC>
inline void fusion_scores_tile(T* s, int64_t lds, const T* const* rows, const T* bt, int64_t ldb, int64_t D,
                               int64_t c0) {
  using V = typename FusionVec<T>::type;
  using U = typename FusionVec<T>::unaligned;
  constexpr int64_t VL = FusionVec<T>::lanes;
  const T* x[R];
  for (int r = 0; r < R; ++r) x[r] = rows[r];
  V acc[R][NC] = {};
  for (int64_t d = 0; d < D; ++d) {
    V b[NC];
    for (int k = 0; k < NC; ++k) {
      b[k] = *reinterpret_cast<const U*>(bt + d * ldb + c0 + k * VL);
      keep_in_register(b[k]);
    }
    for (int r = 0; r < R; ++r) {
      const T xr = x[r][d];
      for (int k = 0; k < NC; ++k) vector_fma(xr, b[k], acc[r][k]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < NC; ++k) *reinterpret_cast<U*>(s + r * lds + c0 + k * VL) = acc[r][k];
}

// s (n, lds)[:, 0 : kp] = rows (n row pointers, D features) times bt (D, kp); kp a whole number of vectors.
template <typename T>
inline void fusion_scores(T* s, int64_t lds, const T* const* rows, int64_t n, const T* bt, int64_t kp, int64_t D) {
  constexpr int64_t VL = FusionVec<T>::lanes;
  int64_t c0 = 0;
  for (; c0 + 2 * VL <= kp; c0 += 2 * VL)
    fusion_row_tiles<kFusionRows>(n, [&]<int R>(int64_t r0) {
      fusion_scores_tile<T, R, 2>(s + r0 * lds, lds, rows + r0, bt, kp, D, c0);
    });
  if (c0 < kp)  // one vector of columns left: twice the rows
    fusion_row_tiles<2 * kFusionRows>(n, [&]<int R>(int64_t r0) {
      fusion_scores_tile<T, R, 1>(s + r0 * lds, lds, rows + r0, bt, kp, D, c0);
    });
}

// out[r][0 : D] = (Accumulate ? out[r] : 0) + sum_c coef[r * ldc + c] rows[c][0 : D], c = 0 .. n-1 in
// order, for R output rows: the products whose sums run over regions, words or features (U, H~ = A V,
// V~ = P^T H, dH, dV, dU, dU W_f). Features come 2 vectors at a time, then 1, then one by one; every
// element sums alike.
template <typename T, int R, bool Accumulate>
inline void fusion_combine_tile(T* const* out, const T* coef, int64_t ldc, const T* const* rows, int64_t n,
                                int64_t D) {
  using V = typename FusionVec<T>::type;
  using U = typename FusionVec<T>::unaligned;
  constexpr int64_t VL = FusionVec<T>::lanes;
  int64_t d0 = 0;
  for (; d0 + 2 * VL <= D; d0 += 2 * VL) {
    V acc[R][2];
    for (int r = 0; r < R; ++r) {
      if constexpr (Accumulate) {
        acc[r][0] = *reinterpret_cast<const U*>(out[r] + d0);
        acc[r][1] = *reinterpret_cast<const U*>(out[r] + d0 + VL);
      } else {
        acc[r][0] = V{};
        acc[r][1] = V{};
      }
    }
    for (int64_t c = 0; c < n; ++c) {
      V x0, x1;
      x0 = *reinterpret_cast<const U*>(rows[c] + d0);
      x1 = *reinterpret_cast<const U*>(rows[c] + d0 + VL);
      keep_in_registers(x0, x1);
      for (int r = 0; r < R; ++r) {
        const T a = coef[r * ldc + c];
        vector_fma(a, x0, acc[r][0]);
        vector_fma(a, x1, acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      *reinterpret_cast<U*>(out[r] + d0) = acc[r][0];
      *reinterpret_cast<U*>(out[r] + d0 + VL) = acc[r][1];
    }
  }
  if (d0 + VL <= D) {
    V acc[R];
    for (int r = 0; r < R; ++r) {
      if constexpr (Accumulate)
        acc[r] = *reinterpret_cast<const U*>(out[r] + d0);
      else
        acc[r] = V{};
    }
    for (int64_t c = 0; c < n; ++c) {
      V x0;
      x0 = *reinterpret_cast<const U*>(rows[c] + d0);
      keep_in_register(x0);
      for (int r = 0; r < R; ++r) vector_fma(coef[r * ldc + c], x0, acc[r]);
    }
    for (int r = 0; r < R; ++r) *reinterpret_cast<U*>(out[r] + d0) = acc[r];
    d0 += VL;
  }
  for (; d0 < D; ++d0)
    for (int r = 0; r < R; ++r) {
      T acc = Accumulate ? out[r][d0] : T(0);
      for (int64_t c = 0; c < n; ++c) acc = std::fma(coef[r * ldc + c], rows[c][d0], acc);  // as vector_fma
      out[r][d0] = acc;
    }
}

// out (m row pointers)[:, 0 : D] (= or +=) coef (m, ldc)[:, 0 : n] times rows (n row pointers).
template <typename T, bool Accumulate>
inline void fusion_combine(T* const* out, int64_t m, const T* coef, int64_t ldc, const T* const* rows, int64_t n,
                           int64_t D) {
  fusion_row_tiles<kFusionRows>(m, [&]<int R>(int64_t r0) {
    fusion_combine_tile<T, R, Accumulate>(out + r0, coef + r0 * ldc, ldc, rows, n, D);
  });
}

inline int64_t fusion_round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// t (D, kp) = the n rows (pointers, D features each) transposed, zero in the columns past n: the
// bt operand of fusion_scores.
template <typename T>
inline void fusion_transpose_rows(std::vector<T>& t, const T* const* rows, int64_t n, int64_t kp, int64_t D) {
  t.resize(size_t(D * kp));
  for (int64_t d = 0; d < D; ++d) {
    T* dst = t.data() + d * kp;
    for (int64_t jj = 0; jj < n; ++jj) dst[jj] = rows[jj][d];
    for (int64_t jj = n; jj < kp; ++jj) dst[jj] = T(0);
  }
}

// One thread's per-ad buffers, reused from ad to ad. Compacted index lists of the kept words and
// regions, row pointers into the batch, and the small (words x regions) matrices, whose rows are kp
// (the kept regions rounded up to whole vectors) wide.
template <typename T>
struct FusionScratch {
  std::vector<int64_t> words, regions;
  std::vector<const T*> word_rows, region_rows;  // inputs the micro-kernels read, two lists each
  std::vector<const T*> src_rows;                // rows to transpose
  std::vector<const T*> w_rows;                  // (D) rows of W_f^T
  std::vector<T*> out_rows;
  std::vector<T> vk, uk, duk;                    // (regions, D): V, U = V W_f^T, dU of the kept regions
  std::vector<T> bt, bt2;                        // (D, kp) transposed region rows
  std::vector<T> s, s2, a, p, coef;              // (words, kp), coef (words or regions, 2 x the other)
  std::vector<T> col;                            // (kp) per-region column max / sums

  // uk = U = V W_f^T of the nk kept regions of ad b (W_f^T as w_rows): u_j = W_f v_j.
  void region_products(const T* V, int64_t b, int64_t K, int64_t D) {
    const int64_t nk = int64_t(regions.size());
    vk.resize(size_t(nk * D));
    uk.resize(size_t(nk * D));
    out_rows.resize(size_t(nk));
    for (int64_t jj = 0; jj < nk; ++jj) {
      const T* v = V + (b * K + regions[size_t(jj)]) * D;
      std::copy(v, v + D, vk.data() + jj * D);
      out_rows[size_t(jj)] = uk.data() + jj * D;
    }
    fusion_combine<T, false>(out_rows.data(), nk, vk.data(), D, w_rows.data(), D, D);
  }
};

// Row pointers of a (D, D) matrix, the `rows` operand of fusion_combine.
template <typename T>
inline void fusion_weight_rows(std::vector<const T*>& rows, const T* W, int64_t D) {
  rows.resize(size_t(D));
  for (int64_t d = 0; d < D; ++d) rows[size_t(d)] = W + d * D;
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
  constexpr int64_t VL = detail::FusionVec<T>::lanes;
  std::vector<T> wt;  // W_f^T
  if (Wf) {
    wt.resize(size_t(D * D));
    for (int64_t d = 0; d < D; ++d)
      for (int64_t e = 0; e < D; ++e) wt[size_t(e * D + d)] = Wf[d * D + e];
  }
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    detail::FusionScratch<T> w;
    if (Wf) detail::fusion_weight_rows(w.w_rows, wt.data(), D);
    for (int64_t b = b0; b < b1; ++b) {
      T* A = probs_text + b * N * K;
      T* P = probs_image + b * N * K;
      T* ho = h_out + b * N * D;
      T* vo = v_out + b * K * D;
      std::fill(A, A + N * K, T(0));
      std::fill(P, P + N * K, T(0));
      w.words.clear();
      w.regions.clear();
      for (int64_t i = 0; i < N; ++i)
        if (!h_mask || h_mask[b * N + i]) w.words.push_back(i);
      for (int64_t j = 0; j < K; ++j)
        if (!v_mask || v_mask[b * K + j]) w.regions.push_back(j);
      const int64_t nw = int64_t(w.words.size()), nk = int64_t(w.regions.size());
      // Padded words and regions output zeros; an ad without words or regions outputs only zeros.
      for (int64_t i = 0, ii = 0; i < N; ++i)
        if (nk == 0 || ii >= nw || w.words[size_t(ii)] != i)
          std::fill(ho + i * D, ho + (i + 1) * D, T(0));
        else
          ++ii;
      for (int64_t j = 0, jj = 0; j < K; ++j)
        if (nw == 0 || jj >= nk || w.regions[size_t(jj)] != j)
          std::fill(vo + j * D, vo + (j + 1) * D, T(0));
        else
          ++jj;
      if (nw == 0 || nk == 0) continue;
      const int64_t kp = detail::fusion_round_up(nk, VL);
      // U^T of the kept regions (D, kp), zero past nk; row pointers of the kept words and regions.
      if (Wf) w.region_products(V, b, K, D);
      w.region_rows.resize(size_t(nk));
      w.src_rows.resize(size_t(nk));
      for (int64_t jj = 0; jj < nk; ++jj) {
        const T* v = V + (b * K + w.regions[size_t(jj)]) * D;
        w.region_rows[size_t(jj)] = v;
        w.src_rows[size_t(jj)] = Wf ? w.uk.data() + jj * D : v;
      }
      detail::fusion_transpose_rows(w.bt, w.src_rows.data(), nk, kp, D);
      w.word_rows.resize(size_t(nw));
      for (int64_t ii = 0; ii < nw; ++ii) w.word_rows[size_t(ii)] = H + (b * N + w.words[size_t(ii)]) * D;
      // S = H U^T (nw, kp).
      w.s.resize(size_t(nw * kp));
      detail::fusion_scores(w.s.data(), kp, w.word_rows.data(), nw, w.bt.data(), kp, D);
      // A: softmax of each row over the kept regions (exp arguments first, then one exp loop that
      // vectorises; columns past nk are never read).
      const T* S = w.s.data();
      w.a.resize(size_t(nw * kp));
      T* a = w.a.data();
      for (int64_t ii = 0; ii < nw; ++ii) {
        const T* s = S + ii * kp;
        T mx = s[0];
        for (int64_t jj = 1; jj < nk; ++jj) mx = std::max(mx, s[jj]);
        for (int64_t jj = 0; jj < kp; ++jj) a[ii * kp + jj] = detail::softmax_exp_arg(jj < nk ? s[jj] - mx : T(0));
      }
      for (int64_t e = 0; e < nw * kp; ++e) a[e] = detail::softmax_exp(a[e]);
      for (int64_t ii = 0; ii < nw; ++ii) {
        T* ar = a + ii * kp;
        T sum = T(0);
        for (int64_t jj = 0; jj < nk; ++jj) sum += ar[jj];
        T* dst = A + w.words[size_t(ii)] * K;
        for (int64_t jj = 0; jj < nk; ++jj) dst[w.regions[size_t(jj)]] = ar[jj] /= sum;
      }
      // P: softmax of each column over the kept words; stored transposed (nk, nw) for V~ = P^T H.
      w.col.assign(size_t(kp), -std::numeric_limits<T>::infinity());
      T* col = w.col.data();
      for (int64_t ii = 0; ii < nw; ++ii)
        for (int64_t jj = 0; jj < kp; ++jj) col[jj] = std::max(col[jj], S[ii * kp + jj]);
      w.p.resize(size_t(nw * kp));
      T* p = w.p.data();
      for (int64_t ii = 0; ii < nw; ++ii)
        for (int64_t jj = 0; jj < kp; ++jj) p[ii * kp + jj] = detail::softmax_exp_arg(S[ii * kp + jj] - col[jj]);
      for (int64_t e = 0; e < nw * kp; ++e) p[e] = detail::softmax_exp(p[e]);
      std::fill(col, col + kp, T(0));
      for (int64_t ii = 0; ii < nw; ++ii)
        for (int64_t jj = 0; jj < kp; ++jj) col[jj] += p[ii * kp + jj];
      w.coef.resize(size_t(nk * nw));
      T* pt = w.coef.data();
      for (int64_t ii = 0; ii < nw; ++ii) {
        T* dst = P + w.words[size_t(ii)] * K;
        for (int64_t jj = 0; jj < nk; ++jj) dst[w.regions[size_t(jj)]] = pt[jj * nw + ii] = p[ii * kp + jj] / col[jj];
      }
      // H~ = A V over the kept words, V~ = P^T H over the kept regions.
      w.out_rows.resize(size_t(std::max(nw, nk)));
      for (int64_t ii = 0; ii < nw; ++ii) w.out_rows[size_t(ii)] = ho + w.words[size_t(ii)] * D;
      detail::fusion_combine<T, false>(w.out_rows.data(), nw, a, kp, w.region_rows.data(), nk, D);
      for (int64_t jj = 0; jj < nk; ++jj) w.out_rows[size_t(jj)] = vo + w.regions[size_t(jj)] * D;
      detail::fusion_combine<T, false>(w.out_rows.data(), nk, pt, nw, w.word_rows.data(), nw, D);
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
  constexpr int64_t VL = detail::FusionVec<T>::lanes;
  // A region carries weight (and gets gradient) where its column of A or P has a nonzero; so does a
  // word with its row. The rest get exactly zero gradient, as the full products would give them.
  auto region_on = [&](int64_t b, int64_t j) {
    const T* A = probs_text + b * N * K;
    const T* P = probs_image + b * N * K;
    for (int64_t i = 0; i < N; ++i)
      if (A[i * K + j] != T(0) || P[i * K + j] != T(0)) return true;
    return false;
  };
  // dW_f += dU^T V over the regions with weight of all ads: their dU and V rows, compacted (ad b
  // from row start[b]), then one GEMM.
  std::vector<int64_t> start;
  std::vector<T> duc, vc;
  if (dWf) {
    start.assign(size_t(B + 1), 0);
    std::vector<int64_t> count(static_cast<size_t>(B), 0);
    parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t j = 0; j < K; ++j) count[size_t(b)] += region_on(b, j) ? 1 : 0;
    });
    for (int64_t b = 0; b < B; ++b) start[size_t(b + 1)] = start[size_t(b)] + count[size_t(b)];
    duc.resize(size_t(start[size_t(B)] * D));
    vc.resize(duc.size());
  }
  std::vector<T> wt;  // W_f^T for U = V W_f^T
  if (Wf) {
    wt.resize(size_t(D * D));
    for (int64_t d = 0; d < D; ++d)
      for (int64_t e = 0; e < D; ++e) wt[size_t(e * D + d)] = Wf[d * D + e];
  }
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    detail::FusionScratch<T> w;
    std::vector<const T*> wf_rows;  // rows of W_f for dV += dU W_f
    if (Wf) {
      detail::fusion_weight_rows(w.w_rows, wt.data(), D);
      detail::fusion_weight_rows(wf_rows, Wf, D);
    }
    for (int64_t b = b0; b < b1; ++b) {
      const T* A = probs_text + b * N * K;
      const T* P = probs_image + b * N * K;
      w.words.clear();
      w.regions.clear();
      for (int64_t j = 0; j < K; ++j)
        if (region_on(b, j)) w.regions.push_back(j);
      const int64_t nk = int64_t(w.regions.size());
      if (nk == 0) continue;
      for (int64_t i = 0; i < N; ++i) {
        bool on = false;
        for (int64_t j = 0; j < K; ++j) on = on || A[i * K + j] != T(0) || P[i * K + j] != T(0);
        if (on) w.words.push_back(i);
      }
      const int64_t nw = int64_t(w.words.size());  // >= 1: a region is kept by a nonzero in some row
      const int64_t kp = detail::fusion_round_up(nk, VL);
      // A and P of the kept words and regions (nw, kp), zero past nk.
      w.a.assign(size_t(nw * kp), T(0));
      w.p.assign(size_t(nw * kp), T(0));
      T* a = w.a.data();
      T* p = w.p.data();
      for (int64_t ii = 0; ii < nw; ++ii)
        for (int64_t jj = 0; jj < nk; ++jj) {
          const int64_t e = w.words[size_t(ii)] * K + w.regions[size_t(jj)];
          a[ii * kp + jj] = A[e];
          p[ii * kp + jj] = P[e];
        }
      // V^T and dV~^T of the kept regions (D, kp); row lists: [dv~_j ; u_j] of the regions,
      // [dh~_i ; h_i] of the words.
      if (Wf) w.region_products(V, b, K, D);
      w.region_rows.resize(size_t(2 * nk));
      w.src_rows.resize(size_t(nk));
      for (int64_t jj = 0; jj < nk; ++jj) {
        const int64_t j = w.regions[size_t(jj)];
        const T* v = V + (b * K + j) * D;
        w.src_rows[size_t(jj)] = v;
        w.region_rows[size_t(jj)] = dv_out + (b * K + j) * D;
        w.region_rows[size_t(nk + jj)] = Wf ? w.uk.data() + jj * D : v;
      }
      detail::fusion_transpose_rows(w.bt, w.src_rows.data(), nk, kp, D);
      detail::fusion_transpose_rows(w.bt2, w.region_rows.data(), nk, kp, D);
      w.word_rows.resize(size_t(2 * nw));
      for (int64_t ii = 0; ii < nw; ++ii) {
        w.word_rows[size_t(ii)] = dh_out + (b * N + w.words[size_t(ii)]) * D;
        w.word_rows[size_t(nw + ii)] = H + (b * N + w.words[size_t(ii)]) * D;
      }
      // dA = dH~ V^T and dP = H dV~^T (nw, kp).
      w.s.resize(size_t(nw * kp));
      w.s2.resize(size_t(nw * kp));
      T* dA = w.s.data();
      T* dP = w.s2.data();
      detail::fusion_scores(dA, kp, w.word_rows.data(), nw, w.bt.data(), kp, D);
      detail::fusion_scores(dP, kp, w.word_rows.data() + nw, nw, w.bt2.data(), kp, D);
      // dS = A o (dA - rowsum(A o dA)) + P o (dP - colsum(P o dP)), into dA.
      w.col.assign(size_t(kp), T(0));
      T* col = w.col.data();
      for (int64_t ii = 0; ii < nw; ++ii)
        for (int64_t jj = 0; jj < kp; ++jj) col[jj] += p[ii * kp + jj] * dP[ii * kp + jj];
      for (int64_t ii = 0; ii < nw; ++ii) {
        T dot = T(0);
        for (int64_t jj = 0; jj < nk; ++jj) dot += a[ii * kp + jj] * dA[ii * kp + jj];
        for (int64_t jj = 0; jj < kp; ++jj) {
          const int64_t e = ii * kp + jj;
          dA[e] = a[e] * (dA[e] - dot) + p[e] * (dP[e] - col[jj]);
        }
      }
      const T* dS = dA;
      // Word side: dH += P dV~ + dS U, one pass with the coefficients [P_i | dS_i] (nw, 2 nk).
      if (dH) {
        w.coef.resize(size_t(nw * 2 * nk));
        T* c = w.coef.data();
        for (int64_t ii = 0; ii < nw; ++ii)
          for (int64_t jj = 0; jj < nk; ++jj) {
            c[ii * 2 * nk + jj] = p[ii * kp + jj];
            c[ii * 2 * nk + nk + jj] = dS[ii * kp + jj];
          }
        w.out_rows.resize(size_t(nw));
        for (int64_t ii = 0; ii < nw; ++ii) w.out_rows[size_t(ii)] = dH + (b * N + w.words[size_t(ii)]) * D;
        detail::fusion_combine<T, true>(w.out_rows.data(), nw, c, 2 * nk, w.region_rows.data(), 2 * nk, D);
      }
      // Region side, coefficients [A^T_j | dS^T_j] (nk, 2 nw): dV += A^T dH~ + dS^T H when W_f = I;
      // with W_f, dV += A^T dH~, dU = dS^T H, dV += dU W_f.
      if (!dV && !dWf) continue;
      w.coef.resize(size_t(nk * 2 * nw));
      T* c = w.coef.data();
      for (int64_t ii = 0; ii < nw; ++ii)
        for (int64_t jj = 0; jj < nk; ++jj) {
          c[jj * 2 * nw + ii] = a[ii * kp + jj];
          c[jj * 2 * nw + nw + ii] = dS[ii * kp + jj];
        }
      w.out_rows.resize(size_t(nk));
      if (dV) {
        for (int64_t jj = 0; jj < nk; ++jj) w.out_rows[size_t(jj)] = dV + (b * K + w.regions[size_t(jj)]) * D;
        detail::fusion_combine<T, true>(w.out_rows.data(), nk, c, 2 * nw, w.word_rows.data(), Wf ? nw : 2 * nw, D);
      }
      if (!Wf) continue;
      T* du = nullptr;
      if (dWf) {  // dU and V rows of the ad go to the compacted batch
        du = duc.data() + start[size_t(b)] * D;
        std::copy(w.vk.begin(), w.vk.begin() + nk * D, vc.data() + start[size_t(b)] * D);
      } else {
        w.duk.resize(size_t(nk * D));
        du = w.duk.data();
      }
      for (int64_t jj = 0; jj < nk; ++jj) w.out_rows[size_t(jj)] = du + jj * D;
      detail::fusion_combine<T, false>(w.out_rows.data(), nk, c + nw, 2 * nw, w.word_rows.data() + nw, nw, D);
      if (dV) {
        for (int64_t jj = 0; jj < nk; ++jj) w.out_rows[size_t(jj)] = dV + (b * K + w.regions[size_t(jj)]) * D;
        detail::fusion_combine<T, true>(w.out_rows.data(), nk, du, D, wf_rows.data(), D, D);
      }
    }
  });
  // dW_f += dU^T V, one GEMM over the regions with weight of all ads.
  if (dWf && !duc.empty())
    gemm(true, false, D, D, start[size_t(B)], T(1), duc.data(), D, vc.data(), D, T(1), dWf, D);
}

}  // namespace simad::ops
