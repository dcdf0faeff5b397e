// simad/ops/dispatch/elementwise.hpp: the small vector operations a layer needs between its ops,
// on the tensors' device (CPU loops, or the kernels of kernels/elementwise.cu and device copies):
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
// CUDA work is asynchronous on the default stream. The CPU loops compute exactly x * alpha and
// y + alpha * x (no FMA: the tree builds with -ffp-contract=off), as the kernels do.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"

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
  detail::on_device<T>(
      "fill", x.device(), [&] { std::fill_n(x.data(), x.numel(), value); },
      [&] { SIMAD_CUDA_KERNEL_CALL(T, fill(x.data(), value, x.numel())); });
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
  detail::on_device<T>(
      "scale", x.device(),
      [&] {
        T* p = x.data();
        for (int64_t i = 0; i < x.numel(); ++i) p[i] = alpha == T(0) ? T(0) : p[i] * alpha;
      },
      [&] { SIMAD_CUDA_KERNEL_CALL(T, scale(x.data(), alpha, x.numel())); });
}

template <typename T>
void axpy(const Tensor<T>& y, T alpha, const Tensor<T>& x) {
  detail::same_numel("axpy", y, x);
  detail::on_device<T>(
      "axpy", detail::common_device("axpy", y, x),
      [&] {
        T* py = y.data();
        const T* px = x.data();
        for (int64_t i = 0; i < y.numel(); ++i) py[i] += alpha * px[i];
      },
      [&] { SIMAD_CUDA_KERNEL_CALL(T, axpy(y.data(), alpha, x.data(), y.numel())); });
}

template <typename T>
void add(const Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& b) {
  detail::same_numel("add", out, a);
  detail::same_numel("add", out, b);
  const Device device = detail::common_device("add", out, a, b);
  if (device == Device::cpu) {
    T* o = out.data();
    const T *pa = a.data(), *pb = b.data();
    for (int64_t i = 0; i < out.numel(); ++i) o[i] = pa[i] + pb[i];
    return;
  }
  // out = a + b as out = a; out += 1 * b (1 * b is b exactly), or out += a when out is b.
  if (out.data() == b.data()) return axpy(out, T(1), a);
  copy(out, a);
  axpy(out, T(1), b);
}

template <typename T>
void mul_forward(const Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& b) {
  detail::same_numel("mul_forward", out, a);
  detail::same_numel("mul_forward", out, b);
  detail::on_device<T>(
      "mul_forward", detail::common_device("mul_forward", out, a, b),
      [&] {
        T* o = out.data();
        const T *pa = a.data(), *pb = b.data();
        for (int64_t i = 0; i < out.numel(); ++i) o[i] = pa[i] * pb[i];
      },
      [&] { SIMAD_CUDA_KERNEL_CALL(T, mul_forward(out.data(), a.data(), b.data(), out.numel())); });
}

template <typename T>
void mul_backward(const Tensor<T>& da, const Tensor<T>& db, const Tensor<T>& dout, const Tensor<T>& a,
                  const Tensor<T>& b) {
  detail::same_numel("mul_backward", dout, a);
  detail::same_numel("mul_backward", dout, b);
  SIMAD_CHECK(!da.defined() || da.numel() == a.numel(), "mul_backward: da must match a ", a.shape());
  SIMAD_CHECK(!db.defined() || db.numel() == b.numel(), "mul_backward: db must match b ", b.shape());
  T* pda = da.defined() ? da.data() : nullptr;
  T* pdb = db.defined() ? db.data() : nullptr;
  detail::on_device<T>(
      "mul_backward", detail::defined_common_device("mul_backward", da, db, dout, a, b),
      [&] {
        const T *g = dout.data(), *pa = a.data(), *pb = b.data();
        for (int64_t i = 0; i < dout.numel(); ++i) {
          if (pda) pda[i] += g[i] * pb[i];
          if (pdb) pdb[i] += g[i] * pa[i];
        }
      },
      [&] { SIMAD_CUDA_KERNEL_CALL(T, mul_backward(pda, pdb, dout.data(), a.data(), b.data(), dout.numel())); });
}

}  // namespace simad::ops
