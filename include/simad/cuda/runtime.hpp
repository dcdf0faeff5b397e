// simad/cuda/runtime.hpp: the host side of simad's CUDA backend. Compiles against CUDA's real
// cuda_runtime.h (host .cpp linked with CUDA::cudart, or nvcc) and against the SIMT emulator's shim
// (target simad::cuda_emu), so the same host code runs on a GPU and, emulated, on the CPU.
//
//   SIMAD_CUDA_CHECK(cudaMemcpy(...));      // throws simad::Error: the call, the CUDA error, file:line
//   Tensor<float> d = cuda::to_device(h);   // Device::cuda tensor (cudaMalloc memory), a copy of h
//   Tensor<float> h2 = cuda::to_host(d);    // back to the CPU (synchronises the stream)
//   cuda::copy(dst, src);                   // same element count, any pair of devices
//   cuda::Stream s; cuda::Event a, b; a.record(s); ...; b.record(s); float ms = cuda::elapsed_ms(a, b);
//   cuda::has_cuda_device()                 // false without a usable device (error 35: no driver, ...)
//
// Including this header registers a cudaMalloc/cudaFree allocator for Device::cuda with
// core/tensor.hpp's allocator_for(), so Tensor<T>::empty(shape, Device::cuda) allocates device memory.
// cuBLAS (real CUDA only; the emulator has none): cuda::CublasHandle, one per host thread via
// cuda::cublas_handle(), defined when <cublas_v2.h> is available and the build is not emulated.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "simad/core/device.hpp"
#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"

#if !defined(SIMAD_CUDA_EMULATED) && defined(__has_include)
#if __has_include(<cublas_v2.h>)
#include <cublas_v2.h>
#define SIMAD_CUDA_HAVE_CUBLAS 1
#endif
#endif

namespace simad::cuda {

namespace detail {

// Throws simad::Error for a failed CUDA call; `call` is its source text. Clears the (non-sticky)
// last error so that the next call does not report it again.
inline void check_cuda(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();
  std::string f = file;  // from the project's top directory when the path shows it
  for (const char* top : {"include/simad/", "tests/", "tools/", "benchmarks/", "kernels/"})
    if (const auto p = f.rfind(top); p != std::string::npos) {
      f = f.substr(p);
      break;
    }
  throw ::simad::Error(::simad::detail::concat("CUDA call ", call, " failed: ", cudaGetErrorName(e), " (",
                                               cudaGetErrorString(e), ") [", f, ":", line, "]"));
}

}  // namespace detail

}  // namespace simad::cuda

// SIMAD_CUDA_CHECK(call): evaluates a call returning cudaError_t; on failure throws simad::Error
// "CUDA call <call text> failed: <cudaErrorName> (<description>) [file:line]".
#define SIMAD_CUDA_CHECK(call) ::simad::cuda::detail::check_cuda((call), #call, __FILE__, __LINE__)

namespace simad::cuda {

// True when a CUDA device can be used: cudaGetDeviceCount succeeds with at least one device.
// False on any error (35 cudaErrorInsufficientDriver without a driver, 100 cudaErrorNoDevice, ...).
// The emulator always has its one device.
inline bool has_cuda_device() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return count > 0;
}

// ------------------------------------------------------------------------------------------------
// Device memory for Tensor<T>: the allocator core/tensor.hpp uses for Device::cuda.
inline Allocator cuda_allocator() {
  return Allocator{[](std::size_t bytes) -> void* {
                     if (bytes == 0) return nullptr;
                     void* p = nullptr;
                     SIMAD_CUDA_CHECK(cudaMalloc(&p, bytes));
                     return p;
                   },
                   [](void* p, std::size_t) {
                     // Never throws (it runs in destructors, possibly after cudaDeviceReset or at exit).
                     if (p && cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
                   }};
}

// Registers cuda_allocator() for Device::cuda (idempotent). Including this header does it before
// main(); call it explicitly from code that runs during static initialisation.
inline bool register_cuda_allocator() {
  static const bool done = [] {
    allocator_for(Device::cuda) = cuda_allocator();
    return true;
  }();
  return done;
}

namespace detail {
inline const bool cuda_allocator_registered = register_cuda_allocator();

inline cudaMemcpyKind copy_kind(Device dst, Device src) {
  if (dst == Device::cuda) return src == Device::cuda ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice;
  return src == Device::cuda ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost;
}
}  // namespace detail

// Copies src's elements into dst (same element count; shapes may differ), between any devices.
// Ordered on `stream`; the copy is complete when copy() returns.
template <typename T>
void copy(const Tensor<T>& dst, const Tensor<T>& src, cudaStream_t stream = nullptr) {
  SIMAD_CHECK(dst.defined() && src.defined(), "cuda::copy: undefined tensor");
  SIMAD_CHECK(dst.numel() == src.numel(), "cuda::copy: ", src.shape(), " (", device_name(src.device()), ") into ",
              dst.shape(), " (", device_name(dst.device()), "): element counts differ");
  if (src.numel() == 0) return;
  if (dst.device() == Device::cpu && src.device() == Device::cpu) {
    std::memmove(dst.data(), src.data(), src.bytes());
    return;
  }
  register_cuda_allocator();
  SIMAD_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.bytes(), detail::copy_kind(dst.device(), src.device()),
                                   stream));
  SIMAD_CUDA_CHECK(cudaStreamSynchronize(stream));
}

