// simad/ops/dispatch/dropout.hpp: inverted dropout on Tensors, run on the tensors' device, with the
// masks of simad/ops/dropout.hpp on both (the kernel draws the same Philox numbers: a CUDA run drops
// exactly the elements a CPU run drops).
//   ops::dropout_forward(out, keep, inp, p, rng, offset)   out OVERWRITTEN (may be inp); keep (uint8, same
//                                                          element count) saved, or undefined
//   ops::dropout_backward(dinp, dout, keep, p)             dinp ACCUMULATES; undefined dinp: skipped;
//                                                          keep may be undefined only when p == 0
// All tensors on the CPU or all on Device::cuda (float; needs simad::kernels).
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/dropout.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/dropout.hpp"
#endif

namespace simad::ops {

template <typename T>
void dropout_forward(const Tensor<T>& out, const Tensor<uint8_t>& keep, const Tensor<T>& inp, T p, const Rng& rng,
                     uint64_t offset) {
  constexpr const char* op = "dropout_forward";
  SIMAD_CHECK(out.defined() && inp.defined(), op, ": undefined out or inp");
  const int64_t n = inp.numel();
  SIMAD_CHECK(out.numel() == n, op, ": out ", out.shape(), " and inp ", inp.shape(), " differ in size");
  SIMAD_CHECK(!keep.defined() || keep.numel() == n, op, ": keep ", keep.shape(), " must have ", n, " elements");
  uint8_t* k = detail::data_or_null(keep);
  detail::on_device<T>(
      op, detail::defined_common_device(op, out, inp, keep),
      [&] { dropout_forward(out.data(), k, inp.data(), n, p, rng, offset); },
      [&] {
        SIMAD_CUDA_KERNEL_CALL(T, dropout_forward(out.data(), k, inp.data(), n, p, rng.seed(), rng.stream(), offset));
      });
}

template <typename T>
void dropout_backward(const Tensor<T>& dinp, const Tensor<T>& dout, const Tensor<uint8_t>& keep, T p) {
  constexpr const char* op = "dropout_backward";
  if (!dinp.defined()) return;
  SIMAD_CHECK(dout.defined() && dout.numel() == dinp.numel(), op, ": dout and dinp ", dinp.shape(),
              " must have the same size");
  const int64_t n = dinp.numel();
  SIMAD_CHECK(!keep.defined() || keep.numel() == n, op, ": keep ", keep.shape(), " must have ", n, " elements");
  const uint8_t* k = detail::data_or_null(keep);
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, dinp, dout, keep),
                       dropout_backward(dinp.data(), dout.data(), k, n, p));
}

}  // namespace simad::ops
