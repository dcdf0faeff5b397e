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
// Parallel over the B * NH (sequence, head) pairs, which own disjoint columns of out and dqkv, so the
// result does not depend on the thread count. Per head, the kept keys are compacted (padded keys cost
// nothing) and K, V, K^T, V^T copied zero-padded to whole vectors. Both passes take blocks of 32 query
// rows against blocks of kAttnKeys keys (FlashAttention-2, Dao 2023, alg. 1 and 2): the products
// (S = Q K^T, dP = dO V^T, O += P V, dQ += dS K, dV += P^T dO, dK += dS^T Q; the key-side two through a
// transposed copy of the P and dS tiles) run in one pair of register-tiled micro-kernels on native
// vectors (AVX-512 or AVX2), so no loop spills its accumulators, and softmax work is elementwise over
// whole tile rows. Every sum runs in the same order as a plain loop over keys or features would, so
// the results do not depend on the vector width or the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/softmax.hpp"  // detail::softmax_exp, softmax_exp_arg

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

// The per-(sequence, head) working set: the kept (unpadded) keys compacted, zero-padded to nkp keys
// and hsp features.
template <typename T>
struct AttentionHead {
  std::vector<int64_t> keys;  // (nk) indices of the kept keys
  std::vector<T> kt, vt;      // (hs, nkp) K^T, V^T
  std::vector<T> k, v;        // (nkp, hsp) K, V
  int64_t nk = 0, nkp = 0, hsp = 0;

  void load(const T* qkv, const uint8_t* mask, int64_t b, int64_t h, int64_t N, int64_t C, int64_t hs) {
    keys.clear();
    for (int64_t j = 0; j < N; ++j)
      if (!mask || mask[b * N + j]) keys.push_back(j);
    nk = int64_t(keys.size());
    nkp = round_up(nk, kAttnKeys<T>);
    hsp = round_up(hs, kAttnFeatures<T>);
    kt.assign(size_t(hs * nkp), T(0));
    vt.assign(size_t(hs * nkp), T(0));
    k.assign(size_t(nkp * hsp), T(0));
    v.assign(size_t(nkp * hsp), T(0));
    for (int64_t jj = 0; jj < nk; ++jj) {
      const T* row = qkv + (b * N + keys[size_t(jj)]) * 3 * C + h * hs;
      for (int64_t d = 0; d < hs; ++d) {
        kt[size_t(d * nkp + jj)] = k[size_t(jj * hsp + d)] = row[C + d];
        vt[size_t(d * nkp + jj)] = v[size_t(jj * hsp + d)] = row[2 * C + d];
      }
    }
  }
};

inline constexpr int64_t kAttnBlockRows = 32;  // query rows per block: S, dP, P^T, dS^T stay in L1

template <typename T>
struct AttnVec {
  typedef T type __attribute__((vector_size(kAttnVecBytes)));
  // The same for loads and stores at any T-aligned address (direct vector moves, no memcpy copies).
  typedef T unaligned __attribute__((vector_size(kAttnVecBytes), aligned(alignof(T)), may_alias));
  static constexpr int64_t lanes = kAttnVecBytes / int64_t(sizeof(T));
};

// s (kAttnTile, KB) with row stride lds = a (kAttnTile rows, stride lda) times bt (hs rows,
// stride ldb)[:, 0 : KB]: scores Q K^T or dO V^T, accumulated over the hs features. Columns from n
// rounded up to 2 vectors keep what they held (finite; callers zero their probabilities).
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
      for (int64_t r = 0; r < R; ++r) {
        const T x = a[r * lda + d];
        acc[r][0] += x * b0;
        acc[r][1] += x * b1;
      }
    }
    for (int64_t r = 0; r < R; ++r) {
      *reinterpret_cast<U*>(s + r * lds + c0) = acc[r][0];
      *reinterpret_cast<U*>(s + r * lds + c0 + VL) = acc[r][1];
    }
  }
}

