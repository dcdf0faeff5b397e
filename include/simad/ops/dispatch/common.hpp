// simad/ops/dispatch/common.hpp: what every Tensor-level op shares: the device of its tensors and the
// one place that picks the CPU op or the CUDA launcher.
//   detail::defined_common_device(op, t...)   the device of the DEFINED tensors (they must agree; CPU
//                                            when none is defined); mixed devices throw simad::Error
//   detail::on_device<T>(op, device, cpu, cuda)   runs cpu() on Device::cpu; on Device::cuda checks
//                                            T == float (the kernels are float only) and runs cuda(),
//                                            or throws when simad::kernels is not linked
//   SIMAD_CUDA_KERNEL_CALL(T, launcher(args))  inside the cuda lambda: calls
//                                            simad::cuda::kernels::launcher(args) when T is float and
//                                            the kernels are built; compiles to nothing otherwise
// New dispatch headers use these; the older ones (softmax, layernorm, ...) still spell the same
// logic out and move here with the dispatch refactor (issue 17).
#pragma once

#include <type_traits>

#include "simad/core/device.hpp"
#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/gemm.hpp"  // detail::no_cuda_kernels

namespace simad::ops::detail {

template <typename... Ts>
Device defined_common_device(const char* op, const Tensor<Ts>&... ts) {
  Device device = Device::cpu;
  bool any = false, same = true;
  const auto visit = [&](Device d, bool defined) {
    if (!defined) return;
    if (!any) {
      device = d;
      any = true;
    } else if (d != device) {
      same = false;
    }
  };
  (visit(ts.device(), ts.defined()), ...);
  SIMAD_CHECK(same, op, ": tensors on different devices (copy them to one device first: cuda::to_device / to_host)");
  return device;
}

template <typename T, typename Cpu, typename Cuda>
void on_device(const char* op, Device device, Cpu&& cpu, [[maybe_unused]] Cuda&& cuda) {
  if (device == Device::cpu) return cpu();
#if defined(SIMAD_HAVE_CUDA_KERNELS)
  SIMAD_CHECK((std::is_same_v<T, float>), op, ": CUDA tensors must be float (the CUDA kernels are float only)");
  cuda();
#else
  no_cuda_kernels(op);
#endif
}

}  // namespace simad::ops::detail

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#define SIMAD_CUDA_KERNEL_CALL(T, ...)                                          \
  do {                                                                          \
    if constexpr (std::is_same_v<T, float>) ::simad::cuda::kernels::__VA_ARGS__; \
  } while (0)
#else
#define SIMAD_CUDA_KERNEL_CALL(T, ...) \
  do {                                 \
  } while (0)
#endif
