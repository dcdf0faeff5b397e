// simad/ops/attention.hpp: multi-head scaled dot-product self-attention with a key padding mask,
// fused (no score matrix in memory), forward and backward. "Attention Is All You Need" eq. 1:
//   Attention(Q, K, V) = softmax(Q K^T / sqrt(hs)) V,   per sequence b and head h (hs = C / NH)
// The input is the packed projection qkv (B, N, 3C) that PyTorch's nn.MultiheadAttention computes
// with in_proj_weight: row (b, i) holds q_i | k_i | v_i, each C wide, and head h owns the columns
// [h hs, (h + 1) hs) of each third. The output (B, N, C) puts head h in the same columns (the input of
// out_proj). mask (B, N): 1 = real token, 0 = padding; padded KEYS get no weight (PyTorch's
// src_key_padding_mask with True meaning padding, inverted). Every query row gets an output, padded
// ones too (they attend to the real keys, as PyTorch's reference path does); a caller ignores them.
// A sequence whose keys are ALL padded outputs zeros (PyTorch gives NaN there) and gets zero gradient.
//
// Forward: streaming ("online") softmax over blocks of kAttnKeys keys (Milakov & Gimelshein
// 2018; FlashAttention, Dao et al. 2022, alg. 1): per query row a running max m, a running sum l and
// an unnormalised output o; a new block with max m' rescales l and o by exp(m - m'). Memory per row is
// one key block of scores, whatever N. The forward saves lse = m + log(l) (B, NH, N) for the backward
// (+infinity where every key is padded).
// Backward ACCUMULATES into dqkv (FlashAttention alg. 2, recomputing the probabilities from lse):
//   p_ij = exp(s_ij - lse_i),  D_i = dO_i . O_i,  ds_ij = p_ij (dO_i . v_j - D_i)
//   dv_j += sum_i p_ij dO_i,   dq_i += scale sum_j ds_ij k_j,   dk_j += scale sum_i ds_ij q_i
//
// Work items are heads of one sequence. A short sequence (N <= kAttnSequenceRows: the models' ads
// have 10-30 words) is one item with all its heads, so its rows of qkv, dout and out are read front to
// back once (a head owns only hs of the 3C columns of a row: one pass per head would touch the rows'
// cache lines NH times, scattered). A long sequence gives one item per head, so there is enough
// parallel work. Heads own disjoint columns of out and dqkv and each is computed the same way whatever
// the grouping, so the result does not depend on the thread count. Per item the kept keys are
// compacted (padded keys cost nothing) and Q, K, V (and dO) packed, zero-padded to whole vectors.
// Both passes take blocks of 32 query rows against blocks of kAttnKeys keys (FlashAttention-2, Dao
// 2023, alg. 1 and 2): the products (S = Q K^T, dP = dO V^T, O += P V, dQ += dS K, dV += P^T dO,
// dK += dS^T Q; the key-side two read the P and dS tiles with swapped strides, no transposed copy) run
// in one pair of register-tiled micro-kernels on native vectors (AVX-512 or AVX2), so no loop spills
// its accumulators, and softmax work is elementwise over whole tile rows. Every sum runs in an order
// the source fixes (feature or key order, or kLanes partial sums combined in a fixed tree), so the
// results do not depend on the vector width or the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/softmax.hpp"  // detail::kLanes, softmax_exp, softmax_exp_arg
#include "simad/ops/vector_kernel.hpp"

