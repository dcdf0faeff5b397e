// simad/ops/reference/l2norm.hpp: the readable specification of ops/l2norm.hpp (same names, same
// arguments, same semantics), in plain loops with double accumulators, one thread. Used by the tests;
// never by the library itself. L2-normalise the rows of (N, C), as torch.nn.functional.normalize(x, dim=-1):
//   n_i = ||x_i|| = sqrt(sum_j x_ij^2),   d_i = max(n_i, eps),   y_ij = x_ij / d_i     (eps = 1e-12)
// The forward OVERWRITES out (out == inp allowed) and saves the UNCLAMPED norms n (nullptr: not saved).
// Backward ACCUMULATES (dinp nullptr: skipped), from the saved output y and norm n:
//   n_i >= eps:  dx_i += (g_i - y_i (y_i . g_i)) / n_i    (projection off y_i)
//   n_i <  eps:  dx_i += g_i / eps                        (y_i = x_i / eps, a constant divisor)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void l2norm_forward(T* out,        // (N, C)
                    T* norm,       // (N) ||x_i|| unclamped, or nullptr
                    const T* inp,  // (N, C)
                    int64_t N, int64_t C, T eps = T(1e-12)) {
  for (int64_t i = 0; i < N; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < C; ++j) ss += double(inp[i * C + j]) * double(inp[i * C + j]);
    const double n = std::sqrt(ss);
    const double d = std::max(n, double(eps));
    for (int64_t j = 0; j < C; ++j) out[i * C + j] = T(double(inp[i * C + j]) / d);
    if (norm) norm[i] = T(n);
  }
}

template <typename T>
void l2norm_backward(T* dinp,        // (N, C) or nullptr
                     const T* dout,  // (N, C)
                     const T* out,   // (N, C) the forward output y
                     const T* norm,  // (N) the forward's saved norms
                     int64_t N, int64_t C, T eps = T(1e-12)) {
  if (!dinp) return;
  for (int64_t i = 0; i < N; ++i) {
    const T* y = out + i * C;
    const T* g = dout + i * C;
    T* dx = dinp + i * C;
    const double n = double(norm[i]);
    if (n < double(eps)) {
      for (int64_t j = 0; j < C; ++j) dx[j] = T(double(dx[j]) + double(g[j]) / double(eps));
      continue;
    }
    double dot = 0;  // y_i . g_i
    for (int64_t j = 0; j < C; ++j) dot += double(y[j]) * double(g[j]);
    for (int64_t j = 0; j < C; ++j) dx[j] = T(double(dx[j]) + (double(g[j]) - double(y[j]) * dot) / n);
  }
}

}  // namespace simad::ops::reference
