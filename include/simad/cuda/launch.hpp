// simad/cuda/launch.hpp: the one way simad launches a kernel, and the only `<<< >>>` in the project.
//
//   simad::cuda::launch(kernel, grid, block, smem_bytes, stream, args...);
//   SIMAD_LAUNCH(kernel, grid, block, smem_bytes, stream, args...);   // same, names the kernel by its spelling
//
// Under nvcc the body is kernel<<<grid, block, smem_bytes, stream>>>(args...). Under the SIMT emulator
// (host compiler, include/simad/cuda/emu) the arguments are converted to the kernel's parameter types,
// as a real launch does, and the grid runs to completion before launch() returns (streams are
// trivially ordered).
//
// Errors:
// - An invalid configuration (a zero dimension, more than 1024 threads or a block dimension over its
//   limit, a grid dimension over its limit, more dynamic shared memory than the kernel may use: 48 KiB,
//   or up to 227 KiB after cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, n))
//   throws simad::Error naming the kernel and the configuration; nothing is launched and no CUDA error
//   is left pending. Under nvcc a configuration error the runtime reports right after the launch is
//   consumed and thrown the same way (if the caller left an earlier such error pending, it is
//   attributed to this launch).
// - What goes wrong while the kernel runs is asynchronous, as in CUDA: cudaGetLastError() /
//   cudaDeviceSynchronize() return it (the emulator: cudaErrorLaunchFailure, sticky, with the message
//   in simad::cuda::emu::last_kernel_errors()). After such an error, launches do nothing until
//   cudaDeviceReset().
#pragma once

#include <cuda_runtime.h>

#if !defined(__CUDACC__) && !defined(SIMAD_CUDA_EMULATED)
#error "simad/cuda/launch.hpp: compile kernels with nvcc, or with the host compiler against the SIMT emulator (link simad::cuda_emu, which puts include/simad/cuda/emu/shim first on the include path)"
#endif

#include "simad/core/error.hpp"
#include "simad/cuda/kernel_name.hpp"

#include <bit>
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace simad::cuda {
namespace detail {

inline std::string dims(dim3 d) { return ::simad::detail::concat("(", d.x, ",", d.y, ",", d.z, ")"); }

// The limits of the devices simad targets (sm_80/sm_90) and of the emulated one.
inline constexpr unsigned long long kMaxThreads = 1024, kMaxBlock[3] = {1024, 1024, 64},
                                    kMaxGrid[3] = {2147483647ull, 65535ull, 65535ull};
inline constexpr std::size_t kMaxDynamicSmemOptin = 227 * 1024;

[[noreturn]] inline void bad_launch(const char* name, const void* fn, const char* type, dim3 grid, dim3 block,
                                    std::size_t smem, const std::string& why) {
  throw ::simad::Error(::simad::detail::concat("simad::cuda::launch: kernel '", kernel_name(name, fn, type),
                                               "': invalid launch configuration (grid ", dims(grid), ", block ",
                                               dims(block), ", ", smem, " bytes of dynamic shared memory): ", why));
}

// Throws simad::Error when no device could run this configuration.
inline void check_launch_config(const char* name, const void* fn, const char* type, dim3 grid, dim3 block,
                                std::size_t smem, std::size_t max_smem) {
  const unsigned g[3] = {grid.x, grid.y, grid.z}, b[3] = {block.x, block.y, block.z};
  for (int i = 0; i < 3; ++i)
    if (g[i] == 0 || b[i] == 0) bad_launch(name, fn, type, grid, block, smem, "a dimension is zero");
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads > kMaxThreads)
    bad_launch(name, fn, type, grid, block, smem,
               ::simad::detail::concat("the block has ", threads, " threads, more than ", kMaxThreads));
  for (int i = 0; i < 3; ++i) {
    if (b[i] > kMaxBlock[i])
      bad_launch(name, fn, type, grid, block, smem,
                 ::simad::detail::concat("block dimension ", "xyz"[i], " is more than ", kMaxBlock[i]));
    if (g[i] > kMaxGrid[i])
      bad_launch(name, fn, type, grid, block, smem,
                 ::simad::detail::concat("grid dimension ", "xyz"[i], " is more than ", kMaxGrid[i]));
  }
  if (smem > max_smem)
    bad_launch(name, fn, type, grid, block, smem,
               ::simad::detail::concat("more dynamic shared memory than the kernel's limit of ", max_smem,
                                       " bytes (above 48 KiB a kernel needs cudaFuncSetAttribute(kernel, "
                                       "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), at most ",
                                       kMaxDynamicSmemOptin, ")"));
}

// Implicit conversion of one argument to its parameter type, as in a call.
template <typename To, typename From>
To pass_argument(From&& from) {
  return std::forward<From>(from);
}

#if defined(SIMAD_CUDA_EMULATED)
template <typename Kernel, typename Tuple>
struct Bound {
  Kernel kernel;
  Tuple args;
};
// Runs the kernel for one CUDA thread: each thread gets its own copies of the by-value parameters.
template <typename Kernel, typename Tuple>
void invoke_bound(const void* p) {
  const auto& bound = *static_cast<const Bound<Kernel, Tuple>*>(p);
  std::apply(bound.kernel, bound.args);
}
#endif

}  // namespace detail