namespace simad::ops {

namespace detail {
inline void attention_check(const char* op, int64_t B, int64_t N, int64_t C, int64_t NH) {
  SIMAD_CHECK(B >= 0 && N >= 0 && C >= 0, op, ": negative size B=", B, " N=", N, " C=", C);
  SIMAD_CHECK(NH >= 1 && C % NH == 0, op, ": the head count NH=", NH, " must be >= 1 and divide C=", C);
}

// Keys come in blocks of kAttnKeys<T> (two 64-byte vectors); the kept keys and the features are
// zero-padded so every micro-kernel below has whole vectors.
template <typename T>
inline constexpr int64_t kAttnKeys = 2 * kLanes<T>;

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Tiles (FlashAttention-2, Dao 2023, alg. 1 and 2): a block of kAttnBlockRows query rows meets a
// block of kAttnKeys keys; every product of the block runs in a register-tiled micro-kernel on native
// vectors (GCC/Clang vector extensions, so each accumulator is one named register, not an array GCC
// may spill): kAttnTile rows x 2 vectors of accumulators, 16 of the 32 AVX-512 registers or 8 of the
// 16 AVX2 ones. SIMAD_ATTENTION_WIDE_TILES forces the AVX-512 shapes on any machine (the compiler
// splits the 64-byte vectors), so the AVX-512 tiling can be tested where no AVX-512 exists.
#if defined(__AVX512F__) || defined(SIMAD_ATTENTION_WIDE_TILES)
inline constexpr int64_t kAttnVecBytes = 64;
inline constexpr int64_t kAttnTile = 8;
#else
inline constexpr int64_t kAttnVecBytes = 32;
inline constexpr int64_t kAttnTile = 4;
#endif
// Features are padded to whole pairs of native vectors (and whole kLanes).
template <typename T>
inline constexpr int64_t kAttnFeatures = std::max(kLanes<T>, 2 * kAttnVecBytes / int64_t(sizeof(T)));

inline constexpr int64_t kAttnBlockRows = 32;      // query rows per block: the S and dP tiles stay in L1
inline constexpr int64_t kAttnSequenceRows = 128;  // up to this N a work item is a whole sequence

// Asks for the n elements at p to be brought into the cache while the current work item computes: the
// rows of the next sequence are read first by the packing loops, whose scattered stores would
// otherwise wait on each miss.
template <typename T>
inline void prefetch_rows(const T* p, int64_t n, bool for_writing = false) {
  const char* c = reinterpret_cast<const char*>(p);
  const int64_t bytes = n * int64_t(sizeof(T));
  if (for_writing)
    for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 1, 3);
  else
    for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 3);
}

// d[0, n) = a s[0, n) and d[0, n) += s[0, n) for the short rows (hs long) moved between the packed
// buffers and the tensors: whole kLanes chunks then the rest, restrict-qualified, so they vectorise at
// -O2 too (GCC's very-cheap cost model vectorises no loop of unknown count that needs alias checks).
template <typename T>
inline void attention_scale_copy(T* __restrict d, const T* __restrict s, T a, int64_t n) {
  constexpr int64_t L = kLanes<T>;
  int64_t f = 0;
  for (; f + L <= n; f += L)
    for (int64_t k = 0; k < L; ++k) d[f + k] = s[f + k] * a;
  for (; f < n; ++f) d[f] = s[f] * a;
}
template <typename T>
inline void attention_copy(T* __restrict d, const T* __restrict s, int64_t n) {
  constexpr int64_t L = kLanes<T>;
  int64_t f = 0;
  for (; f + L <= n; f += L)
    for (int64_t k = 0; k < L; ++k) d[f + k] = s[f + k];
  for (; f < n; ++f) d[f] = s[f];
}
template <typename T>
inline void attention_add(T* __restrict d, const T* __restrict s, int64_t n) {
  constexpr int64_t L = kLanes<T>;
  int64_t f = 0;
  for (; f + L <= n; f += L)
    for (int64_t k = 0; k < L; ++k) d[f + k] += s[f + k];
  for (; f < n; ++f) d[f] += s[f];
}

