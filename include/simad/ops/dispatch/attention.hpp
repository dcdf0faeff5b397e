// simad/ops/dispatch/attention.hpp: Tensor-level multi-head self-attention that runs on the tensors'
// device. Tensor overloads of the pointer functions of simad/ops/attention.hpp (semantics there):
//   ops::attention_forward(out, lse, qkv, mask, NH)                  out, lse OVERWRITTEN
//   ops::attention_backward(dqkv, dout, qkv, out, lse, mask, NH)     dqkv ACCUMULATES (undefined: skipped)
//     qkv (B, N, 3C), out / dout (B, N, C), lse (B, NH, N), dqkv (B, N, 3C); mask (B, N) or nullptr.
// Masks are Tensor<uint8_t> pointers (1 = real, 0 = padding); nullptr or an undefined tensor = no padding.
// The defined tensors all sit on the CPU, or all on Device::cuda (float; needs simad::kernels, which
// defines SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw simad::Error. The CUDA kernel has a limit the
// CPU op does not (its launcher throws): head size C / NH <= kCudaAttentionMaxHeadSize. CUDA work is
// asynchronous on the default stream. Fusion attention: ops/dispatch/fusion_attention.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/attention.hpp"
#include "simad/ops/dispatch/common.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/attention.hpp"
#endif

namespace simad::ops {

namespace detail {
// B, N, C of qkv (B, N, 3C), and the head count NH checked against C.
template <typename T>
void attention_sizes(const char* op, const Tensor<T>& qkv, int64_t NH, int64_t& B, int64_t& N, int64_t& C) {
  SIMAD_CHECK(qkv.defined(), op, ": qkv is undefined, expected shape (B, N, 3C)");
  SIMAD_CHECK(qkv.rank() == 3 && qkv.dim(2) % 3 == 0, op, ": qkv shape ", qkv.shape(),
              ", expected (B, N, 3C) (rank 3, last dimension a multiple of 3)");
  B = qkv.dim(0);
  N = qkv.dim(1);
  C = qkv.dim(2) / 3;
  SIMAD_CHECK(NH >= 1 && C % NH == 0, op, ": the head count NH=", NH, " must be >= 1 and divide C=", C, " (qkv ",
              qkv.shape(), ")");
}
}  // namespace detail

// out (B, N, C) = multi-head attention of qkv (B, N, 3C); lse (B, NH, N) saved for the backward.
template <typename T>
void attention_forward(const Tensor<T>& out, const Tensor<T>& lse, const Tensor<T>& qkv,
                       const Tensor<uint8_t>* mask, int64_t NH) {
  constexpr const char* op = "attention_forward";
  int64_t B = 0, N = 0, C = 0;
  detail::attention_sizes(op, qkv, NH, B, N, C);
  detail::expect_shape(op, out, Shape{B, N, C}, "out");
  detail::expect_shape(op, lse, Shape{B, NH, N}, "lse");
  const Tensor<uint8_t>& m = detail::optional_mask(op, mask, Shape{B, N}, "mask");
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, out, lse, qkv, m),
                       attention_forward(out.data(), lse.data(), qkv.data(), detail::data_or_null(m), B, N, C, NH));
}

// dqkv (B, N, 3C) += the gradient given dout (B, N, C) and the forward's qkv, out, lse, mask; an
// undefined dqkv is skipped.
template <typename T>
void attention_backward(const Tensor<T>& dqkv, const Tensor<T>& dout, const Tensor<T>& qkv, const Tensor<T>& out,
                        const Tensor<T>& lse, const Tensor<uint8_t>* mask, int64_t NH) {
  constexpr const char* op = "attention_backward";
  int64_t B = 0, N = 0, C = 0;
  detail::attention_sizes(op, qkv, NH, B, N, C);
  detail::expect_shape(op, dout, Shape{B, N, C}, "dout");
  detail::expect_shape(op, out, Shape{B, N, C}, "out");
  detail::expect_shape(op, lse, Shape{B, NH, N}, "lse");
  const Tensor<uint8_t>& m = detail::optional_mask(op, mask, Shape{B, N}, "mask");
  if (!dqkv.defined()) return;
  detail::expect_shape(op, dqkv, qkv.shape(), "dqkv");
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, dqkv, dout, qkv, out, lse, m),
                       attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(),
                                          detail::data_or_null(m), B, N, C, NH));
}

}  // namespace simad::ops
