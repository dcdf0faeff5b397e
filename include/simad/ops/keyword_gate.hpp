// simad/ops/keyword_gate.hpp: ION's keyword weights (eq. 2-3) from the keyword head's softmax
// probabilities p (N, 2) (column 1 = "keyword") and the padding mask (N):
//   hard (the paper):  lambda_i = mask_i [p_i1 > 0.5]          soft (MODELS.md [choice]):  lambda_i = mask_i p_i1
// Backward (soft only; the hard gate is piecewise constant): dlogits ACCUMULATES the gradient of the
// keyword logits given dlambda: with g = dlambda_i p_i1 (1 - p_i1),  dlogits_i1 += g,  dlogits_i0 -= g
// (the derivative of a 2-way softmax), at real positions only.
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"

namespace simad::ops {

template <typename T>
void keyword_gate_forward(T* lambda, const T* probs, const uint8_t* mask, int64_t N, bool hard) {
  static_assert(std::is_floating_point_v<T>, "keyword_gate: floating-point element type");
  SIMAD_CHECK(N >= 0, "keyword_gate_forward: negative size ", N);
  if (N == 0) return;
  SIMAD_CHECK(lambda && probs && mask, "keyword_gate_forward: null pointer");
  for (int64_t i = 0; i < N; ++i) {
    const T p = probs[i * 2 + 1];
    lambda[i] = !mask[i] ? T(0) : hard ? (p > T(0.5) ? T(1) : T(0)) : p;
  }
}

template <typename T>
void keyword_gate_backward(T* dlogits, const T* dlambda, const T* probs, const uint8_t* mask, int64_t N) {
  static_assert(std::is_floating_point_v<T>, "keyword_gate: floating-point element type");
  SIMAD_CHECK(N >= 0, "keyword_gate_backward: negative size ", N);
  if (N == 0 || !dlogits) return;
  SIMAD_CHECK(dlambda && probs && mask, "keyword_gate_backward: null pointer");
  for (int64_t i = 0; i < N; ++i) {
    if (!mask[i]) continue;
    const T p = probs[i * 2 + 1];
    const T g = dlambda[i] * p * (T(1) - p);
    dlogits[i * 2 + 1] += g;
    dlogits[i * 2] -= g;
  }
}

}  // namespace simad::ops