// dst[c ldd + r] = src[r lds + c] for r < rows, c < cols: Q^T and dO^T from the packed rows. Floats
// go through 8 x 8 register transposes where AVX exists and both sizes are multiples of 8 (always, for
// the padded buffers here).
template <typename T>
inline void attention_transpose(T* dst, int64_t ldd, const T* src, int64_t lds, int64_t rows, int64_t cols) {
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) {
    if (rows % 8 == 0 && cols % 8 == 0) {
      for (int64_t r0 = 0; r0 < rows; r0 += 8)
        for (int64_t c0 = 0; c0 < cols; c0 += 8) {
          __m256 x[8], t[8];
          for (int k = 0; k < 8; ++k) x[k] = _mm256_loadu_ps(src + (r0 + k) * lds + c0);
          for (int k = 0; k < 4; ++k) {
            t[2 * k] = _mm256_unpacklo_ps(x[2 * k], x[2 * k + 1]);
            t[2 * k + 1] = _mm256_unpackhi_ps(x[2 * k], x[2 * k + 1]);
          }
          x[0] = _mm256_shuffle_ps(t[0], t[2], 0x44);
          x[1] = _mm256_shuffle_ps(t[0], t[2], 0xEE);
          x[2] = _mm256_shuffle_ps(t[1], t[3], 0x44);
          x[3] = _mm256_shuffle_ps(t[1], t[3], 0xEE);
          x[4] = _mm256_shuffle_ps(t[4], t[6], 0x44);
          x[5] = _mm256_shuffle_ps(t[4], t[6], 0xEE);
          x[6] = _mm256_shuffle_ps(t[5], t[7], 0x44);
          x[7] = _mm256_shuffle_ps(t[5], t[7], 0xEE);
          for (int k = 0; k < 4; ++k) {
            _mm256_storeu_ps(dst + (c0 + k) * ldd + r0, _mm256_permute2f128_ps(x[k], x[k + 4], 0x20));
            _mm256_storeu_ps(dst + (c0 + k + 4) * ldd + r0, _mm256_permute2f128_ps(x[k], x[k + 4], 0x31));
          }
        }
      return;
    }
  }
#endif
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
}

// The work items: (sequence, group of heads); see the header comment.
inline int64_t attention_heads_per_item(int64_t N, int64_t NH) { return N <= kAttnSequenceRows ? NH : 1; }

// Heads [h0, h0 + G) of sequence b packed for the micro-kernels: the kept (unpadded) keys compacted
// and zero-padded to nkp keys, features to hsp, query rows to Np (whole blocks). Head e = h - h0 starts
// at e times the per-head size of each array. One pass reads the sequence's rows front to back (and
// asks for the next item's rows to be cached meanwhile): the forward packs Q (then Q^T from it), K,
// V; the backward also dO, dO^T, D and the rows' lse.
template <typename T>
struct AttentionPack {
  std::vector<int64_t> keys;  // (nk) indices of the kept keys
  std::vector<T> q, dout_rows;     // (G, Np, hsp) Q, dO rows
  std::vector<T> qt, dout_rows_t;  // (G, hsp, Np) Q^T, dO^T
  std::vector<T> k, v;        // (G, nkp, hsp) K, V rows of the kept keys
  std::vector<T> D, lse;      // (G, Np) D_i = dO_i . O_i and lse_i (+inf past N: no probability)
  int64_t nk = 0, nkp = 0, hs = 0, hsp = 0, Np = 0;

  AttentionPack(int64_t hs_, int64_t N)
      : hs(hs_), hsp(round_up(hs_, kAttnFeatures<T>)), Np(round_up(N, kAttnBlockRows)) {}

  void find_keys(const uint8_t* mask, int64_t b, int64_t N) {
    keys.clear();
    for (int64_t j = 0; j < N; ++j)
      if (!mask || mask[b * N + j]) keys.push_back(j);
    nk = int64_t(keys.size());
    nkp = round_up(nk, kAttnKeys<T>);
  }

