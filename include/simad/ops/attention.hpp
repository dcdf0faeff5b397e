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
// nothing) and K, V, K^T, V^T copied zero-padded to whole vectors; 4 query rows at a time meet blocks of
// 2 x 64 bytes of keys in register tiles (scores Q K^T and dO V^T accumulate over features, P V and
// dS K over keys), so every inner loop has a compile-time length and vectorises without -ffast-math.
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

// Register tiles: kAttnRows query rows at a time against blocks of kAttnKeys<T> keys; features and
// keys are padded with zeros to multiples of kLanes<T> (one 64-byte vector), so every inner loop has
// a compile-time length and the tiles below stay in vector registers.
inline constexpr int64_t kAttnRows = 4;
template <typename T>
inline constexpr int64_t kAttnKeys = 2 * kLanes<T>;

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

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
    hsp = round_up(hs, kLanes<T>);
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

// s (kAttnRows, KB) = a (kAttnRows rows of stride lda) b (hs, ldb)[:, j0 : j0 + KB]: the scores
// Q K^T or dO V^T of one tile, accumulated in registers over the hs features.
template <typename T>
inline void attention_tile_products(T* s, const T* a, int64_t lda, const T* b, int64_t ldb, int64_t j0, int64_t hs) {
  constexpr int64_t R = kAttnRows, KB = kAttnKeys<T>;
  T acc[R][KB] = {};
  for (int64_t d = 0; d < hs; ++d) {
    const T* br = b + d * ldb + j0;
    for (int64_t r = 0; r < R; ++r) {
      const T x = a[r * lda + d];
      for (int64_t c = 0; c < KB; ++c) acc[r][c] += x * br[c];
    }
  }
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < KB; ++c) s[r * KB + c] = acc[r][c];
}

// o (kAttnRows, hsp) += p (kAttnRows, KB)[:, :n] rows (n, ldr) of `rows`: P V or dS K for one tile,
// a kLanes-wide chunk of features at a time in registers.
template <typename T>
inline void attention_tile_accumulate(T* o, const T* p, const T* rows, int64_t n, int64_t hsp) {
  constexpr int64_t R = kAttnRows, KB = kAttnKeys<T>, L = kLanes<T>;
  for (int64_t d0 = 0; d0 < hsp; d0 += L) {
    T acc[R][L];
    for (int64_t r = 0; r < R; ++r)
      for (int64_t l = 0; l < L; ++l) acc[r][l] = o[r * hsp + d0 + l];
    for (int64_t c = 0; c < n; ++c) {
      const T* vr = rows + c * hsp + d0;
      for (int64_t r = 0; r < R; ++r) {
        const T pc = p[r * KB + c];
        for (int64_t l = 0; l < L; ++l) acc[r][l] += pc * vr[l];
      }
    }
    for (int64_t r = 0; r < R; ++r)
      for (int64_t l = 0; l < L; ++l) o[r * hsp + d0 + l] = acc[r][l];
  }
}

