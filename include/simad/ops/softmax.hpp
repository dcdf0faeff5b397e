// simad/ops/softmax.hpp: softmax over the last dimension of (N, C) rows, with an optional padding mask.
//   y_ij = m_ij exp(x_ij - M_i) / sum_k m_ik exp(x_ik - M_i),   M_i = max over kept k of x_ik
// m is the mask (1 = keep, 0 = padding; nullptr = keep all). Subtracting the row max M_i keeps every
// exponent <= 0 (no overflow) and leaves the result unchanged. Padded positions get exactly 0, and a
// row whose positions are ALL padded gets all zeros (not NaN): it contributes nothing downstream and
// receives zero gradient. Inputs at kept positions must be finite (mask instead of using -inf).
// Backward ACCUMULATES, from the saved output y:
//   dx_ij += y_ij (dy_ij - sum_k y_ik dy_ik)
// Padded positions have y = 0 and so get zero gradient without looking at the mask.
// Rows are independent and run in parallel; each row's result does not depend on the thread count.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

namespace detail {
// Rows per parallel chunk: about 16K elements, so small inputs run inline on the caller.
inline int64_t softmax_row_grain(int64_t C) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(C, 1));
}

// Lanes for the row reductions below: one 64-byte vector of T. Reductions keep kLanes partial
// results (lane k sums elements j = k mod kLanes) and combine them in a fixed order, so the compiler
// can vectorise them without -ffast-math and every row's result is independent of the thread count.
template <typename T>
inline constexpr int64_t kLanes = int64_t(64 / sizeof(T));

// exp(x) for float, vectorisable (no libm call): Cephes expf. x = n ln2 + r with |r| <= ln2/2
// (ln2 split in a 9-bit high part, so n * hi is exact), a degree-7 polynomial for exp(r), then
// 2^n applied as two normal powers of two so results down to the subnormal range stay right. Max
// error about 1 ulp against a correctly rounded exp for x in [-103, 0]. The caller must clamp x to
// [kExpFloatMin, 88.72] first (softmax_exp_arg): exp(-103.9) is below half the smallest subnormal,
// so 0 or the smallest subnormal comes out there, as std::exp gives. The clamp is kept in a separate
// loop: inside this function GCC would split the clamped path off as a constant and not vectorise.
inline constexpr float kExpFloatMin = -103.9f;
inline float exp_float_clamped(float x) {
  const float t = x * 1.44269504088896341f + 12582912.0f;  // round(x log2 e) via 1.5 * 2^23
  const float n = t - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  const float e = p * (r * r) + r + 1.0f;
  const int32_t ni = int32_t(n);
  const int32_t n1 = ni >> 1, n2 = ni - n1;  // both in [-75, 64]: normal powers of two
  return e * std::bit_cast<float>((n1 + 127) << 23) * std::bit_cast<float>((n2 + 127) << 23);
}

// The argument x - max (<= 0), clamped for exp_float_clamped where T is float.
template <typename T>
inline T softmax_exp_arg(T d) {
  if constexpr (std::is_same_v<T, float>)
    return d < kExpFloatMin ? kExpFloatMin : d;
  else
    return d;
}
template <typename T>
inline T softmax_exp(T x) {
  if constexpr (std::is_same_v<T, float>)
    return exp_float_clamped(x);
  else
    return std::exp(x);
}

// sum_j a_j b_j in kLanes partial sums (fixed combine order).
template <typename T>
inline T dot_lanes(const T* a, const T* b, int64_t C) {
  constexpr int64_t L = kLanes<T>;
  T acc[L] = {};
  int64_t j = 0;
  for (; j + L <= C; j += L)
    for (int64_t k = 0; k < L; ++k) acc[k] += a[j + k] * b[j + k];
  for (int64_t k = 0; j < C; ++j, ++k) acc[k] += a[j] * b[j];
  for (int64_t w = L / 2; w >= 1; w /= 2)
    for (int64_t k = 0; k < w; ++k) acc[k] += acc[k + w];
  return acc[0];
}
}  // namespace detail