// A Device::cuda copy of t (whatever its device).
template <typename T>
Tensor<T> to_device(const Tensor<T>& t, cudaStream_t stream = nullptr) {
  SIMAD_CHECK(t.defined(), "cuda::to_device: undefined tensor");
  register_cuda_allocator();
  Tensor<T> d = Tensor<T>::empty(t.shape(), Device::cuda);
  copy(d, t, stream);
  return d;
}

// A CPU copy of t (whatever its device); the stream is synchronised.
template <typename T>
Tensor<T> to_host(const Tensor<T>& t, cudaStream_t stream = nullptr) {
  SIMAD_CHECK(t.defined(), "cuda::to_host: undefined tensor");
  Tensor<T> h = Tensor<T>::empty(t.shape(), Device::cpu);
  copy(h, t, stream);
  return h;
}

// ------------------------------------------------------------------------------------------------
// RAII stream and event.
class Stream {
 public:
  explicit Stream(unsigned flags = cudaStreamNonBlocking) {
    SIMAD_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, flags));
  }
  ~Stream() {
    if (stream_ && cudaStreamDestroy(stream_) != cudaSuccess) (void)cudaGetLastError();
  }
  Stream(Stream&& o) noexcept : stream_(std::exchange(o.stream_, nullptr)) {}
  Stream& operator=(Stream&& o) noexcept {
    std::swap(stream_, o.stream_);
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return stream_; }
  operator cudaStream_t() const { return stream_; }  // NOLINT: pass a Stream where a cudaStream_t goes
  void synchronize() const { SIMAD_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  explicit Event(unsigned flags = cudaEventDefault) { SIMAD_CUDA_CHECK(cudaEventCreateWithFlags(&event_, flags)); }
  ~Event() {
    if (event_ && cudaEventDestroy(event_) != cudaSuccess) (void)cudaGetLastError();
  }
  Event(Event&& o) noexcept : event_(std::exchange(o.event_, nullptr)) {}
  Event& operator=(Event&& o) noexcept {
    std::swap(event_, o.event_);
    return *this;
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream = nullptr) const { SIMAD_CUDA_CHECK(cudaEventRecord(event_, stream)); }
  void synchronize() const { SIMAD_CUDA_CHECK(cudaEventSynchronize(event_)); }

 private:
  cudaEvent_t event_ = nullptr;
};

// Milliseconds between two recorded events (waits for `end`).
inline float elapsed_ms(const Event& start, const Event& end) {
  end.synchronize();
  float ms = 0.0f;
  SIMAD_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), end.get()));
  return ms;
}

// ------------------------------------------------------------------------------------------------
// cuBLAS (real CUDA build only).
#if defined(SIMAD_CUDA_HAVE_CUBLAS)
inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

namespace detail {
inline void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw ::simad::Error(::simad::detail::concat("cuBLAS call ", call, " failed: ", cublas_status_name(s), " [",
                                                 file, ":", line, "]"));
}
}  // namespace detail

#define SIMAD_CUBLAS_CHECK(call) ::simad::cuda::detail::check_cublas((call), #call, __FILE__, __LINE__)

// Owns a cublasHandle_t.
class CublasHandle {
 public:
  CublasHandle() { SIMAD_CUBLAS_CHECK(cublasCreate(&handle_)); }
  ~CublasHandle() {
    if (handle_) (void)cublasDestroy(handle_);
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }
  // The handle bound to `stream` (cuBLAS calls through it are ordered on that stream).
  cublasHandle_t on(cudaStream_t stream) const {
    SIMAD_CUBLAS_CHECK(cublasSetStream(handle_, stream));
    return handle_;
  }

 private:
  cublasHandle_t handle_ = nullptr;
};

// One handle per host thread (cuBLAS handles must not be shared by threads calling at once).
inline CublasHandle& cublas_handle() {
  thread_local CublasHandle handle;
  return handle;
}
#endif

}  // namespace simad::cuda
