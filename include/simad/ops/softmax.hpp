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
    for (int64_t i = begin; i < end; ++i) {
      const T* x = inp + i * C;
      T* y = out + i * C;
      const uint8_t* m = mask ? mask + i * C : nullptr;
      T row_max = -std::numeric_limits<T>::infinity();
      bool any_kept = false;
      for (int64_t j = 0; j < C; ++j) {
        if (m && !m[j]) continue;
        any_kept = true;
        row_max = std::max(row_max, x[j]);
      }
      if (!any_kept) {  // every position padded: all zeros
        std::fill(y, y + C, T(0));
        continue;
      }
      T sum = 0;
      for (int64_t j = 0; j < C; ++j) {
        const T e = (m && !m[j]) ? T(0) : std::exp(x[j] - row_max);
        y[j] = e;
        sum += e;
      }
      const T inv_sum = T(1) / sum;  // sum >= 1: the max element contributes exp(0)
      for (int64_t j = 0; j < C; ++j) y[j] *= inv_sum;
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
      T dot = 0;
      for (int64_t j = 0; j < C; ++j) dot += y[j] * dy[j];
      for (int64_t j = 0; j < C; ++j) dx[j] += y[j] * (dy[j] - dot);
    }
  });
}

}  // namespace simad::ops
