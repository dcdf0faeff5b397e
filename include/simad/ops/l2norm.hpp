// simad/ops/l2norm.hpp: L2-normalise the rows of (N, C), as torch.nn.functional.normalize(x, dim=-1):
//   n_i = ||x_i|| = sqrt(sum_j x_ij^2),   d_i = max(n_i, eps),   y_ij = x_ij / d_i     (eps = 1e-12)
// The forward saves the UNCLAMPED norms n (N) for the backward (and for callers: e.g. a norm penalty).
// Backward ACCUMULATES, from the saved output y and norm n, in two regimes:
//   n_i >= eps:  y_i = x_i / n_i,  dx_i += (g_i - y_i (y_i . g_i)) / n_i    (projection off y_i)
//   n_i <  eps:  y_i = x_i / eps (a constant divisor),  dx_i += g_i / eps
// (At n_i == eps the first formula applies, as torch's clamp_min passes the gradient at the boundary.)
// A zero row gives y = 0 and dx += g / eps. Sums of squares and dot products are taken in double, so
// float rows neither overflow (|x| ~ 1e20) nor underflow to a zero norm. Rows run in parallel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

namespace detail {
inline int64_t l2norm_grain(int64_t C) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(C, 1));
}
}  // namespace detail

template <typename T>
void l2norm_forward(T* out,        // (N, C); out == inp (in place) is allowed
                    T* norm,       // (N) saved for backward: ||x_i|| (unclamped), or nullptr
                    const T* inp,  // (N, C)
                    int64_t N, int64_t C, T eps = T(1e-12)) {
  static_assert(std::is_floating_point_v<T>, "l2norm: floating-point element type");
  SIMAD_CHECK(N >= 0 && C >= 0, "l2norm_forward: negative size N=", N, " C=", C);
  SIMAD_CHECK(eps > T(0) && std::isfinite(eps), "l2norm_forward: eps must be finite and > 0, got ", eps);
  if (N == 0) return;
  SIMAD_CHECK((C == 0 || (out != nullptr && inp != nullptr)), "l2norm_forward: null out or inp for N=", N, " C=", C);
  parallel_for(N, detail::l2norm_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* x = inp + i * C;
      T* y = out + i * C;
      double ss = 0;
      for (int64_t j = 0; j < C; ++j) ss += double(x[j]) * double(x[j]);
      const double n = std::sqrt(ss);
      const double inv = 1.0 / std::max(n, double(eps));
      for (int64_t j = 0; j < C; ++j) y[j] = T(double(x[j]) * inv);
      if (norm) norm[i] = T(n);
    }
  });
}

// dinp += d(y)/d(x)^T dout. dinp may be nullptr (skipped). out and norm are the forward's; eps must be
// the forward's too.
template <typename T>
void l2norm_backward(T* dinp,        // (N, C)
                     const T* dout,  // (N, C)
                     const T* out,   // (N, C) the forward output y
                     const T* norm,  // (N) the forward's saved norms
                     int64_t N, int64_t C, T eps = T(1e-12)) {
  static_assert(std::is_floating_point_v<T>, "l2norm: floating-point element type");
  SIMAD_CHECK(N >= 0 && C >= 0, "l2norm_backward: negative size N=", N, " C=", C);
  SIMAD_CHECK(eps > T(0) && std::isfinite(eps), "l2norm_backward: eps must be finite and > 0, got ", eps);
  if (!dinp || N == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr && out != nullptr && norm != nullptr,
              "l2norm_backward: null dout, out or norm for N=", N, " C=", C);
  parallel_for(N, detail::l2norm_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* y = out + i * C;
      const T* g = dout + i * C;
      T* dx = dinp + i * C;
      const double n = double(norm[i]);
      if (n < double(eps)) {  // clamped: y = x / eps
        const double inv = 1.0 / double(eps);
        for (int64_t j = 0; j < C; ++j) dx[j] += T(double(g[j]) * inv);
        continue;
      }
      double dot = 0;  // y . g
      for (int64_t j = 0; j < C; ++j) dot += double(y[j]) * double(g[j]);
      const double inv = 1.0 / n;
      for (int64_t j = 0; j < C; ++j) dx[j] += T((double(g[j]) - double(y[j]) * dot) * inv);
    }
  });
}

}  // namespace simad::ops
