// simad/ops/layernorm.hpp: layer normalisation over the last dimension of (N, C) rows.
//   mu_i = mean_j x_ij,  var_i = mean_j (x_ij - mu_i)^2  (biased, as PyTorch),  r_i = 1 / sqrt(var_i + eps)
//   xhat_ij = (x_ij - mu_i) r_i,   y_ij = xhat_ij w_j + b_j
// The forward saves mu (mean) and r (rstd) for the backward; either pointer may be nullptr at
// inference. weight or bias may be nullptr too: then w = 1, b = 0 (no elementwise affine).
// The variance is computed in two passes (mean first, then squared deviations): no cancellation.
// Backward ACCUMULATES (g_ij = dy_ij w_j):
//   dx_ij += r_i (g_ij - mean_k g_ik - xhat_ij mean_k (g_ik xhat_ik))
//   dw_j  += sum_i dy_ij xhat_ij,   db_j += sum_i dy_ij
// One parallel pass over fixed row chunks (their size depends on N only, never on the thread count)
// computes dinp and each chunk's partial dweight/dbias column sums (rows in order: T sums over groups
// of 32 rows, added into double partials); the chunk partials are then added in chunk order, so the
// bits do not depend on the thread count. Row sums use 64-byte lanes combined in a fixed order, so
// they vectorise without -ffast-math; each row's result depends on that row alone.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

namespace detail {
// Rows (or columns) per parallel chunk: about 16K elements, so small inputs run inline.
inline int64_t layernorm_grain(int64_t other_extent) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(other_extent, 1));
}

// Lanes for row reductions: one 64-byte vector of T (lane k sums elements j = k mod kLanes).
template <typename T>
inline constexpr int64_t kLnLanes = int64_t(64 / sizeof(T));

// Adds the lanes in a fixed pairwise order.
template <typename T>
inline T ln_combine(T* acc) {
  for (int64_t w = kLnLanes<T> / 2; w >= 1; w /= 2)
    for (int64_t k = 0; k < w; ++k) acc[k] += acc[k + w];
  return acc[0];
}

// sum_j g_j and sum_j g_j (x_j - m) s with g_j = dy_j w_j (w nullptr: g = dy), in 64-byte vector
// lanes (GCC/Clang vector extensions; a fixed lane order, so the bits depend on the row alone).
template <typename T>
inline void layernorm_grad_sums(const T* dy, const T* w, const T* x, T m, T s, int64_t C, T& sum_g, T& sum_gx) {
  T a = 0, b = 0;
  int64_t j = 0;
#if defined(__GNUC__) || defined(__clang__)
  constexpr int64_t L = kLnLanes<T>;
  typedef T V __attribute__((vector_size(64)));
  V ag = {}, agx = {};
  if (w) {
    for (; j + L <= C; j += L) {
      V vdy, vw, vx;
      std::memcpy(&vdy, dy + j, sizeof(V));
      std::memcpy(&vw, w + j, sizeof(V));
      std::memcpy(&vx, x + j, sizeof(V));
      const V g = vdy * vw;
      ag += g;
      agx += g * ((vx - m) * s);
    }
  } else {
    for (; j + L <= C; j += L) {
      V vdy, vx;
      std::memcpy(&vdy, dy + j, sizeof(V));
      std::memcpy(&vx, x + j, sizeof(V));
      ag += vdy;
      agx += vdy * ((vx - m) * s);
    }
  }
  for (int64_t k = 0; k < L; ++k) {
    a += ag[k];
    b += agx[k];
  }
#endif
  for (; j < C; ++j) {
    const T g = w ? dy[j] * w[j] : dy[j];
    a += g;
    b += g * ((x[j] - m) * s);
  }
  sum_g = a;
  sum_gx = b;
}

// Rows per backward reduction chunk: a function of N alone (at most ~64 chunks, at least 32 rows),
// so the dweight/dbias summation order never depends on the thread count.
inline int64_t layernorm_backward_chunk_rows(int64_t N) { return std::max<int64_t>(32, (N + 63) / 64); }
}  // namespace detail

template <typename T>
void layernorm_forward(T* out,           // (N, C)
                       T* mean,          // (N) saved for backward, or nullptr
                       T* rstd,          // (N) saved for backward, or nullptr
                       const T* inp,     // (N, C)
                       const T* weight,  // (C) or nullptr (1)
                       const T* bias,    // (C) or nullptr (0)
                       int64_t N, int64_t C, T eps = T(1e-5)) {
  static_assert(std::is_floating_point_v<T>, "layernorm: floating-point element type");
  SIMAD_CHECK(N >= 0 && C >= 0, "layernorm_forward: negative size N=", N, " C=", C);
  SIMAD_CHECK(eps >= T(0) && std::isfinite(eps), "layernorm_forward: eps must be finite and >= 0, got ", eps);
  if (N == 0) return;
  SIMAD_CHECK(C >= 1, "layernorm_forward: C must be >= 1 for N=", N, " rows");
  SIMAD_CHECK(out != nullptr && inp != nullptr, "layernorm_forward: null out or inp for N=", N, " C=", C);
  const T inv_C = T(1) / T(C);
  parallel_for(N, detail::layernorm_grain(C), [&](int64_t begin, int64_t end) {
    constexpr int64_t L = detail::kLnLanes<T>;
    for (int64_t i = begin; i < end; ++i) {
      const T* x = inp + i * C;
      T* y = out + i * C;
      T acc[L] = {};
      int64_t j = 0;
      for (; j + L <= C; j += L)
        for (int64_t k = 0; k < L; ++k) acc[k] += x[j + k];
      for (int64_t k = 0; j < C; ++j, ++k) acc[k] += x[j];
      const T m = detail::ln_combine(acc) * inv_C;
      std::fill(acc, acc + L, T(0));
      j = 0;
      for (; j + L <= C; j += L)
        for (int64_t k = 0; k < L; ++k) {
          const T d = x[j + k] - m;
          acc[k] += d * d;
        }
      for (int64_t k = 0; j < C; ++j, ++k) {
        const T d = x[j] - m;
        acc[k] += d * d;
      }
      const T v = detail::ln_combine(acc) * inv_C;
      const T s = T(1) / std::sqrt(v + eps);
      if (weight && bias) {
        for (j = 0; j < C; ++j) y[j] = (x[j] - m) * s * weight[j] + bias[j];
      } else if (weight) {
        for (j = 0; j < C; ++j) y[j] = (x[j] - m) * s * weight[j] + T(0);
      } else if (bias) {
        for (j = 0; j < C; ++j) y[j] = (x[j] - m) * s * T(1) + bias[j];
      } else {
        for (j = 0; j < C; ++j) y[j] = (x[j] - m) * s * T(1) + T(0);
      }
      if (mean) mean[i] = m;
      if (rstd) rstd[i] = s;
    }
  });
}

