// simad/ops/dispatch/softmax.hpp: Tensor-level row softmax that runs on the tensors' device.
// Tensor overloads of the pointer functions of simad/ops/softmax.hpp:
//   ops::softmax_forward(out, inp, mask = nullptr)   out = softmax(inp) per row (OVERWRITES; out may be inp)
//   ops::softmax_backward(dinp, dout, out)           dinp += out * (dout - rowsum(out * dout)) (ACCUMULATES;
//                                                    an undefined dinp is skipped)
// Tensors of rank >= 1 are (N, C) with C = the last dimension; all have the same shape (the mask too).
// All on the CPU, or all on Device::cuda (float; needs simad::kernels, which defines
// SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw simad::Error. CUDA work is asynchronous on the default stream.
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/softmax.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/softmax.hpp"
#endif

namespace simad::ops {

// out = softmax(inp) per row of C = inp.dim(-1); mask (same shape, same device): 1 = keep, 0 = padding.
template <typename T>
void softmax_forward(const Tensor<T>& out, const Tensor<T>& inp, const Tensor<uint8_t>* mask = nullptr) {
  constexpr const char* op = "softmax_forward";
  int64_t N = 0, C = 0;
  detail::rows_cols(op, inp, N, C);
  detail::check_same_shape(op, inp, out, "out");
  const uint8_t* m = nullptr;
  Device device;
  if (mask && mask->defined()) {
    detail::check_same_shape(op, inp, *mask, "mask");
    device = detail::common_device(op, out, inp, *mask);
    m = mask->data();
  } else {
    device = detail::common_device(op, out, inp);
  }
  SIMAD_ON_DEVICE_CALL(T, op, device, softmax_forward(out.data(), inp.data(), m, N, C));
}

// dinp += out * (dout - rowsum(out * dout)); an undefined dinp is skipped.
template <typename T>
void softmax_backward(const Tensor<T>& dinp, const Tensor<T>& dout, const Tensor<T>& out) {
  constexpr const char* op = "softmax_backward";
  int64_t N = 0, C = 0;
  detail::rows_cols(op, dout, N, C);
  detail::check_same_shape(op, dout, out, "out");
  if (!dinp.defined()) return;
  detail::check_same_shape(op, dout, dinp, "dinp");
  SIMAD_ON_DEVICE_CALL(T, op, detail::common_device(op, dinp, dout, out),
                       softmax_backward(dinp.data(), dout.data(), out.data(), N, C));
}

}  // namespace simad::ops
