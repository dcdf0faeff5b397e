// simad/ops/dispatch/cross_entropy.hpp: Tensor-level softmax cross-entropy that runs on the tensors'
// device. Tensor overloads of the pointer functions of simad/ops/cross_entropy.hpp:
//   T ops::cross_entropy_forward(probs, logits, targets, ignore_index = -100)   mean loss; probs saved
//   ops::cross_entropy_backward(dlogits, dloss, probs, targets, ignore_index = -100)   ACCUMULATES
// logits, probs, dlogits are rank >= 1 tensors, (N, C) with C = the last dimension (the same shape);
// targets (Tensor<int32_t>) has N elements. probs may be undefined in the forward (no backward follows),
// dlogits in the backward (skipped). The defined tensors all sit on the CPU, or all on Device::cuda
// (float; needs simad::kernels, which defines SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw simad::Error.
// The CUDA launchers synchronise the default stream (the loss and the target check come to the host).
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/cross_entropy.hpp"
#include "simad/ops/dispatch/common.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/cross_entropy.hpp"
#endif

namespace simad::ops {

namespace detail {
// Checks logits (N, C), the optional `other` (same shape) and targets (N elements); returns the device
// of the defined tensors.
template <typename T>
Device cross_entropy_check(const char* op, const Tensor<T>& logits, const Tensor<T>& other, const char* what,
                           const Tensor<int32_t>& targets, int64_t& N, int64_t& C) {
  rows_cols(op, logits, N, C);
  SIMAD_CHECK(targets.defined(), op, ": targets is undefined");
  SIMAD_CHECK(targets.numel() == N, op, ": targets shape ", targets.shape(), " must have ", N,
              " elements (one per row of ", logits.shape(), ")");
  if (other.defined())
    SIMAD_CHECK(other.shape() == logits.shape(), op, ": ", what, " shape ", other.shape(), ", expected ",
                logits.shape());
  return defined_common_device(op, logits, other, targets);
}
}  // namespace detail

// Mean loss over the rows whose target is not ignore_index; probs (if defined) gets softmax(logits).
template <typename T>
T cross_entropy_forward(const Tensor<T>& probs, const Tensor<T>& logits, const Tensor<int32_t>& targets,
                        int32_t ignore_index = -100) {
  constexpr const char* op = "cross_entropy_forward";
  int64_t N = 0, C = 0;
  const Device device = detail::cross_entropy_check(op, logits, probs, "probs", targets, N, C);
  T* p = detail::data_or_null(probs);
  T loss = T(0);
  detail::on_device<T>(
      op, device, [&] { loss = cross_entropy_forward(p, logits.data(), targets.data(), N, C, ignore_index); },
      [&] {
#if defined(SIMAD_HAVE_CUDA_KERNELS)  // the launcher copies the loss to the host
        if constexpr (std::is_same_v<T, float>)
          loss = cuda::kernels::cross_entropy_forward(p, logits.data(), targets.data(), N, C, ignore_index);
#endif
      });
  return loss;
}

// dlogits += (probs - onehot(target)) * dloss / count; an undefined dlogits is skipped.
template <typename T>
void cross_entropy_backward(const Tensor<T>& dlogits, T dloss, const Tensor<T>& probs,
                            const Tensor<int32_t>& targets, int32_t ignore_index = -100) {
  constexpr const char* op = "cross_entropy_backward";
  int64_t N = 0, C = 0;
  const Device device = detail::cross_entropy_check(op, probs, dlogits, "dlogits", targets, N, C);
  if (!dlogits.defined()) return;
  SIMAD_ON_DEVICE_CALL(T, op, device,
                       cross_entropy_backward(dlogits.data(), dloss, probs.data(), targets.data(), N, C, ignore_index));
}

}  // namespace simad::ops
