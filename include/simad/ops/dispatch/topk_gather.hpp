// simad/ops/dispatch/topk_gather.hpp: the gather of the kept members on Tensors
// (simad/ops/topk_gather.hpp), run on the tensors' device (CPU op or kernels/topk_gather.cu).
//   ops::topk_gather_forward(out, inp, weight, idx)                      out (B, k, C) OVERWRITTEN
//   ops::topk_gather_backward(dinp, dweight, dout, inp, weight, idx)     ACCUMULATE; undefined: skipped
// inp (B, S, C); idx (B, k) int32 from topk_select (-1 = empty slot); weight (B, k) or undefined (1).
// The selection itself runs on the host (a sort of a few scores per ad): copy the scores there.
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/topk_gather.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/topk_gather.hpp"
#endif

namespace simad::ops {

namespace detail {
template <typename T>
void topk_gather_sizes(const char* op, const Tensor<T>& inp, const Tensor<int32_t>& idx, const Tensor<T>& weight,
                       int64_t& B, int64_t& S, int64_t& k, int64_t& C) {
  SIMAD_CHECK(inp.defined() && inp.rank() == 3, op, ": inp must be (B, S, C)");
  B = inp.dim(0), S = inp.dim(1), C = inp.dim(2);
  SIMAD_CHECK(idx.defined() && idx.rank() == 2 && idx.dim(0) == B, op, ": idx must be (B=", B, ", k)");
  k = idx.dim(1);
  SIMAD_CHECK(!weight.defined() || weight.numel() == B * k, op, ": weight must have B k = ", B * k, " elements");
}
}  // namespace detail

template <typename T>
void topk_gather_forward(const Tensor<T>& out, const Tensor<T>& inp, const Tensor<T>& weight,
                         const Tensor<int32_t>& idx) {
  constexpr const char* op = "topk_gather_forward";
  int64_t B = 0, S = 0, k = 0, C = 0;
  detail::topk_gather_sizes(op, inp, idx, weight, B, S, k, C);
  SIMAD_CHECK(out.defined() && out.numel() == B * k * C, op, ": out must be (B, k, C) = ", Shape{B, k, C});
  const T* w = detail::data_or_null(weight);
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, out, inp, weight, idx),
                       topk_gather_forward(out.data(), inp.data(), w, idx.data(), B, S, k, C));
}

template <typename T>
void topk_gather_backward(const Tensor<T>& dinp, const Tensor<T>& dweight, const Tensor<T>& dout, const Tensor<T>& inp,
                          const Tensor<T>& weight, const Tensor<int32_t>& idx) {
  constexpr const char* op = "topk_gather_backward";
  int64_t B = 0, S = 0, k = 0, C = 0;
  detail::topk_gather_sizes(op, inp, idx, weight, B, S, k, C);
  SIMAD_CHECK(dout.defined() && dout.numel() == B * k * C, op, ": dout must be (B, k, C) = ", Shape{B, k, C});
  SIMAD_CHECK(!dinp.defined() || dinp.numel() == inp.numel(), op, ": dinp must match inp ", inp.shape());
  SIMAD_CHECK(!dweight.defined() || dweight.numel() == B * k, op, ": dweight must have B k = ", B * k, " elements");
  T* di = detail::data_or_null(dinp);
  T* dw = detail::data_or_null(dweight);
  const T* w = detail::data_or_null(weight);
  SIMAD_ON_DEVICE_CALL(T, op, detail::defined_common_device(op, dinp, dweight, dout, inp, weight, idx),
                       topk_gather_backward(di, dw, dout.data(), inp.data(), w, idx.data(), B, S, k, C));
}

}  // namespace simad::ops
