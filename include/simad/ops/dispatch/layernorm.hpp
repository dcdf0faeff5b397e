// simad/ops/dispatch/layernorm.hpp: Tensor-level layer normalisation that runs on the tensors' device.
// Tensor overloads of the pointer functions of simad/ops/layernorm.hpp:
//   ops::layernorm_forward(out, mean, rstd, inp, weight, bias, eps)    out OVERWRITTEN, mean/rstd saved
//   ops::layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd)   ACCUMULATES
// inp, out, dinp, dout are rank >= 1 tensors, (N, C) with C = the last dimension (all the same shape);
// weight, bias, dweight, dbias have shape (C); mean, rstd have N elements. Undefined tensors map to
// nullptr where the pointer API allows it: weight (1), bias (0), mean/rstd in the forward (inference),
// dinp/dweight/dbias in the backward (skipped). The defined tensors all sit on the CPU, or all on
// Device::cuda (float; needs simad::kernels, which defines SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw
// simad::Error. CUDA work is asynchronous on the default stream.
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/layernorm.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/layernorm.hpp"
#endif

namespace simad::ops {

namespace detail {
// An optional tensor: undefined -> nullptr, else shape (C) / N elements checked.
template <typename T>
T* layernorm_vec(const char* op, const Tensor<T>& t, int64_t C, const char* what) {
  if (!t.defined()) return nullptr;
  SIMAD_CHECK(t.shape() == Shape{C}, op, ": ", what, " shape ", t.shape(), ", expected ", Shape{C});
  return t.data();
}
template <typename T>
T* layernorm_stat(const char* op, const Tensor<T>& t, int64_t N, const char* what) {
  if (!t.defined()) return nullptr;
  SIMAD_CHECK(t.numel() == N, op, ": ", what, " shape ", t.shape(), " must have ", N, " elements (one per row)");
  return t.data();
}
}  // namespace detail

// out = (inp - mean) * rstd * weight + bias per row; mean, rstd (N elements) saved when defined.
template <typename T>
void layernorm_forward(const Tensor<T>& out, const Tensor<T>& mean, const Tensor<T>& rstd, const Tensor<T>& inp,
                       const Tensor<T>& weight, const Tensor<T>& bias, T eps = T(1e-5)) {
  constexpr const char* op = "layernorm_forward";
  int64_t N = 0, C = 0;
  detail::rows_cols(op, inp, N, C);
  detail::check_same_shape(op, inp, out, "out");
  T* m = detail::layernorm_stat(op, mean, N, "mean");
  T* r = detail::layernorm_stat(op, rstd, N, "rstd");
  const T* w = detail::layernorm_vec(op, weight, C, "weight");
  const T* b = detail::layernorm_vec(op, bias, C, "bias");
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, out, mean, rstd, inp, weight, bias),
                       layernorm_forward(out.data(), m, r, inp.data(), w, b, N, C, eps));
}

// dinp, dweight, dbias += the gradients (each may be undefined: skipped); mean, rstd from the forward.
template <typename T>
void layernorm_backward(const Tensor<T>& dinp, const Tensor<T>& dweight, const Tensor<T>& dbias,
                        const Tensor<T>& dout, const Tensor<T>& inp, const Tensor<T>& weight, const Tensor<T>& mean,
                        const Tensor<T>& rstd) {
  constexpr const char* op = "layernorm_backward";
  int64_t N = 0, C = 0;
  detail::rows_cols(op, dout, N, C);
  detail::check_same_shape(op, dout, inp, "inp");
  if (dinp.defined()) detail::check_same_shape(op, dout, dinp, "dinp");
  T* di = detail::data_or_null(dinp);
  T* dw = detail::layernorm_vec(op, dweight, C, "dweight");
  T* db = detail::layernorm_vec(op, dbias, C, "dbias");
  const T* w = detail::layernorm_vec(op, weight, C, "weight");
  SIMAD_CHECK(mean.defined() && rstd.defined(), op, ": mean and rstd (saved by the forward) must be defined");
  const T* m = detail::layernorm_stat(op, mean, N, "mean");
  const T* r = detail::layernorm_stat(op, rstd, N, "rstd");
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, dinp, dweight, dbias, dout, inp, weight, mean, rstd),
                       layernorm_backward(di, dw, db, dout.data(), inp.data(), w, m, r, N, C));
}

}  // namespace simad::ops
