// simad/ops/dispatch/weighted_mean.hpp: the weighted set mean on Tensors (simad/ops/weighted_mean.hpp),
// run on the tensors' device (CPU op or kernels/weighted_mean.cu: the same arithmetic in the same order).
//   ops::weighted_mean_forward(out, den, x, w)                     out (B, C), den (B) OVERWRITTEN
//   ops::weighted_mean_backward(dx, dw, dout, x, w, out, den)      ACCUMULATE; undefined: skipped
// x (B, S, C), w (B, S). All on the CPU or all on Device::cuda (float; needs simad::kernels).
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/weighted_mean.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/weighted_mean.hpp"
#endif

namespace simad::ops {

namespace detail {
template <typename T>
void weighted_mean_sizes(const char* op, const Tensor<T>& x, const Tensor<T>& w, int64_t& B, int64_t& S, int64_t& C) {
  SIMAD_CHECK(x.defined() && x.rank() == 3, op, ": x must be (B, S, C)");
  B = x.dim(0), S = x.dim(1), C = x.dim(2);
  SIMAD_CHECK(w.defined() && w.numel() == B * S, op, ": w must have B S = ", B * S, " elements");
}
}  // namespace detail

template <typename T>
void weighted_mean_forward(const Tensor<T>& out, const Tensor<T>& den, const Tensor<T>& x, const Tensor<T>& w) {
  constexpr const char* op = "weighted_mean_forward";
  int64_t B = 0, S = 0, C = 0;
  detail::weighted_mean_sizes(op, x, w, B, S, C);
  SIMAD_CHECK(out.defined() && out.numel() == B * C && den.defined() && den.numel() == B, op,
              ": out must be (B, C) and den (B)");
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, out, den, x, w),
                       weighted_mean_forward(out.data(), den.data(), x.data(), w.data(), B, S, C));
}

template <typename T>
void weighted_mean_backward(const Tensor<T>& dx, const Tensor<T>& dw, const Tensor<T>& dout, const Tensor<T>& x,
                            const Tensor<T>& w, const Tensor<T>& out, const Tensor<T>& den) {
  constexpr const char* op = "weighted_mean_backward";
  int64_t B = 0, S = 0, C = 0;
  detail::weighted_mean_sizes(op, x, w, B, S, C);
  SIMAD_CHECK(dout.defined() && dout.numel() == B * C && out.defined() && out.numel() == B * C && den.defined() &&
                  den.numel() == B,
              op, ": dout and out must be (B, C), den (B)");
  SIMAD_CHECK(!dx.defined() || dx.numel() == x.numel(), op, ": dx must match x");
  SIMAD_CHECK(!dw.defined() || dw.numel() == w.numel(), op, ": dw must match w");
  T* pdx = detail::data_or_null(dx);
  T* pdw = detail::data_or_null(dw);
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, dx, dw, dout, x, w, out, den),
                       weighted_mean_backward(pdx, pdw, dout.data(), x.data(), w.data(), out.data(), den.data(), B, S,
                                              C));
}

}  // namespace simad::ops
