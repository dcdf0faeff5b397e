// simad/ops/reference/layernorm.hpp: the readable specification of ops/layernorm.hpp (same names, same
// arguments, same semantics), in plain loops with double accumulators, one thread. Used by the tests
// and the benchmarks' naive peers; never by the library itself.
//   mu_i = mean_j x_ij,  var_i = mean_j (x_ij - mu_i)^2  (biased, as PyTorch),  r_i = 1 / sqrt(var_i + eps)
//   xhat_ij = (x_ij - mu_i) r_i,   y_ij = xhat_ij w_j + b_j
// The forward OVERWRITES out and saves mu (mean) and r (rstd); either may be nullptr. weight or bias
// may be nullptr: then w = 1, b = 0. Backward ACCUMULATES (g_ij = dy_ij w_j); any gradient may be nullptr:
//   dx_ij += r_i (g_ij - mean_k g_ik - xhat_ij mean_k (g_ik xhat_ik))
//   dw_j  += sum_i dy_ij xhat_ij,   db_j += sum_i dy_ij
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace simad::ops::reference {

template <typename T>
void layernorm_forward(T* out,           // (N, C)
                       T* mean,          // (N) or nullptr
                       T* rstd,          // (N) or nullptr
                       const T* inp,     // (N, C)
                       const T* weight,  // (C) or nullptr (1)
                       const T* bias,    // (C) or nullptr (0)
                       int64_t N, int64_t C, T eps = T(1e-5)) {
  for (int64_t i = 0; i < N; ++i) {
    const T* x = inp + i * C;
    T* y = out + i * C;
    double sum = 0;
    for (int64_t j = 0; j < C; ++j) sum += double(x[j]);
    const double mu = sum / double(C);
    double var = 0;
    for (int64_t j = 0; j < C; ++j) var += (double(x[j]) - mu) * (double(x[j]) - mu);
    var /= double(C);
    const double r = 1.0 / std::sqrt(var + double(eps));
    for (int64_t j = 0; j < C; ++j) {  // out may alias inp: x[j] is read before y[j] is written
      const double xhat = (double(x[j]) - mu) * r;
      y[j] = T(xhat * (weight ? double(weight[j]) : 1.0) + (bias ? double(bias[j]) : 0.0));
    }
    if (mean) mean[i] = T(mu);
    if (rstd) rstd[i] = T(r);
  }
}

template <typename T>
void layernorm_backward(T* dinp,          // (N, C) or nullptr
                        T* dweight,       // (C) or nullptr
                        T* dbias,         // (C) or nullptr
                        const T* dout,    // (N, C)
                        const T* inp,     // (N, C) the forward input
                        const T* weight,  // (C) or nullptr (1)
                        const T* mean,    // (N) saved by the forward
                        const T* rstd,    // (N) saved by the forward
                        int64_t N, int64_t C) {
  std::vector<double> dw(static_cast<size_t>(C), 0.0), db(static_cast<size_t>(C), 0.0);
  for (int64_t i = 0; i < N; ++i) {
    const T* x = inp + i * C;
    const T* dy = dout + i * C;
    const double mu = double(mean[i]), r = double(rstd[i]);
    double g_mean = 0, gx_mean = 0;  // mean_k g_ik, mean_k g_ik xhat_ik
    for (int64_t j = 0; j < C; ++j) {
      const double g = double(dy[j]) * (weight ? double(weight[j]) : 1.0);
      g_mean += g;
      gx_mean += g * (double(x[j]) - mu) * r;
    }
    g_mean /= double(C);
    gx_mean /= double(C);
    for (int64_t j = 0; j < C; ++j) {
      const double xhat = (double(x[j]) - mu) * r;
      const double g = double(dy[j]) * (weight ? double(weight[j]) : 1.0);
      if (dinp) dinp[i * C + j] = T(double(dinp[i * C + j]) + r * (g - g_mean - xhat * gx_mean));
      dw[size_t(j)] += double(dy[j]) * xhat;
      db[size_t(j)] += double(dy[j]);
    }
  }
  for (int64_t j = 0; j < C; ++j) {
    if (dweight) dweight[j] = T(double(dweight[j]) + dw[size_t(j)]);
    if (dbias) dbias[j] = T(double(dbias[j]) + db[size_t(j)]);
  }
}

}  // namespace simad::ops::reference
