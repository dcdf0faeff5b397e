// simad/ops/reference/activation.hpp: the readable specification of ops/activation.hpp (same names, same
// arguments, same semantics), one plain loop per function, evaluated in double, one thread. Used by
// the tests; never by the library itself.
//   relu(x)       = max(x, 0)                               relu'(x)    = [x > 0]
//   leaky_relu(x) = x > 0 ? x : slope x  (0.1 as Darknet)     leaky'(x)   = x > 0 ? 1 : slope
//   gelu(x)       = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))  gelu'(x)    = Phi(x) + x phi(x)
//                   (the exact erf form; phi(x) = exp(-x^2 / 2) / sqrt(2 pi))
//   tanh(x)                                                 tanh'       = 1 - y^2     (y the forward output)
//   sigmoid(x)    = 1 / (1 + exp(-x))                       sigmoid'    = y (1 - y)   (y the forward output)
// Forward OVERWRITES out (out == inp is fine). Backward ACCUMULATES: dinp += dout * f'; dinp may be
// nullptr (nothing to do). relu and leaky_relu take the derivative at x == 0 from the left (0, slope);
// NaN inputs give NaN outputs. (ops has no elementwise mul/fill/scale/axpy on the CPU, so neither has this.)
#pragma once

#include <cmath>
#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void relu_forward(T* out, const T* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = inp[i] < T(0) ? T(0) : inp[i];  // NaN stays NaN
}

template <typename T>
void relu_backward(T* dinp, const T* dout, const T* inp, int64_t n) {
  if (!dinp) return;
  for (int64_t i = 0; i < n; ++i)
    if (inp[i] > T(0)) dinp[i] = T(double(dinp[i]) + double(dout[i]));
}

template <typename T>
void leaky_relu_forward(T* out, const T* inp, int64_t n, T slope = T(0.1)) {
  for (int64_t i = 0; i < n; ++i) out[i] = inp[i] > T(0) ? inp[i] : T(double(slope) * double(inp[i]));
}

template <typename T>
void leaky_relu_backward(T* dinp, const T* dout, const T* inp, int64_t n, T slope = T(0.1)) {
  if (!dinp) return;
  for (int64_t i = 0; i < n; ++i)
    dinp[i] = T(double(dinp[i]) + double(dout[i]) * (inp[i] > T(0) ? 1.0 : double(slope)));
}

template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = double(inp[i]);
    out[i] = T(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))));
  }
}

template <typename T>
void gelu_backward(T* dinp, const T* dout, const T* inp, int64_t n) {
  if (!dinp) return;
  const double pi = 3.14159265358979323846;
  for (int64_t i = 0; i < n; ++i) {
    const double x = double(inp[i]);
    const double cdf = 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));  // Phi(x)
    const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * pi);  // phi(x)
    dinp[i] = T(double(dinp[i]) + double(dout[i]) * (cdf + x * pdf));
  }
}

template <typename T>
void tanh_forward(T* out, const T* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = T(std::tanh(double(inp[i])));
}

template <typename T>
void tanh_backward(T* dinp, const T* dout, const T* out, int64_t n) {
  if (!dinp) return;
  for (int64_t i = 0; i < n; ++i) {
    const double y = double(out[i]);
    dinp[i] = T(double(dinp[i]) + double(dout[i]) * (1.0 - y * y));
  }
}

template <typename T>
void sigmoid_forward(T* out, const T* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = double(inp[i]);  // exp of a non-positive number only: no overflow
    out[i] = T(x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)));
  }
}

template <typename T>
void sigmoid_backward(T* dinp, const T* dout, const T* out, int64_t n) {
  if (!dinp) return;
  for (int64_t i = 0; i < n; ++i) {
    const double y = double(out[i]);
    dinp[i] = T(double(dinp[i]) + double(dout[i]) * y * (1.0 - y));
  }
}

}  // namespace simad::ops::reference
