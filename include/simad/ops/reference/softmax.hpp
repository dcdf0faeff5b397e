// simad/ops/reference/softmax.hpp: the readable specification of ops/softmax.hpp (same names, same
// arguments, same semantics), in plain loops with double accumulators, one thread. Used by the op
// harness (tests/op_cases), the tests and the benchmarks' naive peers; never by the library itself.
//   y_ij = m_ij exp(x_ij - M_i) / sum_k m_ik exp(x_ik - M_i),   M_i = max over kept k of x_ik
// (m = mask, 1 = keep; nullptr = keep all; a fully padded row is all zeros). Backward ACCUMULATES:
//   dx_ij += y_ij (dy_ij - sum_k y_ik dy_ik)
#pragma once

#include <cmath>
#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void softmax_forward(T* out, const T* inp, const uint8_t* mask, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    const T* x = inp + i * C;
    const uint8_t* m = mask ? mask + i * C : nullptr;
    T* y = out + i * C;
    bool any = false;
    double row_max = 0;
    for (int64_t j = 0; j < C; ++j) {
      if (m && !m[j]) continue;
      row_max = any ? std::fmax(row_max, double(x[j])) : double(x[j]);
      any = true;
    }
    double sum = 0;
    for (int64_t j = 0; j < C; ++j)
      if (!m || m[j]) sum += std::exp(double(x[j]) - row_max);
    for (int64_t j = 0; j < C; ++j) y[j] = T((!m || m[j]) ? std::exp(double(x[j]) - row_max) / sum : 0.0);
  }
}

template <typename T>
void softmax_backward(T* dinp, const T* dout, const T* out, int64_t N, int64_t C) {
  if (!dinp) return;
  for (int64_t i = 0; i < N; ++i) {
    const T* y = out + i * C;
    const T* dy = dout + i * C;
    double dot = 0;
    for (int64_t j = 0; j < C; ++j) dot += double(y[j]) * double(dy[j]);
    for (int64_t j = 0; j < C; ++j) dinp[i * C + j] = T(double(dinp[i * C + j]) + double(y[j]) * (double(dy[j]) - dot));
  }
}

}  // namespace simad::ops::reference
