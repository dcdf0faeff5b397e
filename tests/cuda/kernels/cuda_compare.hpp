// tests/cuda/kernels/cuda_compare.hpp: what the newer kernel tests share: device copies, host copies
// after a synchronise, and one comparison (|gpu - cpu| <= atol + rtol |cpu|, NaN fails) of a device
// tensor with a CPU result. Emulated kernels do the CPU ops' arithmetic in the same order and match
// exactly; the tolerances leave room for nvcc's fused multiply-adds on a real GPU.
#pragma once

#include <cuda_runtime.h>

#include <span>
#include <string>

#include "simad/cuda/runtime.hpp"
#include "testing.hpp"

namespace simad::testing {

template <typename T>
Tensor<T> to_gpu(const Tensor<T>& t) {
  return cuda::to_device(t);
}

// A host copy (after a synchronise) of a device tensor; a CPU tensor comes back as it is.
template <typename T>
Tensor<T> from_gpu(const Tensor<T>& t) {
  if (t.device() == Device::cpu) return t;
  SIMAD_CUDA_CHECK(cudaDeviceSynchronize());
  SIMAD_CUDA_CHECK(cudaGetLastError());
  return cuda::to_host(t);
}

inline void compare_gpu(const Tensor<float>& gpu, const Tensor<float>& cpu, const std::string& what,
                        double atol = 1e-6, double rtol = 1e-5) {
  const Tensor<float> h = from_gpu(gpu);
  REQUIRE_MESSAGE(h.numel() == cpu.numel(), what, ": sizes differ");
  check_close(h, std::span<const float>(cpu.data(), size_t(cpu.numel())), atol, rtol, what);
}

}  // namespace simad::testing
