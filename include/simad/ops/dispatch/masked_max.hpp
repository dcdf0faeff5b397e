// simad/ops/dispatch/masked_max.hpp: masked set max-pool on Tensors (simad/ops/masked_max.hpp), run on
// the tensors' device (CPU op or kernels/masked_max.cu).
//   ops::masked_max_forward(out, argmax, inp, mask)     out, argmax (B, C) OVERWRITTEN
//   ops::masked_max_backward(dinp, dout, argmax)        dinp (B, S, C) ACCUMULATES; undefined: skipped
// inp (B, S, C); mask (B, S) (uint8, 1 = real) or undefined (all real). The defined tensors all sit on
// the CPU or all on Device::cuda (float; needs simad::kernels).
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/masked_max.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/masked_max.hpp"
#endif

namespace simad::ops {

template <typename T>
void masked_max_forward(const Tensor<T>& out, const Tensor<int32_t>& argmax, const Tensor<T>& inp,
                        const Tensor<uint8_t>& mask) {
  constexpr const char* op = "masked_max_forward";
  SIMAD_CHECK(inp.defined() && inp.rank() == 3, op, ": input must be (B, S, C)");
  const int64_t B = inp.dim(0), S = inp.dim(1), C = inp.dim(2);
  SIMAD_CHECK(out.defined() && out.numel() == B * C, op, ": out must have B C = ", B * C, " elements");
  SIMAD_CHECK(argmax.defined() && argmax.numel() == B * C, op, ": argmax must have B C = ", B * C, " elements");
  SIMAD_CHECK(!mask.defined() || mask.numel() == B * S, op, ": mask must have B S = ", B * S, " elements");
  const uint8_t* m = detail::data_or_null(mask);
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, out, argmax, inp, mask),
                       masked_max_forward(out.data(), argmax.data(), inp.data(), m, B, S, C));
}

template <typename T>
void masked_max_backward(const Tensor<T>& dinp, const Tensor<T>& dout, const Tensor<int32_t>& argmax) {
  constexpr const char* op = "masked_max_backward";
  if (!dinp.defined()) return;
  SIMAD_CHECK(dinp.rank() == 3, op, ": dinp must be (B, S, C), got ", dinp.shape());
  const int64_t B = dinp.dim(0), S = dinp.dim(1), C = dinp.dim(2);
  SIMAD_CHECK(dout.defined() && dout.numel() == B * C, op, ": dout must have B C = ", B * C, " elements");
  SIMAD_CHECK(argmax.defined() && argmax.numel() == B * C, op, ": argmax must have B C = ", B * C, " elements");
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, dinp, dout, argmax),
                       masked_max_backward(dinp.data(), dout.data(), argmax.data(), B, S, C));
}

}  // namespace simad::ops
