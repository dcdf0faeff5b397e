// simad/ops/dispatch/elementwise.hpp: the small vector operations of ops/elementwise.hpp on Tensors, run
// on the tensors' device (CPU op, or the kernels of kernels/elementwise.cu and device copies):
//   ops::fill(x, v)          x = v
//   ops::copy(dst, src)      dst = src (same element count; any pair of devices when CUDA is built)
//   ops::scale(x, alpha)     x *= alpha
//   ops::axpy(y, alpha, x)   y += alpha x
//   ops::add(out, a, b)      out = a + b (out may be a or b)
//   ops::mul_forward(out, a, b)             out = a * b (out may be a or b)
//   ops::mul_backward(da, db, dout, a, b)   da += dout * b, db += dout * a (ACCUMULATE; undefined: skipped)
//   ops::ensure_zeros(t, shape, device)     a layer's gradient scratch: t (re)allocated when its shape or
//                                           device differ, then zero-filled; returns t
// Element counts must agree (shapes may differ). All tensors on the CPU or all on Device::cuda (float;
// needs simad::kernels, which defines SIMAD_HAVE_CUDA_KERNELS); copy alone may cross devices.
// CUDA work is asynchronous on the default stream.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/elementwise.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/elementwise.hpp"
#include "simad/cuda/runtime.hpp"  // cuda::copy
#endif

namespace simad::ops {

namespace detail {
template <typename T>
void same_numel(const char* op, const Tensor<T>& a, const Tensor<T>& b) {
  SIMAD_CHECK(a.defined() && b.defined(), op, ": undefined tensor");
  SIMAD_CHECK(a.numel() == b.numel(), op, ": element counts differ: ", a.shape(), " and ", b.shape());
}
}  // namespace detail

template <typename T>
void fill(const Tensor<T>& x, T value) {
  SIMAD_CHECK(x.defined(), "fill: undefined tensor");
  SIMAD_ON_DEVICE_CALL(T, "fill", x.device(), fill(x.data(), value, x.numel()));
}

// Any element type (ids and masks too); crosses devices only when CUDA is built.
template <typename T>
void copy(const Tensor<T>& dst, const Tensor<T>& src) {
  detail::same_numel("copy", dst, src);
  if (dst.data() == src.data() || src.numel() == 0) return;
  if (dst.device() == Device::cpu && src.device() == Device::cpu) {
    std::memmove(dst.data(), src.data(), src.bytes());
    return;
  }
#if defined(SIMAD_HAVE_CUDA_KERNELS)
  cuda::copy(dst, src);
#else
  detail::no_cuda_kernels("copy");
#endif
}

template <typename T>
const Tensor<T>& ensure_zeros(Tensor<T>& t, const Shape& shape, Device device) {
  ensure_tensor(t, shape, device);
  fill(t, T(0));
  return t;
}

template <typename T>
void scale(const Tensor<T>& x, T alpha) {
  SIMAD_CHECK(x.defined(), "scale: undefined tensor");
  SIMAD_ON_DEVICE_CALL(T, "scale", x.device(), scale(x.data(), alpha, x.numel()));
}

template <typename T>
void axpy(const Tensor<T>& y, T alpha, const Tensor<T>& x) {
  detail::same_numel("axpy", y, x);
  SIMAD_ON_DEVICE_CALL(T, "axpy", detail::common_device("axpy", y, x), axpy(y.data(), alpha, x.data(), y.numel()));
}

template <typename T>
void add(const Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& b) {
  detail::same_numel("add", out, a);
  detail::same_numel("add", out, b);
  if (detail::common_device("add", out, a, b) == Device::cpu) return add(out.data(), a.data(), b.data(), out.numel());
  // out = a + b as out = a; out += 1 * b (1 * b is b exactly), or out += a when out is b.
  if (out.data() == b.data()) return axpy(out, T(1), a);
  copy(out, a);
  axpy(out, T(1), b);
}

template <typename T>
void mul_forward(const Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& b) {
  detail::same_numel("mul_forward", out, a);
  detail::same_numel("mul_forward", out, b);
  SIMAD_ON_DEVICE_CALL(T, "mul_forward", detail::common_device("mul_forward", out, a, b),
                       mul_forward(out.data(), a.data(), b.data(), out.numel()));
}

template <typename T>
void mul_backward(const Tensor<T>& da, const Tensor<T>& db, const Tensor<T>& dout, const Tensor<T>& a,
                  const Tensor<T>& b) {
  detail::same_numel("mul_backward", dout, a);
  detail::same_numel("mul_backward", dout, b);
  SIMAD_CHECK(!da.defined() || da.numel() == a.numel(), "mul_backward: da must match a ", a.shape());
  SIMAD_CHECK(!db.defined() || db.numel() == b.numel(), "mul_backward: db must match b ", b.shape());
  SIMAD_ON_DEVICE_CALL(T, "mul_backward", detail::defined_common_device("mul_backward", da, db, dout, a, b),
                       mul_backward(detail::data_or_null(da), detail::data_or_null(db), dout.data(), a.data(),
                                    b.data(), dout.numel()));
}

}  // namespace simad::ops
