// simad/ops/dispatch/keyword_gate.hpp: ION's keyword weights on Tensors (simad/ops/keyword_gate.hpp),
// run on the tensors' device (CPU op or kernels/keyword_gate.cu).
//   ops::keyword_gate_forward(lambda, probs, mask, hard)        lambda (N) OVERWRITTEN
//   ops::keyword_gate_backward(dlogits, dlambda, probs, mask)   dlogits (N, 2) ACCUMULATES (soft gate)
// probs (N, 2) (any shape with 2 N elements), mask (N) uint8. All on the CPU or all on Device::cuda.
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/keyword_gate.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/keyword_gate.hpp"
#endif

namespace simad::ops {

template <typename T>
void keyword_gate_forward(const Tensor<T>& lambda, const Tensor<T>& probs, const Tensor<uint8_t>& mask, bool hard) {
  constexpr const char* op = "keyword_gate_forward";
  SIMAD_CHECK(lambda.defined() && probs.defined() && mask.defined(), op, ": undefined tensor");
  const int64_t N = lambda.numel();
  SIMAD_CHECK(probs.numel() == 2 * N && mask.numel() == N, op, ": probs must have 2 N and mask N elements, N=", N);
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, lambda, probs, mask),
                       keyword_gate_forward(lambda.data(), probs.data(), mask.data(), N, hard));
}

template <typename T>
void keyword_gate_backward(const Tensor<T>& dlogits, const Tensor<T>& dlambda, const Tensor<T>& probs,
                           const Tensor<uint8_t>& mask) {
  constexpr const char* op = "keyword_gate_backward";
  if (!dlogits.defined()) return;
  SIMAD_CHECK(dlambda.defined() && probs.defined() && mask.defined(), op, ": undefined tensor");
  const int64_t N = dlambda.numel();
  SIMAD_CHECK(dlogits.numel() == 2 * N && probs.numel() == 2 * N && mask.numel() == N, op,
              ": dlogits and probs must have 2 N and mask N elements, N=", N);
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, dlogits, dlambda, probs, mask),
                       keyword_gate_backward(dlogits.data(), dlambda.data(), probs.data(), mask.data(), N));
}

}  // namespace simad::ops
