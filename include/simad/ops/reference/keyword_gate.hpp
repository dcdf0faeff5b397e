// simad/ops/reference/keyword_gate.hpp: the readable specification of ops/keyword_gate.hpp (same names,
// same arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
// ION's keyword weights (eq. 2-3) from the keyword head's softmax probabilities p (N, 2) (column 1 =
// "keyword") and the padding mask (N):
//   hard (the paper):  lambda_i = mask_i [p_i1 > 0.5]          soft (MODELS.md [choice]):  lambda_i = mask_i p_i1
// The forward OVERWRITES lambda. Backward (soft only) ACCUMULATES into dlogits (nullptr: skipped), at
// real positions only: with g = dlambda_i p_i1 (1 - p_i1),  dlogits_i1 += g,  dlogits_i0 -= g.
#pragma once

#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void keyword_gate_forward(T* lambda,            // (N)
                          const T* probs,       // (N, 2)
                          const uint8_t* mask,  // (N) 1 = real word
                          int64_t N, bool hard) {
  for (int64_t i = 0; i < N; ++i) {
    const T p = probs[i * 2 + 1];
    if (!mask[i]) lambda[i] = T(0);
    else if (hard) lambda[i] = p > T(0.5) ? T(1) : T(0);
    else lambda[i] = p;
  }
}

template <typename T>
void keyword_gate_backward(T* dlogits,           // (N, 2) or nullptr
                           const T* dlambda,     // (N)
                           const T* probs,       // (N, 2) the forward's
                           const uint8_t* mask,  // (N)
                           int64_t N) {
  if (!dlogits) return;
  for (int64_t i = 0; i < N; ++i) {
    if (!mask[i]) continue;
    const double p = double(probs[i * 2 + 1]);
    const double g = double(dlambda[i]) * p * (1.0 - p);
    dlogits[i * 2 + 1] = T(double(dlogits[i * 2 + 1]) + g);
    dlogits[i * 2] = T(double(dlogits[i * 2]) - g);
  }
}

}  // namespace simad::ops::reference