  // Q (kept in q), Q^T, K, V of rows [0, N) of seq (the sequence's qkv rows, 3C wide); next: the next
  // item's rows, or nullptr.
  void pack_forward(const T* seq, int64_t C, int64_t N, int64_t h0, int64_t G, const T* next) {
    q.resize(size_t(G * Np * hsp));
    qt.resize(size_t(G * hsp * Np));
    k.resize(size_t(G * nkp * hsp));
    v.resize(size_t(G * nkp * hsp));
    for (int64_t i = 0, jj = 0; i < N; ++i) {
      const T* row = seq + i * 3 * C;
      if (next) prefetch_rows(next + i * 3 * C, 3 * C);
      for (int64_t e = 0; e < G; ++e) put_row(q, Np, e, i, row + (h0 + e) * hs);
      if (jj < nk && keys[size_t(jj)] == i) {
        for (int64_t e = 0; e < G; ++e) {
          put_row(k, nkp, e, jj, row + C + (h0 + e) * hs);
          put_row(v, nkp, e, jj, row + 2 * C + (h0 + e) * hs);
        }
        ++jj;
      }
    }
    for (int64_t e = 0; e < G; ++e) {
      pad_rows(q, Np, e, N);
      pad_rows(k, nkp, e, nk);
      pad_rows(v, nkp, e, nk);
      attention_transpose(qt.data() + e * hsp * Np, Np, q.data() + e * Np * hsp, hsp, Np, hsp);
    }
  }

  // Also dO, dO^T, D and lse; dout, out: the sequence's rows of those (C wide); lse_b: lse + b NH N;
  // next*: the next item's rows of qkv, dout, out and dqkv, or nullptr.
  void pack_backward(const T* seq, const T* dout, const T* out, const T* lse_b, int64_t C, int64_t N, int64_t h0,
                     int64_t G, const T* next_qkv, const T* next_dout, const T* next_out, const T* next_dqkv) {
    pack_forward(seq, C, N, h0, G, next_qkv);
    dout_rows.resize(size_t(G * Np * hsp));
    dout_rows_t.resize(size_t(G * hsp * Np));
    D.assign(size_t(G * Np), T(0));
    lse.assign(size_t(G * Np), std::numeric_limits<T>::infinity());
    for (int64_t i = 0; i < N; ++i) {
      const T* grow = dout + i * C;
      const T* orow = out + i * C;
      if (next_qkv) {
        prefetch_rows(next_dout + i * C, C);
        prefetch_rows(next_out + i * C, C);
        prefetch_rows(next_dqkv + i * 3 * C, 3 * C, true);
      }
      for (int64_t e = 0; e < G; ++e) {
        const int64_t c = (h0 + e) * hs;
        put_row(dout_rows, Np, e, i, grow + c);
        D[size_t(e * Np + i)] = dot_lanes(grow + c, orow + c, hs);
        lse[size_t(e * Np + i)] = lse_b[(h0 + e) * N + i];
      }
    }
    for (int64_t e = 0; e < G; ++e) {
      pad_rows(dout_rows, Np, e, N);
      attention_transpose(dout_rows_t.data() + e * hsp * Np, Np, dout_rows.data() + e * Np * hsp, hsp, Np, hsp);
    }
  }

 private:
  void put_row(std::vector<T>& dst, int64_t rows, int64_t e, int64_t i, const T* s) const {
    T* d = dst.data() + (e * rows + i) * hsp;
    attention_copy(d, s, hs);
    std::fill(d + hs, d + hsp, T(0));
  }
  void pad_rows(std::vector<T>& dst, int64_t rows, int64_t e, int64_t n) const {
    std::fill(dst.data() + (e * rows + n) * hsp, dst.data() + (e + 1) * rows * hsp, T(0));
  }
};

template <typename T>
using AttnVec = KernelVector<T, kAttnVecBytes>;