// Any of dinp, dweight, dbias may be nullptr (skipped). mean and rstd are the forward's.
template <typename T>
void layernorm_backward(T* dinp,          // (N, C)
                        T* dweight,       // (C)
                        T* dbias,         // (C)
                        const T* dout,    // (N, C)
                        const T* inp,     // (N, C) the forward input
                        const T* weight,  // (C) or nullptr (1)
                        const T* mean,    // (N) saved by the forward
                        const T* rstd,    // (N) saved by the forward
                        int64_t N, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "layernorm: floating-point element type");
  SIMAD_CHECK(N >= 0 && C >= 0, "layernorm_backward: negative size N=", N, " C=", C);
  if (N == 0 || C == 0 || (!dinp && !dweight && !dbias)) return;
  SIMAD_CHECK(dout != nullptr && inp != nullptr && mean != nullptr && rstd != nullptr,
              "layernorm_backward: null dout, inp, mean or rstd for N=", N, " C=", C);

  const T inv_C = T(1) / T(C);
  const int64_t rows = detail::layernorm_backward_chunk_rows(N);
  const int64_t chunks = (N + rows - 1) / rows;
  const bool want_wb = dweight || dbias;
  // Per chunk: C partial dweight sums, then C partial dbias sums.
  std::vector<double> partial(want_wb ? size_t(chunks) * size_t(2 * C) : 0, 0.0);
  // Within a chunk, dweight/dbias terms are first summed in T over kFlush rows (fast, vectorised),
  // then added into the chunk's double partials: fixed row groups, so still thread-count independent.
  constexpr int64_t kFlush = 32;
  parallel_for(chunks, std::max<int64_t>(1, detail::layernorm_grain(C) / rows), [&](int64_t c0, int64_t c1) {
    std::vector<T> flush_dwdb(want_wb ? size_t(2 * C) : 0, T(0));  // dweight, dbias terms since the last flush
    T* flush_dw = flush_dwdb.data();
    T* flush_db = want_wb ? flush_dw + C : nullptr;
    for (int64_t c = c0; c < c1; ++c) {
      double* chunk_dwdb = want_wb ? partial.data() + size_t(c) * size_t(2 * C) : nullptr;  // dbias at + C
      for (int64_t i = c * rows, i_end = std::min(N, (c + 1) * rows); i < i_end; ++i) {
        const T* x = inp + i * C;
        const T* dy = dout + i * C;
        const T m = mean[i], s = rstd[i];
        if (dinp) {
          T* dx = dinp + i * C;
          T sum_g, sum_gx;  // sum_k g_ik, sum_k g_ik xhat_ik
          detail::layernorm_grad_sums(dy, weight, x, m, s, C, sum_g, sum_gx);
          const T g_mean = sum_g * inv_C, gx_mean = sum_gx * inv_C;
          if (weight) {
            for (int64_t j = 0; j < C; ++j)
              dx[j] += s * (dy[j] * weight[j] - g_mean - (x[j] - m) * s * gx_mean);
          } else {
            for (int64_t j = 0; j < C; ++j) dx[j] += s * (dy[j] - g_mean - (x[j] - m) * s * gx_mean);
          }
        }
        if (dweight)
          for (int64_t j = 0; j < C; ++j) flush_dw[j] += dy[j] * ((x[j] - m) * s);
        if (dbias)
          for (int64_t j = 0; j < C; ++j) flush_db[j] += dy[j];
        // Every kFlush rows of the chunk (and at its end): the T partials into the double ones.
        if (want_wb && ((i - c * rows) % kFlush == kFlush - 1 || i + 1 == i_end)) {
          for (int64_t j = 0; j < 2 * C; ++j) {
            chunk_dwdb[j] += double(flush_dw[j]);
            flush_dw[j] = T(0);
          }
        }
      }
    }
  });

  if (want_wb) {
    // Chunk partials added in chunk order (into chunk 0's), then into the outputs.
    double* acc = partial.data();
    for (int64_t c = 1; c < chunks; ++c) {
      const double* p = partial.data() + size_t(c) * size_t(2 * C);
      for (int64_t j = 0; j < 2 * C; ++j) acc[j] += p[j];
    }
    if (dweight)
      for (int64_t j = 0; j < C; ++j) dweight[j] += T(acc[j]);
    if (dbias)
      for (int64_t j = 0; j < C; ++j) dbias[j] += T(acc[C + j]);
  }
}

}  // namespace simad::ops