// Copies rows i0 .. i0 + kAttnRows of one head's slice (row stride ld in src) into a (kAttnRows, hsp)
// tile, zero-padded (features past hs, rows past N).
template <typename T>
inline void attention_load_rows(T* tile, const T* src, int64_t ld, int64_t i0, int64_t N, int64_t hs, int64_t hsp) {
  for (int64_t r = 0; r < kAttnRows; ++r)
    for (int64_t d = 0; d < hsp; ++d) tile[r * hsp + d] = (i0 + r < N && d < hs) ? src[(i0 + r) * ld + d] : T(0);
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
  constexpr int64_t R = detail::kAttnRows, KB = detail::kAttnKeys<T>;
  const int64_t hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  constexpr T neg_inf = -std::numeric_limits<T>::infinity();
  parallel_for(B * NH, 1, [&](int64_t begin, int64_t end) {
    detail::AttentionHead<T> head;
    std::vector<T> q, o, s(size_t(R * KB));
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / NH, h = bh % NH;
      head.load(qkv, mask, b, h, N, C, hs);
      const int64_t hsp = head.hsp;
      q.resize(size_t(R * hsp));
      o.resize(size_t(R * hsp));
      const T* q_src = qkv + b * N * 3 * C + h * hs;
      for (int64_t i0 = 0; i0 < N; i0 += R) {
        const int64_t rows = std::min(R, N - i0);
        if (head.nk == 0) {  // every key padded: zeros
          for (int64_t r = 0; r < rows; ++r) {
            std::fill(out + (b * N + i0 + r) * C + h * hs, out + (b * N + i0 + r) * C + (h + 1) * hs, T(0));
            lse[bh * N + i0 + r] = std::numeric_limits<T>::infinity();
          }
          continue;
        }
        detail::attention_load_rows(q.data(), q_src, 3 * C, i0, N, hs, hsp);
        std::fill(o.begin(), o.end(), T(0));
        T m[R], l[R];
        for (int64_t r = 0; r < R; ++r) m[r] = neg_inf, l[r] = T(0);
        for (int64_t j0 = 0; j0 < head.nk; j0 += KB) {
          const int64_t n = std::min(KB, head.nk - j0);
          detail::attention_tile_products(s.data(), q.data(), hsp, head.kt.data(), head.nkp, j0, hs);
          for (int64_t r = 0; r < R; ++r) {
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
          detail::attention_tile_accumulate(o.data(), s.data(), head.v.data() + j0 * hsp, n, hsp);
        }
        for (int64_t r = 0; r < rows; ++r) {
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
  constexpr int64_t R = detail::kAttnRows, KB = detail::kAttnKeys<T>, L = detail::kLanes<T>;
  const int64_t hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  parallel_for(B * NH, 1, [&](int64_t begin, int64_t end) {
    detail::AttentionHead<T> head;
    std::vector<T> q, go, dq, dk, dv, p(size_t(R * KB)), ds(size_t(R * KB));
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / NH, h = bh % NH;
      head.load(qkv, mask, b, h, N, C, hs);
      if (head.nk == 0) continue;  // outputs were constant zeros
      const int64_t hsp = head.hsp, nkp = head.nkp;
      q.resize(size_t(R * hsp));
      go.resize(size_t(R * hsp));
      dq.resize(size_t(R * hsp));
      dk.assign(size_t(nkp * hsp), T(0));
      dv.assign(size_t(nkp * hsp), T(0));
      for (int64_t i0 = 0; i0 < N; i0 += R) {
        const int64_t rows = std::min(R, N - i0);
        detail::attention_load_rows(q.data(), qkv + b * N * 3 * C + h * hs, 3 * C, i0, N, hs, hsp);
        detail::attention_load_rows(go.data(), dout + b * N * C + h * hs, C, i0, N, hs, hsp);
        std::fill(dq.begin(), dq.end(), T(0));
        T D[R], row_lse[R];
        for (int64_t r = 0; r < R; ++r) {
          D[r] = T(0);
          row_lse[r] = std::numeric_limits<T>::infinity();  // rows past N: p = 0
          if (r >= rows) continue;
          const T* o = out + (b * N + i0 + r) * C + h * hs;
          for (int64_t d = 0; d < hs; ++d) D[r] += go[size_t(r * hsp + d)] * o[d];
          row_lse[r] = lse[bh * N + i0 + r];
        }
        for (int64_t j0 = 0; j0 < head.nk; j0 += KB) {
          const int64_t n = std::min(KB, head.nk - j0);
          detail::attention_tile_products(p.data(), q.data(), hsp, head.kt.data(), nkp, j0, hs);
          detail::attention_tile_products(ds.data(), go.data(), hsp, head.vt.data(), nkp, j0, hs);  // dP
          for (int64_t r = 0; r < R; ++r) {
            T* pr = p.data() + r * KB;
            T* dsr = ds.data() + r * KB;
            const bool live = row_lse[r] < std::numeric_limits<T>::infinity();
            for (int64_t c = 0; c < KB; ++c) pr[c] = detail::softmax_exp_arg(pr[c] * scale - row_lse[r]);
            for (int64_t c = 0; c < KB; ++c) pr[c] = detail::softmax_exp(pr[c]);
            for (int64_t c = live ? n : 0; c < KB; ++c) pr[c] = T(0);  // padding keys, rows past N
            for (int64_t c = 0; c < KB; ++c) dsr[c] = pr[c] * (dsr[c] - D[r]) * scale;
          }
          // dQ += dS K; dV += P^T dO and dK += dS^T Q (key rows j0 .. j0 + n).
          detail::attention_tile_accumulate(dq.data(), ds.data(), head.k.data() + j0 * hsp, n, hsp);
          for (int64_t c = 0; c < n; ++c) {
            T* dvj = dv.data() + (j0 + c) * hsp;
            T* dkj = dk.data() + (j0 + c) * hsp;
            for (int64_t d0 = 0; d0 < hsp; d0 += L) {
              T av[L], ak[L];
              for (int64_t x = 0; x < L; ++x) av[x] = dvj[d0 + x], ak[x] = dkj[d0 + x];
              for (int64_t r = 0; r < R; ++r) {
                const T pc = p[size_t(r * KB + c)], sc = ds[size_t(r * KB + c)];
                for (int64_t x = 0; x < L; ++x) {
                  av[x] += pc * go[size_t(r * hsp + d0 + x)];
                  ak[x] += sc * q[size_t(r * hsp + d0 + x)];
                }
              }
              for (int64_t x = 0; x < L; ++x) dvj[d0 + x] = av[x], dkj[d0 + x] = ak[x];
            }
          }
        }
        for (int64_t r = 0; r < rows; ++r) {
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