// s (kAttnTile, KB) with row stride lds = a (kAttnTile rows, stride lda) times bt (hs rows,
// stride ldb)[:, 0 : KB]: scores Q K^T or dO V^T, accumulated over the hs features. Columns from n
// rounded up to 2 vectors keep what they held (finite; callers mask them).
template <typename T>
inline void attention_tile_products(T* s, int64_t lds, const T* a, int64_t lda, const T* bt, int64_t ldb, int64_t hs,
                                    int64_t n) {
  using V = typename AttnVec<T>::type;
  using U = typename AttnVec<T>::unaligned;
  constexpr int64_t R = kAttnTile, VL = AttnVec<T>::lanes, KB = kAttnKeys<T>;
  static_assert(KB % (2 * VL) == 0, "whole pairs of vectors of keys per tile row");
  for (int64_t c0 = 0; c0 < n; c0 += 2 * VL) {  // key pairs of vectors past n are all padding
    V acc[R][2] = {};
    for (int64_t d = 0; d < hs; ++d) {
      V b0, b1;
      b0 = *reinterpret_cast<const U*>(bt + d * ldb + c0);
      b1 = *reinterpret_cast<const U*>(bt + d * ldb + c0 + VL);
      keep_in_registers(b0, b1);
      for (int64_t r = 0; r < R; ++r) {
        const T x = a[r * lda + d];
        vector_fma(x, b0, acc[r][0]);
        vector_fma(x, b1, acc[r][1]);
      }
    }
    for (int64_t r = 0; r < R; ++r) {
      *reinterpret_cast<U*>(s + r * lds + c0) = acc[r][0];
      *reinterpret_cast<U*>(s + r * lds + c0 + VL) = acc[r][1];
    }
  }
}

// o (kAttnTile rows, stride ldo)[:, 0 : hsp] += a[r a_rs + c a_cs] (kAttnTile x n) times rows (n,
// stride ldr)[:, 0 : hsp] (hsp a multiple of 2 vectors). O += P V and dQ += dS K read the tile as it
// is (a_rs = KB, a_cs = 1); dV += P^T dO and dK += dS^T Q read it transposed (a_rs = 1, a_cs = KB).
template <typename T>
inline void attention_tile_accumulate(T* o, int64_t ldo, const T* a, int64_t a_rs, int64_t a_cs, const T* rows,
                                      int64_t ldr, int64_t n, int64_t hsp) {
  using V = typename AttnVec<T>::type;
  using U = typename AttnVec<T>::unaligned;
  constexpr int64_t R = kAttnTile, VL = AttnVec<T>::lanes;
  static_assert(kAttnFeatures<T> % (2 * VL) == 0, "hsp is a multiple of 2 vectors");
  for (int64_t d0 = 0; d0 < hsp; d0 += 2 * VL) {
    V acc[R][2];
    for (int64_t r = 0; r < R; ++r) {
      acc[r][0] = *reinterpret_cast<const U*>(o + r * ldo + d0);
      acc[r][1] = *reinterpret_cast<const U*>(o + r * ldo + d0 + VL);
    }
    for (int64_t c = 0; c < n; ++c) {
      V x0, x1;
      x0 = *reinterpret_cast<const U*>(rows + c * ldr + d0);
      x1 = *reinterpret_cast<const U*>(rows + c * ldr + d0 + VL);
      keep_in_registers(x0, x1);
      for (int64_t r = 0; r < R; ++r) {
        const T ac = a[r * a_rs + c * a_cs];
        vector_fma(ac, x0, acc[r][0]);
        vector_fma(ac, x1, acc[r][1]);
      }
    }
    for (int64_t r = 0; r < R; ++r) {
      *reinterpret_cast<U*>(o + r * ldo + d0) = acc[r][0];
      *reinterpret_cast<U*>(o + r * ldo + d0 + VL) = acc[r][1];
    }
  }
}

}  // namespace detail

