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
//   SIMAD_ON_DEVICE_CALL(T, op, device, call)  on_device with the same pointer call on both sides:
//                                            ops::call on the CPU, the launcher of that name on CUDA
//   detail::common_device(op, t...)           the device of ALL the tensors (an undefined one counts as
//                                            Device::cpu); mixed devices throw
//   detail::no_cuda_kernels(op)               the error for CUDA tensors without simad::kernels
//   detail::rows_cols(op, t, N, C)            a defined rank >= 1 tensor read as (N, C): C = the last
//                                            dimension, N = the product of the others
//   detail::check_same_shape(op, ref, t, what)  t defined with ref's shape
//   detail::expect_shape(op, t, shape, what)  t defined with that shape
//   detail::expect_shape_if_defined(op, t, shape, what)  an optional t: undefined, or with that shape
//   detail::optional_mask(op, mask, shape, what)  a mask pointer as a tensor (undefined when absent),
//                                            checked against the shape when present
//   detail::data_or_null(t)                   t's data, nullptr when t is undefined
//   detail::with_cuda_workspace(bytes, launch)  launch(workspace, bytes) with that much device memory,
//                                            freed once the default stream has finished with it
// Every dispatch header uses these, so this header includes only core (and, with the kernels, the
// CUDA runtime for the workspaces).
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/device.hpp"
#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include <algorithm>
#include <cstddef>

#include "simad/cuda/runtime.hpp"  // the Device::cuda allocator, SIMAD_CUDA_CHECK
#endif

namespace simad::ops::detail {

// The device all of an op's tensors are on; mixed devices throw.
template <typename... Ts>
Device common_device(const char* op, const Tensor<Ts>&... ts) {
  const Device devices[] = {ts.device()...};
  const Device first = devices[0];
  const bool same = ((ts.device() == first) && ...);
  SIMAD_CHECK(same, op, ": tensors on different devices (copy them to one device first: cuda::to_device / to_host)");
  return first;
}

[[noreturn]] inline void no_cuda_kernels(const char* op) {
  ::simad::detail::throw_error(
      ::simad::detail::concat(op, ": CUDA tensors need simad::kernels (build with CUDA or SIMAD_CUDA_EMULATION)"),
      SourceLocation::current());
}

// (N, C) of a rank >= 1 tensor: C = the last dimension, N = the product of the others.
template <typename T>
void rows_cols(const char* op, const Tensor<T>& t, int64_t& N, int64_t& C) {
  SIMAD_CHECK(t.defined(), op, ": undefined tensor");
  SIMAD_CHECK(t.rank() >= 1, op, ": rank >= 1 tensor expected, got ", t.shape());
  C = t.dim(-1);
  N = 1;
  for (int d = 0; d + 1 < t.rank(); ++d) N *= t.dim(d);
}

// t must be defined and have ref's shape.
template <typename A, typename B>
void check_same_shape(const char* op, const Tensor<A>& ref, const Tensor<B>& t, const char* what) {
  SIMAD_CHECK(t.defined(), op, ": ", what, " is undefined");
  SIMAD_CHECK(t.shape() == ref.shape(), op, ": ", what, " shape ", t.shape(), ", expected ", ref.shape());
}

// t defined with exactly the shape `expected`.
template <typename T>
void expect_shape(const char* op, const Tensor<T>& t, const Shape& expected, const char* what) {
  SIMAD_CHECK(t.defined(), op, ": ", what, " is undefined, expected shape ", expected);
  SIMAD_CHECK(t.shape() == expected, op, ": ", what, " shape ", t.shape(), ", expected ", expected);
}

template <typename T>
void expect_shape_if_defined(const char* op, const Tensor<T>& t, const Shape& expected, const char* what) {
  if (t.defined()) expect_shape(op, t, expected, what);
}

// A mask pointer as a tensor (undefined when absent) and its data (nullptr when absent).
inline const Tensor<uint8_t>& optional_mask(const char* op, const Tensor<uint8_t>* mask, const Shape& expected,
                                             const char* what) {
  static const Tensor<uint8_t> none;
  if (!mask || !mask->defined()) return none;
  expect_shape(op, *mask, expected, what);
  return *mask;
}

template <typename T>
T* data_or_null(const Tensor<T>& t) {
  return t.defined() ? t.data() : nullptr;
}

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

#if defined(SIMAD_HAVE_CUDA_KERNELS)
// The launchers' workspace (cub's way, for the Tensor ops): one device buffer per host thread, grown
// when a call needs more and kept until the thread ends, so a call costs no allocation and no wait
// for it. Reuse needs no wait either: every Tensor op launches on the default stream, whose kernels
// run in order, so a later call's kernels start after the earlier ones are done with the buffer.
// Growing frees the old buffer first (cudaFree waits for the device). At least one byte: a launcher
// refuses a null workspace that it needs.
inline void* cuda_workspace(size_t bytes) {
  thread_local Tensor<uint8_t> buffer;
  const int64_t need = int64_t(std::max<size_t>(bytes, 1));
  if (!buffer.defined() || buffer.numel() < need) {
    buffer = Tensor<uint8_t>();
    buffer = Tensor<uint8_t>::empty({need}, Device::cuda);
  }
  return buffer.data();
}

// launch(workspace, bytes) on this thread's workspace; a launch inside another's (none does so today)
// gets a buffer of its own, freed after a wait.
// Whether this thread's workspace is lent out (one flag per thread, not per Launch type).
inline bool& cuda_workspace_in_use() {
  thread_local bool in_use = false;
  return in_use;
}

template <typename Launch>
void with_cuda_workspace(size_t bytes, Launch&& launch) {
  bool& in_use = cuda_workspace_in_use();
  if (in_use) {
    const Tensor<uint8_t> own = Tensor<uint8_t>::empty({int64_t(std::max<size_t>(bytes, 1))}, Device::cuda);
    launch(static_cast<void*>(own.data()), bytes);
    SIMAD_CUDA_CHECK(cudaStreamSynchronize(nullptr));  // before `own` is freed
    return;
  }
  in_use = true;
  struct Release {
    bool& flag;
    ~Release() { flag = false; }
  } release{in_use};
  launch(cuda_workspace(bytes), bytes);
}
#endif

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

// detail::on_device<T>(op, device, ...) running `call` (a pointer op of simad::ops) on the CPU and the
// launcher of the same name and arguments on CUDA.
#define SIMAD_ON_DEVICE_CALL(T, op, device, call) \
  ::simad::ops::detail::on_device<T>(op, device, [&] { call; }, [&] { SIMAD_CUDA_KERNEL_CALL(T, call); })
