// benchmarks/naive_ops.hpp: the "naive" peer of ops that have no external CPU library to compare
// with yet (softmax, layernorm): the plain single-threaded loops anyone would write first (the
// llm.c reference style). Both benchmark programs (simad_bench_ops and `simad bench`) time simad's
// op against these, so a ratio above 1 says how much simad's kernel buys over the obvious code.
// The same functions serve as a sanity check of simad's results before a row is timed.
// Semantics match simad::ops (backward ACCUMULATES into its gradient outputs). No mask support:
// the benchmarks time the unmasked softmax.
#pragma once

#include <cmath>
#include <cstdint>

namespace simad::bench::naive {

// out[i, :] = softmax(inp[i, :]) for N rows of C elements.
template <typename T>
void softmax_forward(T* out, const T* inp, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    const T* x = inp + i * C;
    T* y = out + i * C;
    T maxval = x[0];
    for (int64_t j = 1; j < C; ++j) maxval = x[j] > maxval ? x[j] : maxval;
    T sum = T(0);
    for (int64_t j = 0; j < C; ++j) {
      y[j] = std::exp(x[j] - maxval);
      sum += y[j];
    }
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < C; ++j) y[j] *= inv;
  }
}

// dinp[i, j] += out[i, j] * (dout[i, j] - sum_k dout[i, k] out[i, k]).
template <typename T>
void softmax_backward(T* dinp, const T* dout, const T* out, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    const T* dy = dout + i * C;
    const T* y = out + i * C;
    T* dx = dinp + i * C;
    T dot = T(0);
    for (int64_t j = 0; j < C; ++j) dot += dy[j] * y[j];
    for (int64_t j = 0; j < C; ++j) dx[j] += y[j] * (dy[j] - dot);
  }
}

// out = (inp - mean) * rstd * weight + bias per row; mean and rstd (N) are saved for backward.
template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias, int64_t N,
                       int64_t C, T eps = T(1e-5)) {
  for (int64_t i = 0; i < N; ++i) {
    const T* x = inp + i * C;
    T m = T(0);
    for (int64_t j = 0; j < C; ++j) m += x[j];
    m /= T(C);
    T v = T(0);
    for (int64_t j = 0; j < C; ++j) v += (x[j] - m) * (x[j] - m);
    v /= T(C);
    const T s = T(1) / std::sqrt(v + eps);
    T* y = out + i * C;
    for (int64_t j = 0; j < C; ++j) y[j] = (x[j] - m) * s * weight[j] + bias[j];
    mean[i] = m;
    rstd[i] = s;
  }
}

// Accumulates dinp, dweight, dbias.
template <typename T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, const T* mean,
                        const T* rstd, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    const T* dy = dout + i * C;
    const T* x = inp + i * C;
    T* dx = dinp + i * C;
    const T m = mean[i], s = rstd[i];
    T dnorm_mean = T(0), dnorm_norm_mean = T(0);
    for (int64_t j = 0; j < C; ++j) {
      const T norm = (x[j] - m) * s;
      const T dnorm = weight[j] * dy[j];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean /= T(C);
    dnorm_norm_mean /= T(C);
    for (int64_t j = 0; j < C; ++j) {
      const T norm = (x[j] - m) * s;
      const T dnorm = weight[j] * dy[j];
      dbias[j] += dy[j];
      dweight[j] += norm * dy[j];
      dx[j] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
  }
}

// Bytes each op must move at least once (elements of size `bytes_per_element`): the GB/s both
// benchmark programs report is this over the time of one call.
inline double softmax_forward_bytes(int64_t N, int64_t C, double e) { return e * 2.0 * double(N * C); }
inline double softmax_backward_bytes(int64_t N, int64_t C, double e) { return e * 4.0 * double(N * C); }
inline double layernorm_forward_bytes(int64_t N, int64_t C, double e) {
  return e * (2.0 * double(N * C) + 2.0 * double(C) + 2.0 * double(N));  // inp, out; weight, bias; mean, rstd
}
inline double layernorm_backward_bytes(int64_t N, int64_t C, double e) {
  // dout, inp, dinp (read + write); weight, dweight and dbias (read + write); mean, rstd
  return e * (4.0 * double(N * C) + 5.0 * double(C) + 2.0 * double(N));
}

}  // namespace simad::bench::naive
