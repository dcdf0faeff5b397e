// simad/ops/elementwise.hpp: the small vector operations a layer needs between its ops, on the CPU (the
// Tensor forms, which also run on CUDA: ops/dispatch/elementwise.hpp; the kernels: kernels/elementwise.cu):
//   fill(x, value, n)                     x = value
//   scale(x, alpha, n)                    x *= alpha (alpha == 0 writes 0 without reading x: NaN becomes 0)
//   axpy(y, alpha, x, n)                  y += alpha x
//   add(out, a, b, n)                     out = a + b (out may be a or b)
//   mul_forward(out, a, b, n)             out = a * b (out may be a or b)
//   mul_backward(da, db, dout, a, b, n)   da += dout * b, db += dout * a (ACCUMULATE; nullptr: skipped)
// One multiply and one add per element, no FMA (the tree builds with -ffp-contract=off), as the
// kernels compute: CPU and CUDA results are equal.
#pragma once

#include <algorithm>
#include <cstdint>

namespace simad::ops {

template <typename T>
void fill(T* x, T value, int64_t n) {
  std::fill_n(x, n, value);
}

template <typename T>
void scale(T* x, T alpha, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = alpha == T(0) ? T(0) : x[i] * alpha;
}

template <typename T>
void axpy(T* y, T alpha, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

template <typename T>
void add(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <typename T>
void mul_forward(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

template <typename T>
void mul_backward(T* da, T* db, const T* dout, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (da) da[i] += dout[i] * b[i];
    if (db) db[i] += dout[i] * a[i];
  }
}

}  // namespace simad::ops