template <typename T>
void attention_forward(T* out,               // (B, N, C)
                       T* lse,               // (B, NH, N) saved for backward: log-sum-exp of each score row
                       const T* qkv,         // (B, N, 3C) q | k | v
                       const uint8_t* mask,  // (B, N) 1 = token, 0 = padding; or nullptr (no padding)
                       int64_t B, int64_t N, int64_t C, int64_t NH) {
  static_assert(std::is_floating_point_v<T>, "attention: floating-point element type");
  detail::attention_check("attention_forward", B, N, C, NH);
  if (B == 0 || N == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && lse != nullptr && qkv != nullptr, "attention_forward: null out, lse or qkv for B=",
              B, " N=", N, " C=", C);
  constexpr int64_t QB = detail::kAttnBlockRows, RT = detail::kAttnTile, KB = detail::kAttnKeys<T>;
  constexpr T inf = std::numeric_limits<T>::infinity();
  const int64_t hs = C / NH, G = detail::attention_heads_per_item(N, NH), groups = NH / G;
  const T scale = T(1) / std::sqrt(T(hs));
  parallel_for(B * groups, 1, [&](int64_t begin, int64_t end) {
    detail::AttentionPack<T> pk(hs, N);
    const int64_t hsp = pk.hsp, Np = pk.Np;
    std::vector<T> o(size_t(QB * hsp)), st(size_t(KB * QB));
    T m[QB], l[QB], f[QB];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / groups, h0 = item % groups * G;
      const T* seq = qkv + b * N * 3 * C;
      pk.find_keys(mask, b, N);
      if (pk.nk == 0) {  // every key padded: zeros
        for (int64_t i = 0; i < N; ++i)
          std::fill(out + (b * N + i) * C + h0 * hs, out + (b * N + i) * C + (h0 + G) * hs, T(0));
        std::fill(lse + (b * NH + h0) * N, lse + (b * NH + h0 + G) * N, inf);
        continue;
      }
      const int64_t nkp = pk.nkp;
      pk.pack_forward(seq, C, N, h0, G, G == NH && item + 1 < end ? seq + N * 3 * C : nullptr);
      for (int64_t e = 0; e < G; ++e) {
        const int64_t h = h0 + e;
        const T* qt = pk.qt.data() + e * hsp * Np;
        const T* k = pk.k.data() + e * nkp * hsp;
        const T* v = pk.v.data() + e * nkp * hsp;
        for (int64_t i0 = 0; i0 < Np; i0 += QB) {
          for (int64_t j0 = 0; j0 < pk.nk; j0 += KB) {
            const int64_t n = std::min(KB, pk.nk - j0);
            // S^T (keys x queries) = K Q^T: the softmax over keys runs down the columns, so every step
            // below is elementwise over a row of QB queries (no horizontal reductions).
            for (int64_t c0 = 0; c0 < n; c0 += RT)
              detail::attention_tile_products(st.data() + c0 * QB, QB, k + (j0 + c0) * hsp, hsp, qt + i0, Np, hs, QB);
            T bm[QB];
            for (int64_t r = 0; r < QB; ++r) bm[r] = -inf;
            for (int64_t c = 0; c < n; ++c) {
              T* sc = st.data() + c * QB;
              for (int64_t r = 0; r < QB; ++r) {
                sc[r] *= scale;
                bm[r] = bm[r] < sc[r] ? sc[r] : bm[r];
              }
            }
            if (j0 == 0) {  // the first block: nothing summed yet
              for (int64_t r = 0; r < QB; ++r) m[r] = bm[r], l[r] = T(0);
            } else {  // rescale what was summed against the old max
              for (int64_t r = 0; r < QB; ++r) {
                const T mr = m[r] < bm[r] ? bm[r] : m[r];
                f[r] = detail::softmax_exp(detail::softmax_exp_arg(m[r] - mr));
                l[r] *= f[r];
                m[r] = mr;
              }
              for (int64_t r = 0; r < QB; ++r)
                for (int64_t d = 0; d < hsp; ++d) o[size_t(r * hsp + d)] *= f[r];
            }
            for (int64_t c = 0; c < n; ++c) {  // P^T, and l += its column sums in key order
              T* sc = st.data() + c * QB;
              for (int64_t r = 0; r < QB; ++r) sc[r] = detail::softmax_exp_arg(sc[r] - m[r]);
              for (int64_t r = 0; r < QB; ++r) sc[r] = detail::softmax_exp(sc[r]);
              for (int64_t r = 0; r < QB; ++r) l[r] += sc[r];
            }
            if (j0 == 0) std::fill(o.begin(), o.end(), T(0));
            for (int64_t r0 = 0; r0 < QB; r0 += RT)  // O += P V, P read from P^T
              detail::attention_tile_accumulate(o.data() + r0 * hsp, hsp, st.data() + r0, 1, QB, v + j0 * hsp, hsp, n,
                                                hsp);
          }
          for (int64_t r = 0; r < QB && i0 + r < N; ++r) {
            const T inv = T(1) / l[r];  // l >= 1: the max key contributes exp(0)
            T* dst = out + (b * N + i0 + r) * C + h * hs;
            const T* src = o.data() + r * hsp;
            detail::attention_scale_copy(dst, src, inv, hs);
            lse[(b * NH + h) * N + i0 + r] = m[r] + std::log(l[r]);
          }
        }
      }
    }
  });
}

