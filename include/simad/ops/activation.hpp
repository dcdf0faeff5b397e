// simad/ops/activation.hpp: elementwise activations, forward and backward, over n contiguous values.
//   relu(x)       = max(x, 0)                               relu'(x)    = [x > 0]
//   leaky_relu(x) = x > 0 ? x : slope x  (0.1 as Darknet)     leaky'(x)   = x > 0 ? 1 : slope
//   gelu(x)       = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))  gelu'(x)    = Phi(x) + x phi(x)
//                   (the exact erf form, PyTorch nn.GELU's default; phi(x) = exp(-x^2 / 2) / sqrt(2 pi))
//   gelu_tanh(x)  = 0.5 x (1 + t),  t = tanh(u),  u = sqrt(2 / pi) (x + 0.044715 x^3)
//                   (GPT-2's approximation, PyTorch nn.GELU(approximate='tanh'))
//                 gelu_tanh'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2)
//   tanh(x)                                                 tanh'       = 1 - y^2     (y the forward output)
//   sigmoid(x)    = 1 / (1 + exp(-x))                       sigmoid'    = y (1 - y)   (y the forward output)
// Forward OVERWRITES out and may run in place (out == inp). Backward ACCUMULATES: dinp += dout * f'.
// relu and leaky_relu take the derivative at the kink x == 0 from the left (0 and slope), as PyTorch.
// tanh and sigmoid backward take the saved forward output (cheaper than recomputing from the input).
// NaN inputs give NaN outputs (relu too, as PyTorch), so a diverging model shows up.
// sigmoid is evaluated without overflow for any x: exp of a non-positive number only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

namespace detail {
// Elements per parallel chunk: cheap ops (relu) need big chunks to pay for a thread hand-off;
// transcendental ones (erf, exp, tanh) pay sooner.
inline constexpr int64_t kActivationCheapGrain = int64_t(1) << 15;
inline constexpr int64_t kActivationCostlyGrain = int64_t(1) << 12;

// Takes "is non-null" flags, not the pointers: GCC warns when an uninitialised output buffer is passed
// through a const pointer parameter.
inline void check_activation_args(const char* op, int64_t n, bool a_set, bool b_set) {
  SIMAD_CHECK(n >= 0, op, ": negative element count ", n);
  SIMAD_CHECK(n == 0 || (a_set && b_set), op, ": null pointer for ", n, " elements");
}

// fn(i) for every i in [0, n), in parallel chunks of at least `grain` elements.
template <typename F>
void activation_map(int64_t n, int64_t grain, F&& fn) {
  parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(i);
  });
}

template <typename T>
T activation_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------------
// relu
template <typename T>
void relu_forward(T* out,        // (n)
                  const T* inp,  // (n)
                  int64_t n) {
  static_assert(std::is_floating_point_v<T>, "relu: floating-point element type");
  detail::check_activation_args("relu_forward", n, out != nullptr, inp != nullptr);
  detail::activation_map(n, detail::kActivationCheapGrain,
                         [&](int64_t i) { out[i] = inp[i] < T(0) ? T(0) : inp[i]; });  // NaN stays NaN
}

// dinp += dout * [inp > 0]. dinp may be nullptr (nothing to do).
template <typename T>
void relu_backward(T* dinp,        // (n)
                   const T* dout,  // (n)
                   const T* inp,   // (n) the forward input
                   int64_t n) {
  static_assert(std::is_floating_point_v<T>, "relu: floating-point element type");
  detail::check_activation_args("relu_backward", n, dout != nullptr, inp != nullptr);
  if (!dinp) return;
  detail::activation_map(n, detail::kActivationCheapGrain, [&](int64_t i) {
    if (inp[i] > T(0)) dinp[i] += dout[i];
  });
}

// ---------------------------------------------------------------------------------------------------
// leaky_relu: slope for x <= 0 (0.1 by default, as Darknet; PyTorch's default would be 0.01).
template <typename T>
void leaky_relu_forward(T* out,        // (n)
                        const T* inp,  // (n)
                        int64_t n, T slope = T(0.1)) {
  static_assert(std::is_floating_point_v<T>, "leaky_relu: floating-point element type");
  detail::check_activation_args("leaky_relu_forward", n, out != nullptr, inp != nullptr);
  SIMAD_CHECK(std::isfinite(slope), "leaky_relu_forward: slope must be finite, got ", slope);
  detail::activation_map(n, detail::kActivationCheapGrain,
                         [&](int64_t i) { out[i] = inp[i] > T(0) ? inp[i] : slope * inp[i]; });
}

// dinp += dout * (inp > 0 ? 1 : slope).
template <typename T>
void leaky_relu_backward(T* dinp,        // (n)
                         const T* dout,  // (n)
                         const T* inp,   // (n) the forward input
                         int64_t n, T slope = T(0.1)) {
  static_assert(std::is_floating_point_v<T>, "leaky_relu: floating-point element type");
  detail::check_activation_args("leaky_relu_backward", n, dout != nullptr, inp != nullptr);
  SIMAD_CHECK(std::isfinite(slope), "leaky_relu_backward: slope must be finite, got ", slope);
  if (!dinp) return;
  detail::activation_map(n, detail::kActivationCheapGrain,
                         [&](int64_t i) { dinp[i] += inp[i] > T(0) ? dout[i] : slope * dout[i]; });
}

// ---------------------------------------------------------------------------------------------------
// gelu (exact): 0.5 x (1 + erf(x / sqrt 2)).
template <typename T>
void gelu_forward(T* out,        // (n)
                  const T* inp,  // (n)
                  int64_t n) {
  static_assert(std::is_floating_point_v<T>, "gelu: floating-point element type");
  detail::check_activation_args("gelu_forward", n, out != nullptr, inp != nullptr);
  constexpr T inv_sqrt2 = T(1) / std::numbers::sqrt2_v<T>;
  detail::activation_map(n, detail::kActivationCostlyGrain, [&](int64_t i) {
    const T x = inp[i];
    out[i] = T(0.5) * x * (T(1) + std::erf(x * inv_sqrt2));
  });
}