// Throws simad::Error "cuda <op>: <what>: <cudaErrorName>: <description>" where a call in an op's host
// code (an allocation, copy or synchronisation around its launches, in kernels/<op>.cu) failed.
inline void check_op_call(cudaError_t e, const char* op, const char* what) {
  SIMAD_CHECK(e == cudaSuccess, "cuda ", op, ": ", what, ": ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

// launch() with the kernel's name for messages (SIMAD_LAUNCH passes its spelling); name may be null.
template <typename... P, typename... A>
void launch_named(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, std::size_t smem_bytes,
                  cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "simad::cuda::launch: the number of arguments does not match the kernel's parameters");
  const void* fn = std::bit_cast<const void*>(kernel);
  const char* type = typeid(kernel).name();
#if defined(SIMAD_CUDA_EMULATED)
  namespace emu = ::simad::cuda::emu;
  detail::check_launch_config(name, fn, type, grid, block, smem_bytes, std::size_t(emu::detail::max_dynamic_smem(fn)));
  if (!emu::detail::valid_stream(stream))
    detail::bad_launch(name, fn, type, grid, block, smem_bytes, "the stream is not a live cudaStream_t");
  if (emu::detail::sticky_error() != cudaSuccess) return;  // as on a GPU: nothing runs after a kernel error
  using Tuple = std::tuple<std::remove_cvref_t<P>...>;
  const detail::Bound<void (*)(P...), Tuple> bound{
      kernel, Tuple(detail::pass_argument<std::remove_cvref_t<P>>(std::forward<A>(args))...)};
  emu::detail::Job job;
  job.kernel = emu::detail::KernelInfo{name, fn, type};
  job.grid = grid;
  job.block = block;
  job.smem = smem_bytes;
  job.body = &detail::invoke_bound<void (*)(P...), Tuple>;
  job.args = &bound;
  job.cfg = emu::config();
  emu::detail::run_grid(job);
#else
  detail::check_launch_config(name, fn, type, grid, block, smem_bytes, detail::kMaxDynamicSmemOptin);
  kernel<<<grid, block, smem_bytes, stream>>>(std::forward<A>(args)...);
  const cudaError_t e = cudaPeekAtLastError();
  if (e == cudaErrorInvalidConfiguration || e == cudaErrorInvalidValue || e == cudaErrorLaunchOutOfResources ||
      e == cudaErrorInvalidDeviceFunction || e == cudaErrorInvalidResourceHandle) {
    (void)cudaGetLastError();
    detail::bad_launch(name, fn, type, grid, block, smem_bytes,
                       ::simad::detail::concat(cudaGetErrorName(e), ": ", cudaGetErrorString(e)));
  }
#endif
}

template <typename... P, typename... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t smem_bytes, cudaStream_t stream, A&&... args) {
  launch_named(nullptr, kernel, grid, block, smem_bytes, stream, std::forward<A>(args)...);
}

}  // namespace simad::cuda

// SIMAD_LAUNCH(kernel, grid, block, smem_bytes, stream, args...): launch() that names the kernel by its
// spelling in messages. Wrap a template-id with commas in parentheses: SIMAD_LAUNCH((k<16, 32>), ...).
#define SIMAD_LAUNCH(kernel, grid, block, smem_bytes, stream, ...) \
  ::simad::cuda::launch_named(#kernel, kernel, grid, block, smem_bytes, stream __VA_OPT__(, ) __VA_ARGS__)
