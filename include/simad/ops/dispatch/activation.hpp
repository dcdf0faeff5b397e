// simad/ops/dispatch/activation.hpp: Tensor-level activations that run on the tensors' device.
// Tensor overloads of the pointer functions of simad/ops/activation.hpp:
//   ops::relu_forward(out, inp)            ops::relu_backward(dinp, dout, inp)
//   ops::leaky_relu_forward(out, inp, s)   ops::leaky_relu_backward(dinp, dout, inp, s)
//   ops::gelu_forward(out, inp)            ops::gelu_backward(dinp, dout, inp)
//   ops::gelu_tanh_forward(out, inp)       ops::gelu_tanh_backward(dinp, dout, inp)
//   ops::tanh_forward(out, inp)            ops::tanh_backward(dinp, dout, out)      (from the forward OUTPUT)
//   ops::sigmoid_forward(out, inp)         ops::sigmoid_backward(dinp, dout, out)   (from the forward OUTPUT)
// Semantics of simad/ops/activation.hpp: forward OVERWRITES out (out may be inp), backward ACCUMULATES
// into dinp (an undefined dinp is skipped). All tensors have the same element count and sit on the
// CPU, or all on Device::cuda (float; needs simad::kernels, which defines SIMAD_HAVE_CUDA_KERNELS).
// Mixed devices throw simad::Error. CUDA work is asynchronous on the default stream.
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/activation.hpp"
#include "simad/ops/dispatch/common.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/elementwise.hpp"
#endif

namespace simad::ops {

namespace detail {
template <typename T>
void check_same_numel(const char* op, const Tensor<T>& a, const Tensor<T>& b, const char* what) {
  SIMAD_CHECK(a.defined() && b.defined(), op, ": undefined tensor");
  SIMAD_CHECK(a.numel() == b.numel(), op, ": ", what, " ", b.shape(), " has a different element count than ",
              a.shape());
}
}  // namespace detail

#define SIMAD_ACTIVATION_FORWARD(name, ...)                                                           \
  template <typename T>                                                                               \
  void name##_forward(const Tensor<T>& out, const Tensor<T>& inp __VA_OPT__(, ) __VA_ARGS__) {        \
    constexpr const char* op = #name "_forward";                                                      \
    detail::check_same_numel(op, inp, out, "out");                                                    \
    SIMAD_ON_DEVICE_CALL(T, op, detail::common_device(op, out, inp),                                  \
                         name##_forward(out.data(), inp.data(), inp.numel() SIMAD_ACTIVATION_EXTRA)); \
  }

#define SIMAD_ACTIVATION_BACKWARD(name, saved, ...)                                                        \
  template <typename T>                                                                                    \
  void name##_backward(const Tensor<T>& dinp, const Tensor<T>& dout, const Tensor<T>& saved __VA_OPT__(, ) \
                       __VA_ARGS__) {                                                                      \
    constexpr const char* op = #name "_backward";                                                          \
    detail::check_same_numel(op, dout, saved, #saved);                                                     \
    if (!dinp.defined()) return;                                                                           \
    detail::check_same_numel(op, dout, dinp, "dinp");                                                      \
    SIMAD_ON_DEVICE_CALL(T, op, detail::common_device(op, dinp, dout, saved),                              \
        name##_backward(dinp.data(), dout.data(), saved.data(), dout.numel() SIMAD_ACTIVATION_EXTRA));     \
  }

#define SIMAD_ACTIVATION_EXTRA
SIMAD_ACTIVATION_FORWARD(relu)
SIMAD_ACTIVATION_BACKWARD(relu, inp)
SIMAD_ACTIVATION_FORWARD(gelu)
SIMAD_ACTIVATION_BACKWARD(gelu, inp)
SIMAD_ACTIVATION_FORWARD(gelu_tanh)
SIMAD_ACTIVATION_BACKWARD(gelu_tanh, inp)
SIMAD_ACTIVATION_FORWARD(tanh)
SIMAD_ACTIVATION_BACKWARD(tanh, out)
SIMAD_ACTIVATION_FORWARD(sigmoid)
SIMAD_ACTIVATION_BACKWARD(sigmoid, out)
#undef SIMAD_ACTIVATION_EXTRA
#define SIMAD_ACTIVATION_EXTRA , slope
SIMAD_ACTIVATION_FORWARD(leaky_relu, T slope = T(0.1))
SIMAD_ACTIVATION_BACKWARD(leaky_relu, inp, T slope = T(0.1))
#undef SIMAD_ACTIVATION_EXTRA
#undef SIMAD_ACTIVATION_FORWARD
#undef SIMAD_ACTIVATION_BACKWARD

}  // namespace simad::ops