// dqkv += d(loss)/d(qkv) given dout = d(loss)/d(out); out and lse are the forward's. dqkv may be
// nullptr (nothing to do).
template <typename T>
void attention_backward(T* dqkv,              // (B, N, 3C) accumulated
                        const T* dout,        // (B, N, C)
                        const T* qkv,         // (B, N, 3C) the forward input
                        const T* out,         // (B, N, C) the forward output
                        const T* lse,         // (B, NH, N) saved by the forward
                        const uint8_t* mask,  // (B, N) the forward's, or nullptr
                        int64_t B, int64_t N, int64_t C, int64_t NH) {
  static_assert(std::is_floating_point_v<T>, "attention: floating-point element type");
  detail::attention_check("attention_backward", B, N, C, NH);
  if (B == 0 || N == 0 || C == 0 || !dqkv) return;
  SIMAD_CHECK(dout != nullptr && qkv != nullptr && out != nullptr && lse != nullptr,
              "attention_backward: null dout, qkv, out or lse for B=", B, " N=", N, " C=", C);
  constexpr int64_t QB = detail::kAttnBlockRows, RT = detail::kAttnTile, KB = detail::kAttnKeys<T>;
  static_assert(QB % RT == 0 && KB % RT == 0, "blocks are whole micro-kernel tiles");
  constexpr T inf = std::numeric_limits<T>::infinity();
  const int64_t hs = C / NH, G = detail::attention_heads_per_item(N, NH), groups = NH / G;
  const T scale = T(1) / std::sqrt(T(hs));
  parallel_for(B * groups, 1, [&](int64_t begin, int64_t end) {
    detail::AttentionPack<T> pk(hs, N);
    const int64_t hsp = pk.hsp, Np = pk.Np;
    std::vector<T> dq(size_t(QB * hsp)), dk, dv;
    std::vector<T> pt(size_t(KB * QB)), ds_t(size_t(KB * QB));  // P^T; dP^T, then dS^T in place
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / groups, h0 = item % groups * G;
      const T* seq = qkv + b * N * 3 * C;
      pk.find_keys(mask, b, N);
      if (pk.nk == 0) continue;  // outputs were constant zeros
      const int64_t nkp = pk.nkp;
      const bool ahead = G == NH && item + 1 < end;  // the next item is the next sequence
      pk.pack_backward(seq, dout + b * N * C, out + b * N * C, lse + b * NH * N, C, N, h0, G,
                       ahead ? seq + N * 3 * C : nullptr, dout + (b + 1) * N * C, out + (b + 1) * N * C,
                       dqkv + (b + 1) * N * 3 * C);
      dk.resize(size_t(nkp * hsp));
      dv.resize(size_t(nkp * hsp));
      for (int64_t e = 0; e < G; ++e) {
        const int64_t h = h0 + e;
        const T* q = pk.q.data() + e * Np * hsp;
        const T* dout_rows = pk.dout_rows.data() + e * Np * hsp;
        const T* qt = pk.qt.data() + e * hsp * Np;
        const T* dout_rows_t = pk.dout_rows_t.data() + e * hsp * Np;
        const T* k = pk.k.data() + e * nkp * hsp;
        const T* v = pk.v.data() + e * nkp * hsp;
        std::fill(dk.begin(), dk.end(), T(0));
        std::fill(dv.begin(), dv.end(), T(0));
        for (int64_t i0 = 0; i0 < Np; i0 += QB) {
          const T* Di = pk.D.data() + e * Np + i0;
          const T* li = pk.lse.data() + e * Np + i0;
          T alive[QB];  // 0 for the queries past N (their exp(-inf) is clamped, so tiny but not 0)
          for (int64_t r = 0; r < QB; ++r) alive[r] = li[r] < inf ? T(1) : T(0);
          std::fill(dq.begin(), dq.end(), T(0));
          for (int64_t j0 = 0; j0 < pk.nk; j0 += KB) {
            const int64_t n = std::min(KB, pk.nk - j0), nr = detail::round_up(n, RT);
            // S^T = K Q^T and dP^T = V dO^T for the block (keys x queries; key rows past n are padding).
            for (int64_t c0 = 0; c0 < nr; c0 += RT) {
              detail::attention_tile_products(pt.data() + c0 * QB, QB, k + (j0 + c0) * hsp, hsp, qt + i0, Np, hs, QB);
              detail::attention_tile_products(ds_t.data() + c0 * QB, QB, v + (j0 + c0) * hsp, hsp, dout_rows_t + i0,
                                              Np, hs, QB);
            }
            // P^T = exp(scale S^T - lse) and dS^T = scale P^T o (dP^T - D), elementwise over query rows;
            // no probability for queries past N. Key rows n .. nr stay finite (zero keys): they only
            // reach the padding rows of dk and dv.
            for (int64_t c = 0; c < nr; ++c) {
              T* pc = pt.data() + c * QB;
              T* dc = ds_t.data() + c * QB;
              for (int64_t r = 0; r < QB; ++r) pc[r] = detail::softmax_exp_arg(pc[r] * scale - li[r]);
              for (int64_t r = 0; r < QB; ++r) pc[r] = detail::softmax_exp(pc[r]) * alive[r];
              for (int64_t r = 0; r < QB; ++r) dc[r] = pc[r] * (dc[r] - Di[r]) * scale;
            }
            // dQ += dS K (key rows j0 .. j0 + n), dS read from dS^T.
            for (int64_t r0 = 0; r0 < QB; r0 += RT)
              detail::attention_tile_accumulate(dq.data() + r0 * hsp, hsp, ds_t.data() + r0, 1, QB, k + j0 * hsp, hsp,
                                                n, hsp);
            // dV += P^T dO and dK += dS^T Q over the block's query rows.
            for (int64_t c0 = 0; c0 < nr; c0 += RT) {
              detail::attention_tile_accumulate(dv.data() + (j0 + c0) * hsp, hsp, pt.data() + c0 * QB, QB, 1,
                                                dout_rows + i0 * hsp, hsp, QB, hsp);
              detail::attention_tile_accumulate(dk.data() + (j0 + c0) * hsp, hsp, ds_t.data() + c0 * QB, QB, 1,
                                                q + i0 * hsp, hsp, QB, hsp);
            }
          }
          for (int64_t r = 0; r < QB && i0 + r < N; ++r) {
            T* gq = dqkv + (b * N + i0 + r) * 3 * C + h * hs;
            const T* src = dq.data() + r * hsp;
            detail::attention_add(gq, src, hs);
          }
        }
        for (int64_t jj = 0; jj < pk.nk; ++jj) {
          T* g = dqkv + (b * N + pk.keys[size_t(jj)]) * 3 * C + h * hs;
          const T* gk = dk.data() + jj * hsp;
          const T* gv = dv.data() + jj * hsp;
          detail::attention_add(g + C, gk, hs);
          detail::attention_add(g + 2 * C, gv, hs);
        }
      }
    }
  });
}

}  // namespace simad::ops