// dinp += dout * (Phi(x) + x phi(x)).
template <typename T>
void gelu_backward(T* dinp,        // (n)
                   const T* dout,  // (n)
                   const T* inp,   // (n) the forward input
                   int64_t n) {
  static_assert(std::is_floating_point_v<T>, "gelu: floating-point element type");
  detail::check_activation_args("gelu_backward", n, dout != nullptr, inp != nullptr);
  if (!dinp) return;
  constexpr T inv_sqrt2 = T(1) / std::numbers::sqrt2_v<T>;
  constexpr T inv_sqrt_2pi = std::numbers::inv_sqrtpi_v<T> * inv_sqrt2;
  detail::activation_map(n, detail::kActivationCostlyGrain, [&](int64_t i) {
    const T x = inp[i];
    const T cdf = T(0.5) * (T(1) + std::erf(x * inv_sqrt2));
    const T pdf = inv_sqrt_2pi * std::exp(T(-0.5) * x * x);
    dinp[i] += dout[i] * (cdf + x * pdf);
  });
}

// ---------------------------------------------------------------------------------------------------
// gelu_tanh: the tanh approximation of gelu.
namespace detail {
template <typename T>
inline constexpr T kGeluTanhCubic = T(0.044715);
template <typename T>
inline constexpr T kSqrt2OverPi = std::numbers::sqrt2_v<T> * std::numbers::inv_sqrtpi_v<T>;
}  // namespace detail

template <typename T>
void gelu_tanh_forward(T* out,        // (n)
                       const T* inp,  // (n)
                       int64_t n) {
  static_assert(std::is_floating_point_v<T>, "gelu_tanh: floating-point element type");
  detail::check_activation_args("gelu_tanh_forward", n, out != nullptr, inp != nullptr);
  detail::activation_map(n, detail::kActivationCostlyGrain, [&](int64_t i) {
    const T x = inp[i];
    const T t = std::tanh(detail::kSqrt2OverPi<T> * (x + detail::kGeluTanhCubic<T> * x * x * x));
    out[i] = T(0.5) * x * (T(1) + t);
  });
}

// dinp += dout * gelu_tanh'(x).
template <typename T>
void gelu_tanh_backward(T* dinp,        // (n)
                        const T* dout,  // (n)
                        const T* inp,   // (n) the forward input
                        int64_t n) {
  static_assert(std::is_floating_point_v<T>, "gelu_tanh: floating-point element type");
  detail::check_activation_args("gelu_tanh_backward", n, dout != nullptr, inp != nullptr);
  if (!dinp) return;
  detail::activation_map(n, detail::kActivationCostlyGrain, [&](int64_t i) {
    const T x = inp[i], x2 = x * x;
    const T t = std::tanh(detail::kSqrt2OverPi<T> * (x + detail::kGeluTanhCubic<T> * x2 * x));
    const T du = detail::kSqrt2OverPi<T> * (T(1) + T(3) * detail::kGeluTanhCubic<T> * x2);
    dinp[i] += dout[i] * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du);
  });
}

// ---------------------------------------------------------------------------------------------------
// tanh
template <typename T>
void tanh_forward(T* out,        // (n)
                  const T* inp,  // (n)
                  int64_t n) {
  static_assert(std::is_floating_point_v<T>, "tanh: floating-point element type");
  detail::check_activation_args("tanh_forward", n, out != nullptr, inp != nullptr);
  detail::activation_map(n, detail::kActivationCostlyGrain, [&](int64_t i) { out[i] = std::tanh(inp[i]); });
}

// dinp += dout * (1 - out^2), from the forward OUTPUT.
template <typename T>
void tanh_backward(T* dinp,        // (n)
                   const T* dout,  // (n)
                   const T* out,   // (n) the forward output tanh(x)
                   int64_t n) {
  static_assert(std::is_floating_point_v<T>, "tanh: floating-point element type");
  detail::check_activation_args("tanh_backward", n, dout != nullptr, out != nullptr);
  if (!dinp) return;
  detail::activation_map(n, detail::kActivationCheapGrain,
                         [&](int64_t i) { dinp[i] += dout[i] * (T(1) - out[i] * out[i]); });
}

// ---------------------------------------------------------------------------------------------------
// sigmoid
template <typename T>
void sigmoid_forward(T* out,        // (n)
                     const T* inp,  // (n)
                     int64_t n) {
  static_assert(std::is_floating_point_v<T>, "sigmoid: floating-point element type");
  detail::check_activation_args("sigmoid_forward", n, out != nullptr, inp != nullptr);
  detail::activation_map(n, detail::kActivationCostlyGrain, [&](int64_t i) { out[i] = detail::activation_sigmoid(inp[i]); });
}

// dinp += dout * out (1 - out), from the forward OUTPUT.
template <typename T>
void sigmoid_backward(T* dinp,        // (n)
                      const T* dout,  // (n)
                      const T* out,   // (n) the forward output sigmoid(x)
                      int64_t n) {
  static_assert(std::is_floating_point_v<T>, "sigmoid: floating-point element type");
  detail::check_activation_args("sigmoid_backward", n, dout != nullptr, out != nullptr);
  if (!dinp) return;
  detail::activation_map(n, detail::kActivationCheapGrain,
                         [&](int64_t i) { dinp[i] += dout[i] * out[i] * (T(1) - out[i]); });
}

}  // namespace simad::ops
