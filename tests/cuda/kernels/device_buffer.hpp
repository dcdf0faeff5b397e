// tests/cuda/kernels/device_buffer.hpp: what the kernel tests share: CUDA_OK (a failed runtime call
// fails the test with its name), Dev<T> (a cudaMalloc'd copy of a host vector, or NaN-poisoned
// elements a kernel must overwrite) and same_bits (bitwise equality for determinism checks).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

#include "testing.hpp"

#define CUDA_OK(expr)                                                                    \
  do {                                                                                   \
    const cudaError_t cuda_ok_ = (expr);                                                 \
    REQUIRE_MESSAGE(cuda_ok_ == cudaSuccess, #expr, ": ", cudaGetErrorName(cuda_ok_)); \
  } while (0)

namespace simad::testing {

template <typename T>
struct Dev {
  T* ptr = nullptr;
  std::size_t n = 0;
  explicit Dev(const std::vector<T>& h) : n(h.size()) {
    CUDA_OK(cudaMalloc(&ptr, std::max<std::size_t>(n, 1) * sizeof(T)));
    if (n) CUDA_OK(cudaMemcpy(ptr, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  static Dev poisoned(std::size_t n) {
    std::vector<T> h(n);
    poison(std::span<T>(h));
    return Dev(h);
  }
  Dev(const Dev&) = delete;
  Dev(Dev&& o) noexcept : ptr(o.ptr), n(o.n) { o.ptr = nullptr; }
  ~Dev() { (void)cudaFree(ptr); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    if (n) CUDA_OK(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

}  // namespace simad::testing
