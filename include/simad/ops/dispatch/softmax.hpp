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
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/gemm.hpp"  // detail::common_device, detail::no_cuda_kernels
#include "simad/ops/softmax.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/softmax.hpp"
#endif

namespace simad::ops {

namespace detail {
// (N, C) of a rank >= 1 tensor: C = the last dimension, N = the product of the others.
template <typename T>
void softmax_rows(const char* op, const Tensor<T>& t, int64_t& N, int64_t& C) {
  SIMAD_CHECK(t.defined(), op, ": undefined tensor");
  SIMAD_CHECK(t.rank() >= 1, op, ": rank >= 1 tensor expected, got ", t.shape());
  C = t.dim(-1);
  N = 1;
  for (int d = 0; d + 1 < t.rank(); ++d) N *= t.dim(d);
}

template <typename A, typename B>
void softmax_same_shape(const char* op, const Tensor<A>& ref, const Tensor<B>& t, const char* what) {
  SIMAD_CHECK(t.defined(), op, ": ", what, " is undefined");
  SIMAD_CHECK(t.shape() == ref.shape(), op, ": ", what, " shape ", t.shape(), ", expected ", ref.shape());
}
}  // namespace detail

// out = softmax(inp) per row of C = inp.dim(-1); mask (same shape, same device): 1 = keep, 0 = padding.
template <typename T>
void softmax_forward(const Tensor<T>& out, const Tensor<T>& inp, const Tensor<uint8_t>* mask = nullptr) {
  constexpr const char* op = "softmax_forward";
  int64_t N = 0, C = 0;
  detail::softmax_rows(op, inp, N, C);
  detail::softmax_same_shape(op, inp, out, "out");
  const uint8_t* m = nullptr;
  Device device;
  if (mask && mask->defined()) {
    detail::softmax_same_shape(op, inp, *mask, "mask");
    device = detail::common_device(op, out, inp, *mask);
    m = mask->data();
  } else {
    device = detail::common_device(op, out, inp);
  }
  if (device == Device::cuda) {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
    SIMAD_CHECK((std::is_same_v<T, float>), op, ": CUDA tensors must be float (the CUDA kernels are float only)");
    if constexpr (std::is_same_v<T, float>) cuda::kernels::softmax_forward(out.data(), inp.data(), m, N, C);
    return;
#else
    detail::no_cuda_kernels(op);
#endif
  }
  softmax_forward(out.data(), inp.data(), m, N, C);
}

// dinp += out * (dout - rowsum(out * dout)); an undefined dinp is skipped.
template <typename T>
void softmax_backward(const Tensor<T>& dinp, const Tensor<T>& dout, const Tensor<T>& out) {
  constexpr const char* op = "softmax_backward";
  int64_t N = 0, C = 0;
  detail::softmax_rows(op, dout, N, C);
  detail::softmax_same_shape(op, dout, out, "out");
  if (!dinp.defined()) return;
  detail::softmax_same_shape(op, dout, dinp, "dinp");
  if (detail::common_device(op, dinp, dout, out) == Device::cuda) {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
    SIMAD_CHECK((std::is_same_v<T, float>), op, ": CUDA tensors must be float (the CUDA kernels are float only)");
    if constexpr (std::is_same_v<T, float>) cuda::kernels::softmax_backward(dinp.data(), dout.data(), out.data(), N, C);
    return;
#else
    detail::no_cuda_kernels(op);
#endif
  }
  softmax_backward(dinp.data(), dout.data(), out.data(), N, C);
}

}  // namespace simad::ops
