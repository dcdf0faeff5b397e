// simad/ops/cross_entropy.hpp: softmax cross-entropy from logits, mean over the rows that count
// (PyTorch F.cross_entropy(logits, target, ignore_index=-100, reduction='mean')).
//   loss_i = logsumexp_j(x_ij) - x_i,t_i = (M_i - x_i,t_i) + log sum_j exp(x_ij - M_i),  M_i = max_j x_ij
//   loss   = sum_{i : t_i != ignore} loss_i / count,    count = #{i : t_i != ignore}
// Subtracting the row max keeps every exponent <= 0; the log-sum-exp never overflows. The forward
// returns the loss and saves the row probabilities p_ij = softmax(x_i)_j (for EVERY row, ignored ones
// too) for the backward, which ACCUMULATES:
//   dx_ij += (p_ij - [j == t_i]) * dloss / count   for rows that count; ignored rows get nothing.
// Every row ignored (count == 0): the loss is 0 and the gradient is zero (PyTorch would give NaN).
// Targets are int32 class indices in [0, C) or the ignore index; anything else throws simad::Error
// naming the first offending row. The per-row losses are summed in double over fixed row chunks,
// combined in order: the loss has the same bits whatever the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

namespace detail {
// Rows per parallel chunk (and per reduction chunk, which must depend on the sizes only).
inline int64_t cross_entropy_row_grain(int64_t C) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(C, 1));
}

// Checks the targets; returns how many rows count (are not the ignore index).
inline int64_t cross_entropy_count(const char* op, const int32_t* targets, int64_t N, int64_t C,
                                   int32_t ignore_index) {
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int32_t t = targets[i];
    if (t == ignore_index) continue;
    SIMAD_CHECK(t >= 0 && int64_t(t) < C, op, ": row ", i, " has target ", t, ", outside [0, ", C,
                ") and not the ignore index ", ignore_index);
    ++count;
  }
  return count;
}
}  // namespace detail

// Returns the mean loss over the rows whose target is not ignore_index. probs may be nullptr when no
// backward follows.
template <typename T>
T cross_entropy_forward(T* probs,                 // (N, C) saved for backward: softmax of each row
                        const T* logits,          // (N, C)
                        const int32_t* targets,   // (N) class index in [0, C), or ignore_index
                        int64_t N, int64_t C, int32_t ignore_index = -100) {
  static_assert(std::is_floating_point_v<T>, "cross_entropy: floating-point element type");
  SIMAD_CHECK(N >= 0 && C >= 0, "cross_entropy_forward: negative size N=", N, " C=", C);
  if (N == 0) return T(0);
  SIMAD_CHECK(logits != nullptr && targets != nullptr, "cross_entropy_forward: null logits or targets for N=", N);
  const int64_t count = detail::cross_entropy_count("cross_entropy_forward", targets, N, C, ignore_index);
  if (C == 0) return T(0);  // every row ignored (any other target was out of range)
  const int64_t chunk = detail::cross_entropy_row_grain(C);
  const double total = parallel_sum<double>(N, chunk, [&](int64_t begin, int64_t end) {
    double partial = 0;
    for (int64_t i = begin; i < end; ++i) {
      const T* x = logits + i * C;
      T* p = probs ? probs + i * C : nullptr;
      const T row_max = *std::max_element(x, x + C);
      T sum = 0;
      if (p) {
        for (int64_t j = 0; j < C; ++j) sum += (p[j] = std::exp(x[j] - row_max));
        const T inv_sum = T(1) / sum;
        for (int64_t j = 0; j < C; ++j) p[j] *= inv_sum;
      } else {
        for (int64_t j = 0; j < C; ++j) sum += std::exp(x[j] - row_max);
      }
      const int32_t t = targets[i];
      if (t != ignore_index) partial += double(row_max - x[t]) + double(std::log(sum));
    }
    return partial;
  });
  return count == 0 ? T(0) : T(total / double(count));
}

// dlogits += (probs - onehot(target)) * dloss / count over the rows that count. dloss is the gradient
// of the final objective with respect to the returned loss (1 for the loss itself). dlogits may be
// nullptr (skipped).
template <typename T>
void cross_entropy_backward(T* dlogits,               // (N, C)
                            T dloss,                  // scalar: d(objective) / d(loss)
                            const T* probs,           // (N, C) saved by the forward
                            const int32_t* targets,   // (N)
                            int64_t N, int64_t C, int32_t ignore_index = -100) {
  static_assert(std::is_floating_point_v<T>, "cross_entropy: floating-point element type");
  SIMAD_CHECK(N >= 0 && C >= 0, "cross_entropy_backward: negative size N=", N, " C=", C);
  if (N == 0 || !dlogits) return;
  SIMAD_CHECK(targets != nullptr, "cross_entropy_backward: null targets for N=", N);
  const int64_t count = detail::cross_entropy_count("cross_entropy_backward", targets, N, C, ignore_index);
  if (count == 0) return;  // every row ignored: zero gradient
  SIMAD_CHECK(probs != nullptr, "cross_entropy_backward: null probs for N=", N, " C=", C);
  const T scale = dloss / T(count);
  parallel_for(N, detail::cross_entropy_row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int32_t t = targets[i];
      if (t == ignore_index) continue;
      const T* p = probs + i * C;
      T* dx = dlogits + i * C;
      for (int64_t j = 0; j < C; ++j) dx[j] += (j == t ? p[j] - T(1) : p[j]) * scale;
    }
  });
}

}  // namespace simad::ops
