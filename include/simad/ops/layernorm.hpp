// simad/ops/layernorm.hpp: layer normalisation over the last dimension of (N, C) rows.
//   mu_i = mean_j x_ij,  var_i = mean_j (x_ij - mu_i)^2  (biased, as PyTorch),  r_i = 1 / sqrt(var_i + eps)
//   xhat_ij = (x_ij - mu_i) r_i,   y_ij = xhat_ij w_j + b_j
// The forward saves mu (mean) and r (rstd) for the backward; either pointer may be nullptr at
// inference. weight or bias may be nullptr too: then w = 1, b = 0 (no elementwise affine).
// The variance is computed in two passes (mean first, then squared deviations): no cancellation.
// Backward ACCUMULATES (g_ij = dy_ij w_j):
//   dx_ij += r_i (g_ij - mean_k g_ik - xhat_ij mean_k (g_ik xhat_ik))
//   dw_j  += sum_i dy_ij xhat_ij,   db_j += sum_i dy_ij
// dinp runs in parallel over rows. dweight/dbias are reductions over the N rows: they run in parallel
// over column blocks, each column summed in row order 0..N-1 (in double), so the bits do not depend
// on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
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
    for (int64_t i = begin; i < end; ++i) {
      const T* x = inp + i * C;
      T* y = out + i * C;
      T m = 0;
      for (int64_t j = 0; j < C; ++j) m += x[j];
      m *= inv_C;
      T v = 0;
      for (int64_t j = 0; j < C; ++j) {
        const T d = x[j] - m;
        v += d * d;
      }
      v *= inv_C;
      const T s = T(1) / std::sqrt(v + eps);
      if (weight && bias) {
        for (int64_t j = 0; j < C; ++j) y[j] = (x[j] - m) * s * weight[j] + bias[j];
      } else {
        for (int64_t j = 0; j < C; ++j)
          y[j] = (x[j] - m) * s * (weight ? weight[j] : T(1)) + (bias ? bias[j] : T(0));
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

  if (dinp) {
    const T inv_C = T(1) / T(C);
    parallel_for(N, detail::layernorm_grain(C), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const T* x = inp + i * C;
        const T* dy = dout + i * C;
        T* dx = dinp + i * C;
        const T m = mean[i], s = rstd[i];
        T g_mean = 0, gx_mean = 0;  // mean_k g_ik, mean_k g_ik xhat_ik
        for (int64_t j = 0; j < C; ++j) {
          const T g = weight ? dy[j] * weight[j] : dy[j];
          g_mean += g;
          gx_mean += g * (x[j] - m) * s;
        }
        g_mean *= inv_C;
        gx_mean *= inv_C;
        for (int64_t j = 0; j < C; ++j) {
          const T g = weight ? dy[j] * weight[j] : dy[j];
          dx[j] += s * (g - g_mean - (x[j] - m) * s * gx_mean);
        }
      }
    });
  }

  if (dweight || dbias) {
    // Column blocks in parallel; within a block, rows in order: deterministic whatever the threads.
    parallel_for(C, detail::layernorm_grain(N), [&](int64_t c0, int64_t c1) {
      std::vector<double> acc_w(dweight ? size_t(c1 - c0) : 0), acc_b(dbias ? size_t(c1 - c0) : 0);
      for (int64_t i = 0; i < N; ++i) {
        const T* x = inp + i * C;
        const T* dy = dout + i * C;
        const T m = mean[i], s = rstd[i];
        if (dweight)
          for (int64_t j = c0; j < c1; ++j) acc_w[size_t(j - c0)] += double(dy[j] * ((x[j] - m) * s));
        if (dbias)
          for (int64_t j = c0; j < c1; ++j) acc_b[size_t(j - c0)] += double(dy[j]);
      }
      if (dweight)
        for (int64_t j = c0; j < c1; ++j) dweight[j] += T(acc_w[size_t(j - c0)]);
      if (dbias)
        for (int64_t j = c0; j < c1; ++j) dbias[j] += T(acc_b[size_t(j - c0)]);
    });
  }
}

}  // namespace simad::ops
