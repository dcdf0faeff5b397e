// simad/ops/dispatch/activation.hpp: Tensor-level activations that run on the tensors' device.
// Tensor overloads of the pointer functions of simad/ops/activation.hpp:
//   ops::relu_forward(out, inp)            ops::relu_backward(dinp, dout, inp)
//   ops::leaky_relu_forward(out, inp, s)   ops::leaky_relu_backward(dinp, dout, inp, s)
//   ops::gelu_forward(out, inp)            ops::gelu_backward(dinp, dout, inp)
//   ops::tanh_forward(out, inp)            ops::tanh_backward(dinp, dout, out)      (from the forward OUTPUT)
//   ops::sigmoid_forward(out, inp)         ops::sigmoid_backward(dinp, dout, out)   (from the forward OUTPUT)
// Semantics of simad/ops/activation.hpp: forward OVERWRITES out (out may be inp), backward ACCUMULATES
// into dinp (an undefined dinp is skipped). All tensors have the same element count and sit on the
// CPU, or all on Device::cuda (float; needs simad::kernels, which defines SIMAD_HAVE_CUDA_KERNELS).
// Mixed devices throw simad::Error. CUDA work is asynchronous on the default stream.
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/activation.hpp"
#include "simad/ops/gemm.hpp"  // detail::common_device, detail::no_cuda_kernels

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

// Runs cpu() on CPU tensors, gpu() (float, simad::kernels) on CUDA tensors.
template <typename T, typename Cpu, typename Gpu>
void activation_dispatch(const char* op, Device device, Cpu&& cpu, [[maybe_unused]] Gpu&& gpu) {
  if (device == Device::cpu) return cpu();
#if defined(SIMAD_HAVE_CUDA_KERNELS)
  SIMAD_CHECK((std::is_same_v<T, float>), op, ": CUDA tensors must be float (the CUDA kernels are float only)");
  if constexpr (std::is_same_v<T, float>) gpu();
#else
  no_cuda_kernels(op);
#endif
}
}  // namespace detail

#define SIMAD_ACTIVATION_FORWARD(name, ...)                                                                  \
  template <typename T>                                                                                      \
  void name##_forward(const Tensor<T>& out, const Tensor<T>& inp __VA_OPT__(, ) __VA_ARGS__) {               \
    detail::check_same_numel(#name "_forward", inp, out, "out");                                             \
    detail::activation_dispatch<T>(                                                                          \
        #name "_forward", detail::common_device(#name "_forward", out, inp),                                 \
        [&] { name##_forward(out.data(), inp.data(), inp.numel() SIMAD_ACTIVATION_EXTRA); },                 \
        [&] {                                                                                                \
          if constexpr (std::is_same_v<T, float>)                                                            \
            SIMAD_ACTIVATION_CUDA(name##_forward(out.data(), inp.data(), inp.numel() SIMAD_ACTIVATION_EXTRA)); \
        });                                                                                                  \
  }

#define SIMAD_ACTIVATION_BACKWARD(name, saved, ...)                                                          \
  template <typename T>                                                                                      \
  void name##_backward(const Tensor<T>& dinp, const Tensor<T>& dout, const Tensor<T>& saved __VA_OPT__(, )      \
                       __VA_ARGS__) {                                                                        \
    detail::check_same_numel(#name "_backward", dout, saved, #saved);                                            \
    if (!dinp.defined()) return;                                                                             \
    detail::check_same_numel(#name "_backward", dout, dinp, "dinp");                                             \
    detail::activation_dispatch<T>(                                                                          \
        #name "_backward", detail::common_device(#name "_backward", dinp, dout, saved),                              \
        [&] { name##_backward(dinp.data(), dout.data(), saved.data(), dout.numel() SIMAD_ACTIVATION_EXTRA); }, \
        [&] {                                                                                                \
          if constexpr (std::is_same_v<T, float>)                                                            \
            SIMAD_ACTIVATION_CUDA(                                                                           \
                name##_backward(dinp.data(), dout.data(), saved.data(), dout.numel() SIMAD_ACTIVATION_EXTRA)); \
        });                                                                                                  \
  }

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#define SIMAD_ACTIVATION_CUDA(call) ::simad::cuda::kernels::call
#else
#define SIMAD_ACTIVATION_CUDA(call) (void)0
#endif

#define SIMAD_ACTIVATION_EXTRA
SIMAD_ACTIVATION_FORWARD(relu)
SIMAD_ACTIVATION_BACKWARD(relu, inp)
SIMAD_ACTIVATION_FORWARD(gelu)
SIMAD_ACTIVATION_BACKWARD(gelu, inp)
SIMAD_ACTIVATION_FORWARD(tanh)
SIMAD_ACTIVATION_BACKWARD(tanh, out)
SIMAD_ACTIVATION_FORWARD(sigmoid)
SIMAD_ACTIVATION_BACKWARD(sigmoid, out)
#undef SIMAD_ACTIVATION_EXTRA
#define SIMAD_ACTIVATION_EXTRA , slope
SIMAD_ACTIVATION_FORWARD(leaky_relu, T slope = T(0.1))
SIMAD_ACTIVATION_BACKWARD(leaky_relu, inp, T slope = T(0.1))
#undef SIMAD_ACTIVATION_EXTRA
#undef SIMAD_ACTIVATION_CUDA
#undef SIMAD_ACTIVATION_FORWARD
#undef SIMAD_ACTIVATION_BACKWARD

}  // namespace simad::ops
