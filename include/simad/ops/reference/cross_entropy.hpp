// simad/ops/reference/cross_entropy.hpp: the readable specification of ops/cross_entropy.hpp (same names,
// same arguments, same semantics), in plain loops with double accumulators, one thread. Used by the
// tests; never by the library itself. Softmax cross-entropy from logits, mean over the rows that count
// (PyTorch F.cross_entropy(logits, target, ignore_index=-100, reduction='mean')):
//   loss_i = logsumexp_j(x_ij) - x_i,t_i = (M_i - x_i,t_i) + log sum_j exp(x_ij - M_i),  M_i = max_j x_ij
//   loss   = sum_{i : t_i != ignore} loss_i / count,    count = #{i : t_i != ignore}
// The forward returns the loss and OVERWRITES probs (may be nullptr) with p_ij = softmax(x_i)_j for
// EVERY row, ignored ones too. The backward ACCUMULATES (dlogits may be nullptr):
//   dx_ij += (p_ij - [j == t_i]) * dloss / count   for rows that count; ignored rows get nothing.
// Every row ignored: the loss is 0 and the gradient zero. A target outside [0, C) that is not the
// ignore index throws simad::Error.
#pragma once

#include <cmath>
#include <cstdint>

#include "simad/core/error.hpp"

namespace simad::ops::reference {

template <typename T>
T cross_entropy_forward(T* probs,                // (N, C) or nullptr
                        const T* logits,         // (N, C)
                        const int32_t* targets,  // (N) class index in [0, C), or ignore_index
                        int64_t N, int64_t C, int32_t ignore_index = -100) {
  double total = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    const T* x = logits + i * C;
    const int32_t t = targets[i];
    SIMAD_CHECK(t == ignore_index || (t >= 0 && int64_t(t) < C), "cross_entropy_forward: row ", i,
                " has target ", t, ", outside [0, ", C, ") and not the ignore index ", ignore_index);
    if (C == 0) continue;
    double row_max = double(x[0]);
    for (int64_t j = 1; j < C; ++j) row_max = std::fmax(row_max, double(x[j]));
    double sum = 0;
    for (int64_t j = 0; j < C; ++j) sum += std::exp(double(x[j]) - row_max);
    if (probs)
      for (int64_t j = 0; j < C; ++j) probs[i * C + j] = T(std::exp(double(x[j]) - row_max) / sum);
    if (t == ignore_index) continue;
    total += (row_max - double(x[t])) + std::log(sum);
    ++count;
  }
  return count == 0 ? T(0) : T(total / double(count));
}

template <typename T>
void cross_entropy_backward(T* dlogits,              // (N, C) or nullptr
                            T dloss,                 // scalar: d(objective) / d(loss)
                            const T* probs,          // (N, C) saved by the forward
                            const int32_t* targets,  // (N)
                            int64_t N, int64_t C, int32_t ignore_index = -100) {
  if (!dlogits) return;
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    SIMAD_CHECK(targets[i] == ignore_index || (targets[i] >= 0 && int64_t(targets[i]) < C),
                "cross_entropy_backward: row ", i, " has target ", targets[i], ", outside [0, ", C,
                ") and not the ignore index ", ignore_index);
    if (targets[i] != ignore_index) ++count;
  }
  if (count == 0) return;
  const double scale = double(dloss) / double(count);
  for (int64_t i = 0; i < N; ++i) {
    const int32_t t = targets[i];
    if (t == ignore_index) continue;
    for (int64_t j = 0; j < C; ++j) {
      const double g = double(probs[i * C + j]) - (j == t ? 1.0 : 0.0);
      dlogits[i * C + j] = T(double(dlogits[i * C + j]) + g * scale);
    }
  }
}

}  // namespace simad::ops::reference
