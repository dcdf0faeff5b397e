// simad/ops/dispatch/l2norm.hpp: L2 row normalisation on Tensors (simad/ops/l2norm.hpp), run on the
// tensors' device (CPU op or kernels/l2norm.cu: the same arithmetic in the same order).
//   ops::l2norm_forward(out, norm, inp, eps)                 out (N, C) OVERWRITTEN, norm (N) or undefined
//   ops::l2norm_backward(dinp, dout, out, norm, eps)         dinp ACCUMULATES; undefined: skipped
// (N, C): C = the last dimension. All on the CPU or all on Device::cuda (float; needs simad::kernels).
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/l2norm.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/l2norm.hpp"
#endif

namespace simad::ops {

template <typename T>
void l2norm_forward(const Tensor<T>& out, const Tensor<T>& norm, const Tensor<T>& inp, T eps = T(1e-12)) {
  constexpr const char* op = "l2norm_forward";
  SIMAD_CHECK(inp.defined() && inp.rank() >= 1 && out.defined() && out.numel() == inp.numel(), op,
              ": out and inp must have the same size");
  const int64_t C = inp.dim(-1), N = C == 0 ? 0 : inp.numel() / C;
  SIMAD_CHECK(!norm.defined() || norm.numel() == N, op, ": norm must have N=", N, " elements");
  T* n = detail::data_or_null(norm);
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, out, norm, inp),
                       l2norm_forward(out.data(), n, inp.data(), N, C, eps));
}

template <typename T>
void l2norm_backward(const Tensor<T>& dinp, const Tensor<T>& dout, const Tensor<T>& out, const Tensor<T>& norm,
                     T eps = T(1e-12)) {
  constexpr const char* op = "l2norm_backward";
  if (!dinp.defined()) return;
  SIMAD_CHECK(dinp.rank() >= 1 && dout.defined() && out.defined() && norm.defined() &&
                  dout.numel() == dinp.numel() && out.numel() == dinp.numel(),
              op, ": dinp, dout, out must have the same size and norm be defined");
  const int64_t C = dinp.dim(-1), N = C == 0 ? 0 : dinp.numel() / C;
  SIMAD_CHECK(norm.numel() == N, op, ": norm must have N=", N, " elements");
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, dinp, dout, out, norm),
                       l2norm_backward(dinp.data(), dout.data(), out.data(), norm.data(), N, C, eps));
}

}  // namespace simad::ops
