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

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/reduce.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/reduce.hpp"
#endif

namespace simad::ops {

namespace detail {
template <typename T>
void reduce_numel(const char* op, const Tensor<T>& t, int64_t n, const char* what) {
  SIMAD_CHECK(t.defined(), op, ": ", what, " is undefined");
  SIMAD_CHECK(t.numel() == n, op, ": ", what, " ", t.shape(), " has ", t.numel(), " elements, expected ", n);
}
}  // namespace detail

// ---- all elements
#define SIMAD_REDUCE_ALL_(name)                                                                                  \
  template <typename T>                                                                                          \
  void name##_forward(const Tensor<T>& out, const Tensor<T>& inp) {                                              \
    constexpr const char* op = #name "_forward";                                                                 \
    SIMAD_CHECK(inp.defined(), op, ": inp is undefined");                                                        \
    detail::reduce_numel(op, out, 1, "out");                                                                     \
    const int64_t N = inp.numel();                                                                               \
    SIMAD_ON_DEVICE_CALL(T, op, detail::common_device(op, out, inp), name##_forward(out.data(), inp.data(), N)); \
  }                                                                                                              \
  template <typename T>                                                                                          \
  void name##_backward(const Tensor<T>& dinp, const Tensor<T>& dout) {                                           \
    constexpr const char* op = #name "_backward";                                                                \
    detail::reduce_numel(op, dout, 1, "dout");                                                                   \
    if (!dinp.defined()) return;                                                                                 \
    const int64_t N = dinp.numel();                                                                              \
    SIMAD_ON_DEVICE_CALL(T, op, detail::common_device(op, dinp, dout),                                           \
                         name##_backward(dinp.data(), dout.data(), N));                                          \
  }

SIMAD_REDUCE_ALL_(sum)
SIMAD_REDUCE_ALL_(mean)

// ---- over rows (out has C elements) and over columns (out has N elements)
#define SIMAD_REDUCE_AXIS_(name, out_extent)                               \
  template <typename T>                                                    \
  void name##_forward(const Tensor<T>& out, const Tensor<T>& inp) {        \
    constexpr const char* op = #name "_forward";                           \
    int64_t N = 0, C = 0;                                                  \
    detail::rows_cols(op, inp, N, C);                                      \
    detail::reduce_numel(op, out, out_extent, "out");                      \
    SIMAD_ON_DEVICE_CALL(T, op, detail::common_device(op, out, inp),       \
                         name##_forward(out.data(), inp.data(), N, C));    \
  }                                                                        \
  template <typename T>                                                    \
  void name##_backward(const Tensor<T>& dinp, const Tensor<T>& dout) {     \
    constexpr const char* op = #name "_backward";                          \
    if (!dinp.defined()) return;                                           \
    int64_t N = 0, C = 0;                                                  \
    detail::rows_cols(op, dinp, N, C);                                     \
    detail::reduce_numel(op, dout, out_extent, "dout");                    \
    SIMAD_ON_DEVICE_CALL(T, op, detail::common_device(op, dinp, dout),     \
                         name##_backward(dinp.data(), dout.data(), N, C)); \
  }

SIMAD_REDUCE_AXIS_(sum_over_rows, C)
SIMAD_REDUCE_AXIS_(mean_over_rows, C)
SIMAD_REDUCE_AXIS_(sum_over_cols, N)
SIMAD_REDUCE_AXIS_(mean_over_cols, N)

#undef SIMAD_REDUCE_AXIS_
#undef SIMAD_REDUCE_ALL_

}  // namespace simad::ops
