// simad/ops/dispatch/reduce.hpp: Tensor-level sums and means that run on the tensors' device.
// Tensor overloads of the pointer functions of simad/ops/reduce.hpp:
//   ops::sum_forward(out, inp) / mean_forward            out (1 element) = sum (mean) of inp (any shape)
//   ops::sum_backward(dinp, dout) / mean_backward        dinp += dout (/ numel) (ACCUMULATES)
//   ops::sum_over_rows_forward(out, inp) / mean_...      out (C elements), inp (N, C)
//   ops::sum_over_rows_backward(dinp, dout) / mean_...   dinp (N, C) += dout (C) (/ N)
//   ops::sum_over_cols_forward(out, inp) / mean_...      out (N elements), inp (N, C)
//   ops::sum_over_cols_backward(dinp, dout) / mean_...   dinp (N, C) += dout (N) (/ C)
// (N, C) views: C = the last dimension, N = the product of the others (rank >= 1). Forward passes
// OVERWRITE out; backward passes ACCUMULATE and skip an undefined dinp. All on the CPU, or all on
// Device::cuda (float; needs simad::kernels, which defines SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw
// simad::Error. CUDA work is asynchronous on the default stream.
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/gemm.hpp"  // detail::common_device, detail::no_cuda_kernels
#include "simad/ops/reduce.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/reduce.hpp"
#endif

namespace simad::ops {

namespace detail {
template <typename T>
void reduce_rows_cols(const char* op, const Tensor<T>& t, int64_t& N, int64_t& C) {
  SIMAD_CHECK(t.defined(), op, ": undefined tensor");
  SIMAD_CHECK(t.rank() >= 1, op, ": rank >= 1 tensor expected, got ", t.shape());
  C = t.dim(-1);
  N = 1;
  for (int d = 0; d + 1 < t.rank(); ++d) N *= t.dim(d);
}

template <typename T>
void reduce_numel(const char* op, const Tensor<T>& t, int64_t n, const char* what) {
  SIMAD_CHECK(t.defined(), op, ": ", what, " is undefined");
  SIMAD_CHECK(t.numel() == n, op, ": ", what, " ", t.shape(), " has ", t.numel(), " elements, expected ", n);
}

// Runs cuda_fn() for Device::cuda float tensors, else cpu_fn().
template <typename T, typename CudaFn, typename CpuFn>
void reduce_dispatch(const char* op, Device device, [[maybe_unused]] CudaFn&& cuda_fn, CpuFn&& cpu_fn) {
  if (device == Device::cuda) {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
    SIMAD_CHECK((std::is_same_v<T, float>), op, ": CUDA tensors must be float (the CUDA kernels are float only)");
    if constexpr (std::is_same_v<T, float>) cuda_fn();
    return;
#else
    no_cuda_kernels(op);
#endif
  }
  cpu_fn();
}
}  // namespace detail

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#define SIMAD_REDUCE_CUDA_(call) \
  [&] {                          \
    if constexpr (std::is_same_v<T, float>) ::simad::cuda::kernels::call; \
  }
#else
#define SIMAD_REDUCE_CUDA_(call) [] {}
#endif

// ---- all elements
#define SIMAD_REDUCE_ALL_(name)                                                                          \
  template <typename T>                                                                                  \
  void name##_forward(const Tensor<T>& out, const Tensor<T>& inp) {                                      \
    constexpr const char* op = #name "_forward";                                                         \
    SIMAD_CHECK(inp.defined(), op, ": inp is undefined");                                                \
    detail::reduce_numel(op, out, 1, "out");                                                             \
    const int64_t N = inp.numel();                                                                       \
    detail::reduce_dispatch<T>(                                                                          \
        op, detail::common_device(op, out, inp), SIMAD_REDUCE_CUDA_(name##_forward(out.data(), inp.data(), N)), \
        [&] { name##_forward(out.data(), inp.data(), N); });                                             \
  }                                                                                                      \
  template <typename T>                                                                                  \
  void name##_backward(const Tensor<T>& dinp, const Tensor<T>& dout) {                                   \
    constexpr const char* op = #name "_backward";                                                        \
    detail::reduce_numel(op, dout, 1, "dout");                                                           \
    if (!dinp.defined()) return;                                                                         \
    const int64_t N = dinp.numel();                                                                      \
    detail::reduce_dispatch<T>(                                                                          \
        op, detail::common_device(op, dinp, dout),                                                       \
        SIMAD_REDUCE_CUDA_(name##_backward(dinp.data(), dout.data(), N)),                                \
        [&] { name##_backward(dinp.data(), dout.data(), N); });                                          \
  }

SIMAD_REDUCE_ALL_(sum)
SIMAD_REDUCE_ALL_(mean)

// ---- over rows (out has C elements) and over columns (out has N elements)
#define SIMAD_REDUCE_AXIS_(name, out_extent)                                                             \
  template <typename T>                                                                                  \
  void name##_forward(const Tensor<T>& out, const Tensor<T>& inp) {                                      \
    constexpr const char* op = #name "_forward";                                                         \
    int64_t N = 0, C = 0;                                                                                \
    detail::reduce_rows_cols(op, inp, N, C);                                                             \
    detail::reduce_numel(op, out, out_extent, "out");                                                    \
    detail::reduce_dispatch<T>(                                                                          \
        op, detail::common_device(op, out, inp),                                                         \
        SIMAD_REDUCE_CUDA_(name##_forward(out.data(), inp.data(), N, C)),                                \
        [&] { name##_forward(out.data(), inp.data(), N, C); });                                          \
  }                                                                                                      \
  template <typename T>                                                                                  \
  void name##_backward(const Tensor<T>& dinp, const Tensor<T>& dout) {                                   \
    constexpr const char* op = #name "_backward";                                                        \
    if (!dinp.defined()) return;                                                                         \
    int64_t N = 0, C = 0;                                                                                \
    detail::reduce_rows_cols(op, dinp, N, C);                                                            \
    detail::reduce_numel(op, dout, out_extent, "dout");                                                  \
    detail::reduce_dispatch<T>(                                                                          \
        op, detail::common_device(op, dinp, dout),                                                       \
        SIMAD_REDUCE_CUDA_(name##_backward(dinp.data(), dout.data(), N, C)),                             \
        [&] { name##_backward(dinp.data(), dout.data(), N, C); });                                       \
  }

SIMAD_REDUCE_AXIS_(sum_over_rows, C)
SIMAD_REDUCE_AXIS_(mean_over_rows, C)
SIMAD_REDUCE_AXIS_(sum_over_cols, N)
SIMAD_REDUCE_AXIS_(mean_over_cols, N)

#undef SIMAD_REDUCE_AXIS_
#undef SIMAD_REDUCE_ALL_
#undef SIMAD_REDUCE_CUDA_

}  // namespace simad::ops
