// simad/ops/dispatch/broadcast_add.hpp: a per-set vector added to every member, on Tensors
// (simad/ops/broadcast_add.hpp), run on the tensors' device (CPU op or kernels/broadcast_add.cu).
//   ops::broadcast_add_forward(out, a, v)      out (B, S, C) = a + v[b] (out may be a) OVERWRITTEN
//   ops::broadcast_add_backward(da, dv, dout)  ACCUMULATE; undefined: skipped
// a, out, dout (B, S, C); v, dv (B, C). All on the CPU or all on Device::cuda (float; needs simad::kernels).
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/broadcast_add.hpp"
#include "simad/ops/dispatch/common.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/broadcast_add.hpp"
#endif

namespace simad::ops {

template <typename T>
void broadcast_add_forward(const Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& v) {
  constexpr const char* op = "broadcast_add_forward";
  SIMAD_CHECK(a.defined() && a.rank() == 3, op, ": a must be (B, S, C)");
  const int64_t B = a.dim(0), S = a.dim(1), C = a.dim(2);
  SIMAD_CHECK(out.defined() && out.numel() == a.numel() && v.defined() && v.numel() == B * C, op,
              ": out must match a and v be (B, C)");
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, out, a, v),
                       broadcast_add_forward(out.data(), a.data(), v.data(), B, S, C));
}

template <typename T>
void broadcast_add_backward(const Tensor<T>& da, const Tensor<T>& dv, const Tensor<T>& dout) {
  constexpr const char* op = "broadcast_add_backward";
  SIMAD_CHECK(dout.defined() && dout.rank() == 3, op, ": dout must be (B, S, C)");
  const int64_t B = dout.dim(0), S = dout.dim(1), C = dout.dim(2);
  SIMAD_CHECK(!da.defined() || da.numel() == dout.numel(), op, ": da must match dout");
  SIMAD_CHECK(!dv.defined() || dv.numel() == B * C, op, ": dv must be (B, C)");
  T* pda = detail::data_or_null(da);
  T* pdv = detail::data_or_null(dv);
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, da, dv, dout),
                       broadcast_add_backward(pda, pdv, dout.data(), B, S, C));
}

}  // namespace simad::ops
