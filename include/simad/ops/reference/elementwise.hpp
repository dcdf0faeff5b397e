// simad/ops/reference/elementwise.hpp: the readable specification of ops/elementwise.hpp (same names, same
// arguments, same semantics), each element computed in double. Used by the tests; never by the library.
//   fill: x = value    scale: x *= alpha (alpha == 0: x = 0, even where x was NaN)    axpy: y += alpha x
//   add: out = a + b    mul_forward: out = a * b    mul_backward: da += dout * b, db += dout * a (nullptr: skipped)
// out may be a or b (each element reads its inputs before writing).
#pragma once

#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void fill(T* x, T value, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

template <typename T>
void scale(T* x, T alpha, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = alpha == T(0) ? T(0) : T(double(x[i]) * double(alpha));
}

template <typename T>
void axpy(T* y, T alpha, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = T(double(y[i]) + double(alpha) * double(x[i]));
}

template <typename T>
void add(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = T(double(a[i]) + double(b[i]));
}

template <typename T>
void mul_forward(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = T(double(a[i]) * double(b[i]));
}

template <typename T>
void mul_backward(T* da, T* db, const T* dout, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (da) da[i] = T(double(da[i]) + double(dout[i]) * double(b[i]));
    if (db) db[i] = T(double(db[i]) + double(dout[i]) * double(a[i]));
  }
}

}  // namespace simad::ops::reference