// out = softmax(inp) per row, masked. out == inp (in place) is allowed.
template <typename T>
void softmax_forward(T* out,               // (N, C)
                     const T* inp,         // (N, C)
                     const uint8_t* mask,  // (N, C) 1 = keep, 0 = padding; or nullptr (keep all)
                     int64_t N, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "softmax: floating-point element type");
  SIMAD_CHECK(N >= 0 && C >= 0, "softmax_forward: negative size N=", N, " C=", C);
  if (N == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "softmax_forward: null out or inp for N=", N, " C=", C);
  parallel_for(N, detail::softmax_row_grain(C), [&](int64_t begin, int64_t end) {
    constexpr int64_t L = detail::kLanes<T>;
    constexpr T neg_inf = -std::numeric_limits<T>::infinity();
    for (int64_t i = begin; i < end; ++i) {
      const T* x = inp + i * C;
      T* y = out + i * C;
      const uint8_t* m = mask ? mask + i * C : nullptr;
      // Row max over kept positions (padded ones count as -inf), in kLanes lanes.
      T mx[L];
      std::fill(mx, mx + L, neg_inf);
      int64_t kept = C;
      if (m) {
        kept = 0;
        int64_t j = 0;
        for (; j + L <= C; j += L)
          for (int64_t k = 0; k < L; ++k) {
            const T v = m[j + k] ? x[j + k] : neg_inf;
            mx[k] = mx[k] < v ? v : mx[k];
            kept += m[j + k] != 0;
          }
        for (int64_t k = 0; j < C; ++j, ++k) {
          const T v = m[j] ? x[j] : neg_inf;
          mx[k] = mx[k] < v ? v : mx[k];
          kept += m[j] != 0;
        }
      } else {
        int64_t j = 0;
        for (; j + L <= C; j += L)
          for (int64_t k = 0; k < L; ++k) mx[k] = mx[k] < x[j + k] ? x[j + k] : mx[k];
        for (int64_t k = 0; j < C; ++j, ++k) mx[k] = mx[k] < x[j] ? x[j] : mx[k];
      }
      if (kept == 0) {  // every position padded: all zeros
        std::fill(y, y + C, T(0));
        continue;
      }
      T row_max = mx[0];
      for (int64_t k = 1; k < L; ++k) row_max = row_max < mx[k] ? mx[k] : row_max;
      // y = x - max (clamped for exp; 0 where padded), then y = exp(y) (0 where padded), summed in lanes.
      if (m) {
        for (int64_t j = 0; j < C; ++j) y[j] = detail::softmax_exp_arg(m[j] ? x[j] - row_max : T(0));
      } else {
        for (int64_t j = 0; j < C; ++j) y[j] = detail::softmax_exp_arg(x[j] - row_max);
      }
      T acc[L] = {};
      int64_t j = 0;
      if (m) {
        for (; j + L <= C; j += L)
          for (int64_t k = 0; k < L; ++k) {
            const T e = detail::softmax_exp(y[j + k]);
            const T v = m[j + k] ? e : T(0);
            y[j + k] = v;
            acc[k] += v;
          }
        for (int64_t k = 0; j < C; ++j, ++k) {
          const T e = detail::softmax_exp(y[j]);
          const T v = m[j] ? e : T(0);
          y[j] = v;
          acc[k] += v;
        }
      } else {
        for (; j + L <= C; j += L)
          for (int64_t k = 0; k < L; ++k) {
            const T e = detail::softmax_exp(y[j + k]);
            y[j + k] = e;
            acc[k] += e;
          }
        for (int64_t k = 0; j < C; ++j, ++k) {
          const T e = detail::softmax_exp(y[j]);
          y[j] = e;
          acc[k] += e;
        }
      }
      for (int64_t w = L / 2; w >= 1; w /= 2)
        for (int64_t k = 0; k < w; ++k) acc[k] += acc[k + w];
      const T inv_sum = T(1) / acc[0];  // sum >= 1: the max element contributes exp(0)
      for (int64_t jj = 0; jj < C; ++jj) y[jj] *= inv_sum;
    }
  });
}

// dinp += out * (dout - rowsum(out * dout)). dinp may be nullptr (nothing to do).
template <typename T>
void softmax_backward(T* dinp,        // (N, C)
                      const T* dout,  // (N, C)
                      const T* out,   // (N, C) the forward output
                      int64_t N, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "softmax: floating-point element type");
  SIMAD_CHECK(N >= 0 && C >= 0, "softmax_backward: negative size N=", N, " C=", C);
  if (N == 0 || C == 0 || !dinp) return;
  SIMAD_CHECK(dout != nullptr && out != nullptr, "softmax_backward: null dout or out for N=", N, " C=", C);
  parallel_for(N, detail::softmax_row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* y = out + i * C;
      const T* dy = dout + i * C;
      T* dx = dinp + i * C;
      const T dot = detail::dot_lanes(y, dy, C);
      for (int64_t j = 0; j < C; ++j) dx[j] += y[j] * (dy[j] - dot);
    }
  });
}

}  // namespace simad::ops
