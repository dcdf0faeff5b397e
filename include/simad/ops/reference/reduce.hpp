// simad/ops/reference/reduce.hpp: the readable specification of ops/reduce.hpp (same names, same
// arguments, same semantics), in plain loops with double accumulators, one thread. Used by the tests;
// never by the library itself. Sums and means over all elements and along either axis of (N, C) rows:
//   all:           s = sum_i x_i            (N) -> (1)      mean: s / N
//   over rows:     s_j = sum_i x_ij         (N, C) -> (C)   mean: s_j / N   (reduces N, e.g. a bias grad)
//   over columns:  s_i = sum_j x_ij         (N, C) -> (N)   mean: s_i / C   (reduces C, one per row)
// Forward OVERWRITES out. Backward broadcasts and ACCUMULATES (dinp nullptr: skipped):
//   dx_i += ds (/ N),   dx_ij += ds_j (/ N),   dx_ij += ds_i (/ C)
// The mean of zero elements throws simad::Error, as in ops.
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"

namespace simad::ops::reference {

// ---------------------------------------------------------------------------------------------
// Over all elements.
template <typename T>
void sum_forward(T* out, const T* inp, int64_t N) {
  double s = 0;
  for (int64_t i = 0; i < N; ++i) s += double(inp[i]);
  out[0] = T(s);
}

template <typename T>
void mean_forward(T* out, const T* inp, int64_t N) {
  SIMAD_CHECK(N >= 1, "mean_forward: the mean of ", N, " elements is undefined");
  double s = 0;
  for (int64_t i = 0; i < N; ++i) s += double(inp[i]);
  out[0] = T(s / double(N));
}

template <typename T>
void sum_backward(T* dinp, const T* dout, int64_t N) {
  if (!dinp) return;
  for (int64_t i = 0; i < N; ++i) dinp[i] = T(double(dinp[i]) + double(dout[0]));
}

template <typename T>
void mean_backward(T* dinp, const T* dout, int64_t N) {
  SIMAD_CHECK(N >= 1, "mean_backward: the mean of ", N, " elements is undefined");
  if (!dinp) return;
  for (int64_t i = 0; i < N; ++i) dinp[i] = T(double(dinp[i]) + double(dout[0]) / double(N));
}

// ---------------------------------------------------------------------------------------------
// Over rows (reduces N): out (C).
template <typename T>
void sum_over_rows_forward(T* out, const T* inp, int64_t N, int64_t C) {
  for (int64_t j = 0; j < C; ++j) {
    double s = 0;
    for (int64_t i = 0; i < N; ++i) s += double(inp[i * C + j]);
    out[j] = T(s);
  }
}

template <typename T>
void mean_over_rows_forward(T* out, const T* inp, int64_t N, int64_t C) {
  SIMAD_CHECK(N >= 1, "mean_over_rows_forward: the mean over ", N, " rows is undefined");
  for (int64_t j = 0; j < C; ++j) {
    double s = 0;
    for (int64_t i = 0; i < N; ++i) s += double(inp[i * C + j]);
    out[j] = T(s / double(N));
  }
}

template <typename T>
void sum_over_rows_backward(T* dinp, const T* dout, int64_t N, int64_t C) {
  if (!dinp) return;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < C; ++j) dinp[i * C + j] = T(double(dinp[i * C + j]) + double(dout[j]));
}

template <typename T>
void mean_over_rows_backward(T* dinp, const T* dout, int64_t N, int64_t C) {
  SIMAD_CHECK(N >= 1, "mean_over_rows_backward: the mean over ", N, " rows is undefined");
  if (!dinp) return;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < C; ++j) dinp[i * C + j] = T(double(dinp[i * C + j]) + double(dout[j]) / double(N));
}

// ---------------------------------------------------------------------------------------------
// Over columns (reduces C): out (N).
template <typename T>
void sum_over_cols_forward(T* out, const T* inp, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    double s = 0;
    for (int64_t j = 0; j < C; ++j) s += double(inp[i * C + j]);
    out[i] = T(s);
  }
}

template <typename T>
void mean_over_cols_forward(T* out, const T* inp, int64_t N, int64_t C) {
  SIMAD_CHECK(C >= 1, "mean_over_cols_forward: the mean over ", C, " columns is undefined");
  for (int64_t i = 0; i < N; ++i) {
    double s = 0;
    for (int64_t j = 0; j < C; ++j) s += double(inp[i * C + j]);
    out[i] = T(s / double(C));
  }
}

template <typename T>
void sum_over_cols_backward(T* dinp, const T* dout, int64_t N, int64_t C) {
  if (!dinp) return;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < C; ++j) dinp[i * C + j] = T(double(dinp[i * C + j]) + double(dout[i]));
}

template <typename T>
void mean_over_cols_backward(T* dinp, const T* dout, int64_t N, int64_t C) {
  SIMAD_CHECK(C >= 1, "mean_over_cols_backward: the mean over ", C, " columns is undefined");
  if (!dinp) return;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < C; ++j) dinp[i * C + j] = T(double(dinp[i * C + j]) + double(dout[i]) / double(C));
}

}  // namespace simad::ops::reference
