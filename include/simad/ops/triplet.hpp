// simad/ops/triplet.hpp: batch-hard triplet loss (Hermans, Beyer, Leibe 2017, "In Defense of the
// Triplet Loss for Person Re-Identification", eq. 5), the loss ION trains its embeddings with.
// For each anchor a of a batch of B embeddings with labels:
//   p(a) = argmax_{j != a, y_j = y_a} D(a, j)     the hardest positive (farthest same label)
//   n(a) = argmin_{y_j != y_a} D(a, j)            the hardest negative (nearest other label)
//   L = 1/V sum_{valid a} max(0, D(a, p(a)) - D(a, n(a)) + margin)
// D is the squared Euclidean distance (TripletDistance::Squared, MODELS.md) or the Euclidean one.
// An anchor without a positive or without a negative is skipped (p or n = -1) and counted; V is the
// number of valid anchors (L = 0 when V = 0). Ties in the arg-selections go to the smaller index.
//
// Distances are computed directly, sum_k (a_k - x_k)^2 over k in order (no norm expansion, so no
// cancellation: D(a, a') = 0 exactly for a duplicate), 4 anchors x 16 candidates at a time over a
// transposed copy of the batch, 16 candidates in one SIMD vector (GCC/clang vector extension), each
// lane summing over k in order (the same arithmetic as the backward's recomputation), anchors in
// parallel.
//
// Backward ACCUMULATES into demb (B, D). The selections are held fixed (the usual subgradient):
// for an anchor with a positive hinge, s = dloss / V and, for the squared distance,
//   demb[a] += 2 s ((a - p) - (a - n)),  demb[p] -= 2 s (a - p),  demb[n] += 2 s (a - n)
// and for the Euclidean one (a - p) / D(a, p) instead of 2 (a - p) (0 when D = 0), likewise for n.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/triplet_distance.hpp"

// Full unrolling of the register-tile loops (GCC and clang; nvcc, which also sees this header through
// the CUDA launchers' declarations, rejects the pragma).
#if defined(__CUDACC__)
#define SIMAD_TRIPLET_UNROLL
#else
#define SIMAD_TRIPLET_UNROLL _Pragma("GCC unroll 4")
#endif