// o (kAttnTile rows, stride ldo)[:, 0 : hsp] += a (kAttnTile rows, stride lda)[:, :n] times
// rows (n, stride ldr)[:, 0 : hsp] (hsp a multiple of 2 vectors): dQ += dS K, dV += P^T dO, dK += dS^T Q.
template <typename T>
inline void attention_tile_accumulate(T* o, int64_t ldo, const T* a, int64_t lda, const T* rows, int64_t ldr,
                                     int64_t n, int64_t hsp) {
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
      for (int64_t r = 0; r < R; ++r) {
        const T ac = a[r * lda + c];
        acc[r][0] += ac * x0;
        acc[r][1] += ac * x1;
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
  const int64_t hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  constexpr T neg_inf = -std::numeric_limits<T>::infinity();
  const int64_t Np = detail::round_up(N, RT);  // query rows padded to whole tiles
  parallel_for(B * NH, 1, [&](int64_t begin, int64_t end) {
    detail::AttentionHead<T> head;
    std::vector<T> q, o, s(size_t(QB * KB));
    T m[QB], l[QB];
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / NH, h = bh % NH;
      head.load(qkv, mask, b, h, N, C, hs);
      if (head.nk == 0) {  // every key padded: zeros
        for (int64_t i = 0; i < N; ++i) {
          std::fill(out + (b * N + i) * C + h * hs, out + (b * N + i) * C + (h + 1) * hs, T(0));
          lse[bh * N + i] = std::numeric_limits<T>::infinity();
        }
        continue;
      }
      const int64_t hsp = head.hsp;
      q.resize(size_t(QB * hsp));
      o.resize(size_t(QB * hsp));
      const T* q_src = qkv + b * N * 3 * C + h * hs;
      for (int64_t i0 = 0; i0 < Np; i0 += QB) {
        const int64_t nb = std::min(QB, Np - i0);  // a multiple of RT
        for (int64_t r = 0; r < nb; ++r)
          for (int64_t d = 0; d < hsp; ++d)
            q[size_t(r * hsp + d)] = (i0 + r < N && d < hs) ? q_src[(i0 + r) * 3 * C + d] : T(0);
        std::fill(o.begin(), o.end(), T(0));
        for (int64_t r = 0; r < nb; ++r) m[r] = neg_inf, l[r] = T(0);
        for (int64_t j0 = 0; j0 < head.nk; j0 += KB) {
          const int64_t n = std::min(KB, head.nk - j0);
          for (int64_t r0 = 0; r0 < nb; r0 += RT)
            detail::attention_tile_products(s.data() + r0 * KB, KB, q.data() + r0 * hsp, hsp, head.kt.data() + j0,
                                           head.nkp, hs, n);
          for (int64_t r = 0; r < nb; ++r) {
            T* sr = s.data() + r * KB;
            T bm = neg_inf;
            for (int64_t c = 0; c < n; ++c) {
              sr[c] *= scale;
              bm = bm < sr[c] ? sr[c] : bm;
            }
            if (bm > m[r]) {  // rescale what was summed against the old max
              const T f = detail::softmax_exp(detail::softmax_exp_arg(m[r] - bm));
              l[r] *= f;
              for (int64_t d = 0; d < hsp; ++d) o[size_t(r * hsp + d)] *= f;
              m[r] = bm;
            }
            for (int64_t c = 0; c < KB; ++c) sr[c] = detail::softmax_exp_arg(sr[c] - m[r]);
            for (int64_t c = 0; c < KB; ++c) sr[c] = detail::softmax_exp(sr[c]);
            for (int64_t c = n; c < KB; ++c) sr[c] = T(0);  // padding keys
            for (int64_t c = 0; c < n; ++c) l[r] += sr[c];
          }
          for (int64_t r0 = 0; r0 < nb; r0 += RT)  // O += P V
            detail::attention_tile_accumulate(o.data() + r0 * hsp, hsp, s.data() + r0 * KB, KB,
                                             head.v.data() + j0 * hsp, hsp, n, hsp);
        }
        for (int64_t r = 0; r < nb && i0 + r < N; ++r) {
          const T inv = T(1) / l[r];  // l >= 1: the max key contributes exp(0)
          T* dst = out + (b * N + i0 + r) * C + h * hs;
          for (int64_t d = 0; d < hs; ++d) dst[d] = o[size_t(r * hsp + d)] * inv;
          lse[bh * N + i0 + r] = m[r] + std::log(l[r]);
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
  const int64_t hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  const int64_t Np = detail::round_up(N, RT);  // query rows padded to whole tiles
  parallel_for(B * NH, 1, [&](int64_t begin, int64_t end) {
    detail::AttentionHead<T> head;
    std::vector<T> q, go, D, row_lse, dq, dk, dv;
    std::vector<T> s(size_t(QB * KB)), dp(size_t(QB * KB)), pt(size_t(KB * QB)), dst(size_t(KB * QB));
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / NH, h = bh % NH;
      head.load(qkv, mask, b, h, N, C, hs);
      if (head.nk == 0) continue;  // outputs were constant zeros
      const int64_t hsp = head.hsp, nkp = head.nkp;
      // Q and dO of the head, zero-padded to (Np, hsp); D_i = dO_i . O_i (FlashAttention-2 eq. for
      // dS: ds_ij = p_ij (dp_ij - D_i)); rows past N get lse = +inf (no probability).
      q.assign(size_t(Np * hsp), T(0));
      go.assign(size_t(Np * hsp), T(0));
      D.assign(size_t(Np), T(0));
      row_lse.assign(size_t(Np), inf);
      for (int64_t i = 0; i < N; ++i) {
        const T* qs = qkv + (b * N + i) * 3 * C + h * hs;
        const T* gs = dout + (b * N + i) * C + h * hs;
        const T* os = out + (b * N + i) * C + h * hs;
        T di = T(0);
        for (int64_t d = 0; d < hs; ++d) {
          q[size_t(i * hsp + d)] = qs[d];
          go[size_t(i * hsp + d)] = gs[d];
          di += gs[d] * os[d];
        }
        D[size_t(i)] = di;
        row_lse[size_t(i)] = lse[bh * N + i];
      }
      dq.resize(size_t(QB * hsp));
      dk.assign(size_t(nkp * hsp), T(0));
      dv.assign(size_t(nkp * hsp), T(0));
      for (int64_t i0 = 0; i0 < Np; i0 += QB) {
        const int64_t nb = std::min(QB, Np - i0);  // a multiple of RT
        std::fill(dq.begin(), dq.end(), T(0));
        for (int64_t j0 = 0; j0 < head.nk; j0 += KB) {
          const int64_t n = std::min(KB, head.nk - j0);
          // S = Q K^T and dP = dO V^T for the block.
          for (int64_t r0 = 0; r0 < nb; r0 += RT) {
            detail::attention_tile_products(s.data() + r0 * KB, KB, q.data() + (i0 + r0) * hsp, hsp,
                                           head.kt.data() + j0, nkp, hs, n);
            detail::attention_tile_products(dp.data() + r0 * KB, KB, go.data() + (i0 + r0) * hsp, hsp,
                                           head.vt.data() + j0, nkp, hs, n);
          }
          // P = exp(scale S - lse) and dS = scale P o (dP - D); zero at padding keys and rows past N.
          for (int64_t r = 0; r < nb; ++r) {
            T* pr = s.data() + r * KB;
            T* dsr = dp.data() + r * KB;
            const T lr = row_lse[size_t(i0 + r)], dr = D[size_t(i0 + r)];
            for (int64_t c = 0; c < KB; ++c) pr[c] = detail::softmax_exp_arg(pr[c] * scale - lr);
            for (int64_t c = 0; c < KB; ++c) pr[c] = detail::softmax_exp(pr[c]);
            for (int64_t c = lr < inf ? n : 0; c < KB; ++c) pr[c] = T(0);
            for (int64_t c = 0; c < KB; ++c) dsr[c] = pr[c] * (dsr[c] - dr) * scale;
          }
          // dQ += dS K (key rows j0 .. j0 + n).
          for (int64_t r0 = 0; r0 < nb; r0 += RT)
            detail::attention_tile_accumulate(dq.data() + r0 * hsp, hsp, dp.data() + r0 * KB, KB,
                                             head.k.data() + j0 * hsp, hsp, n, hsp);
          // dV += P^T dO and dK += dS^T Q: the key side needs P and dS transposed.
          for (int64_t r = 0; r < nb; ++r)
            for (int64_t c = 0; c < KB; ++c) {
              pt[size_t(c * QB + r)] = s[size_t(r * KB + c)];
              dst[size_t(c * QB + r)] = dp[size_t(r * KB + c)];
            }
          const int64_t nkb = detail::round_up(n, RT);
          for (int64_t c0 = 0; c0 < nkb; c0 += RT) {
            detail::attention_tile_accumulate(dv.data() + (j0 + c0) * hsp, hsp, pt.data() + c0 * QB, QB,
                                             go.data() + i0 * hsp, hsp, nb, hsp);
            detail::attention_tile_accumulate(dk.data() + (j0 + c0) * hsp, hsp, dst.data() + c0 * QB, QB,
                                             q.data() + i0 * hsp, hsp, nb, hsp);
          }
        }
        for (int64_t r = 0; r < nb && i0 + r < N; ++r) {
          T* gq = dqkv + (b * N + i0 + r) * 3 * C + h * hs;
          for (int64_t d = 0; d < hs; ++d) gq[d] += dq[size_t(r * hsp + d)];
        }
      }
      for (int64_t jj = 0; jj < head.nk; ++jj) {
        T* g = dqkv + (b * N + head.keys[size_t(jj)]) * 3 * C + h * hs;
        const T* gk = dk.data() + jj * hsp;
        const T* gv = dv.data() + jj * hsp;
        for (int64_t d = 0; d < hs; ++d) {
          g[C + d] += gk[d];
          g[2 * C + d] += gv[d];
        }
      }
    }
  });
}

}  // namespace simad::ops