namespace simad::ops {

namespace detail {

template <typename T>
inline T triplet_distance(const T* a, const T* x, int64_t D, TripletDistance dist) {
  T s = 0;
  for (int64_t k = 0; k < D; ++k) {
    const T diff = a[k] - x[k];
    s += diff * diff;
  }
  return dist == TripletDistance::Squared ? s : std::sqrt(s);
}

// 32 bytes of T (an AVX register) as a GCC/clang vector extension, lowered to whatever SIMD the
// target has. (64-byte vectors on an AVX2 target made GCC 12 shuffle through the stack.)
template <typename T>
struct Vec32;
template <>
struct Vec32<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct Vec32<double> {
  typedef double type __attribute__((vector_size(32)));
};

inline void check_triplet_args(const char* what, int64_t B, int64_t D) {
  SIMAD_CHECK(B >= 0 && D >= 1, what, ": bad sizes B=", B, " D=", D);
  SIMAD_CHECK(B <= std::numeric_limits<int32_t>::max(), what, ": B=", B, " above INT32_MAX");
}

}  // namespace detail

template <typename T>
void batch_hard_triplet_forward(T* loss,                // (1) mean hinge over valid anchors
                                int32_t* hardest_pos,   // (B) p(a) or -1
                                int32_t* hardest_neg,   // (B) n(a) or -1
                                int64_t* skipped,       // (1) anchors without a positive or a negative
                                const T* emb,           // (B, D)
                                const int32_t* labels,  // (B)
                                int64_t B, int64_t D, T margin, TripletDistance dist = TripletDistance::Squared) {
  static_assert(std::is_floating_point_v<T>, "triplet: floating-point element type");
  detail::check_triplet_args("batch_hard_triplet_forward", B, D);
  SIMAD_CHECK(loss && hardest_pos && hardest_neg && skipped, "batch_hard_triplet_forward: null output");
  SIMAD_CHECK(B == 0 || (emb && labels), "batch_hard_triplet_forward: null emb or labels");
  // Candidates in blocks of kC, each block transposed (D, kC) and contiguous: the inner loop reads
  // kC consecutive candidates' element k, then the next k 64 bytes further (a (D, B) transpose would
  // put successive k 4*B bytes apart: one L1 set, thrashed).
  constexpr int64_t kA = 4, kC = 16;
  const int64_t Bp = (B + kC - 1) / kC * kC;
  std::vector<T> et(size_t(D * Bp), T(0));
  for (int64_t j = 0; j < B; ++j)
    for (int64_t k = 0; k < D; ++k) et[size_t((j / kC) * D * kC + k * kC + j % kC)] = emb[j * D + k];
  std::vector<T> hinge(size_t(B), T(0));
  std::vector<uint8_t> valid(size_t(B), 0);
  parallel_for((B + kA - 1) / kA, 4, [&](int64_t gb, int64_t ge) {
    for (int64_t g = gb; g < ge; ++g) {
      const int64_t a0 = g * kA, na = std::min(kA, B - a0);
      T best_p[kA], best_n[kA];
      int32_t arg_p[kA], arg_n[kA];
      const T* arow[kA];  // the group's anchors (the last one repeated to fill a short group)
      for (int64_t r = 0; r < kA; ++r) {
        best_p[r] = T(-1), best_n[r] = std::numeric_limits<T>::infinity(), arg_p[r] = -1, arg_n[r] = -1;
        arow[r] = emb + std::min(a0 + r, B - 1) * D;
      }
      for (int64_t c0 = 0; c0 < B; c0 += kC) {
        using V = typename detail::Vec32<T>::type;
        constexpr int kNV = int(kC * sizeof(T) / sizeof(V));  // vectors per kC candidates
        V acc_v[kA][kNV] = {};
        const T* x = et.data() + c0 * D;
        for (int64_t k = 0; k < D; ++k, x += kC) {
          V xv[kNV];
          SIMAD_TRIPLET_UNROLL for (int v = 0; v < kNV; ++v) std::memcpy(&xv[v], x + v * int64_t(sizeof(V) / sizeof(T)), sizeof(V));
          SIMAD_TRIPLET_UNROLL for (int r = 0; r < int(kA); ++r) {
            const T av = arow[r][k];
            SIMAD_TRIPLET_UNROLL for (int v = 0; v < kNV; ++v) {
              const V dv = av - xv[v];
              acc_v[r][v] += dv * dv;
            }
          }
        }
        T acc[kA][kC];
        std::memcpy(acc, acc_v, sizeof acc);
        for (int64_t r = 0; r < na; ++r) {
          const int64_t a = a0 + r;
          for (int64_t c = 0; c < kC && c0 + c < B; ++c) {
            const int64_t j = c0 + c;
            if (j == a) continue;
            const T s = acc[r][c];
            if (labels[j] == labels[a]) {
              if (s > best_p[r]) best_p[r] = s, arg_p[r] = int32_t(j);  // strict: ties keep the smaller j
            } else if (s < best_n[r]) {
              best_n[r] = s, arg_n[r] = int32_t(j);
            }
          }
        }
      }
      for (int64_t r = 0; r < na; ++r) {
        const int64_t a = a0 + r;
        hardest_pos[a] = arg_p[r];
        hardest_neg[a] = arg_n[r];
        if (arg_p[r] < 0 || arg_n[r] < 0) continue;
        valid[size_t(a)] = 1;
        const T dp = dist == TripletDistance::Squared ? best_p[r] : std::sqrt(best_p[r]);
        const T dn = dist == TripletDistance::Squared ? best_n[r] : std::sqrt(best_n[r]);
        hinge[size_t(a)] = std::max(T(0), dp - dn + margin);
      }
    }
  });
  double sum = 0;
  int64_t v = 0;
  for (int64_t a = 0; a < B; ++a) {
    sum += double(hinge[size_t(a)]);
    v += valid[size_t(a)];
  }
  *skipped = B - v;
  *loss = v ? T(sum / double(v)) : T(0);
}

// demb += d loss / d emb, from the forward's selections (see the top of the file).
template <typename T>
void batch_hard_triplet_backward(T* demb,                     // (B, D) accumulated
                                 T dloss,                     // d(something) / d loss
                                 const T* emb,                // (B, D)
                                 const int32_t* hardest_pos,  // (B) from the forward
                                 const int32_t* hardest_neg,  // (B) from the forward
                                 int64_t B, int64_t D, T margin,
                                 TripletDistance dist = TripletDistance::Squared) {
  static_assert(std::is_floating_point_v<T>, "triplet: floating-point element type");
  detail::check_triplet_args("batch_hard_triplet_backward", B, D);
  if (!demb || B == 0) return;
  SIMAD_CHECK(emb && hardest_pos && hardest_neg, "batch_hard_triplet_backward: null emb or selections");
  int64_t v = 0;
  for (int64_t a = 0; a < B; ++a) {
    const int32_t p = hardest_pos[a], n = hardest_neg[a];
    SIMAD_CHECK(p >= -1 && p < B && n >= -1 && n < B, "batch_hard_triplet_backward: anchor ", a,
                " has selection out of range (", p, ", ", n, ")");
    v += p >= 0 && n >= 0;
  }
  if (v == 0) return;
  const T s = dloss / T(v);
  // Sequential: positives and negatives of different anchors hit the same rows (no races, fixed order).
  for (int64_t a = 0; a < B; ++a) {
    const int32_t p = hardest_pos[a], n = hardest_neg[a];
    if (p < 0 || n < 0) continue;
    const T* xa = emb + a * D;
    const T* xp = emb + int64_t(p) * D;
    const T* xn = emb + int64_t(n) * D;
    const T dp = detail::triplet_distance(xa, xp, D, dist), dn = detail::triplet_distance(xa, xn, D, dist);
    if (!(dp - dn + margin > T(0))) continue;
    T cp, cn;  // coefficients of (a - p) and (a - n)
    if (dist == TripletDistance::Squared) {
      cp = T(2) * s, cn = T(2) * s;
    } else {
      cp = dp > T(0) ? s / dp : T(0);
      cn = dn > T(0) ? s / dn : T(0);
    }
    T* ga = demb + a * D;
    T* gp = demb + int64_t(p) * D;
    T* gn = demb + int64_t(n) * D;
    for (int64_t k = 0; k < D; ++k) {
      const T up = cp * (xa[k] - xp[k]), un = cn * (xa[k] - xn[k]);
      ga[k] += up - un;
      gp[k] -= up;
      gn[k] += un;
    }
  }
}

}  // namespace simad::ops
