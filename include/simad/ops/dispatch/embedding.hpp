// simad/ops/dispatch/embedding.hpp: Tensor-level embedding lookup that runs on the tensors' device.
// Tensor overloads of the pointer functions of simad/ops/embedding.hpp:
//   ops::embedding_forward(out, ids, table, padding_id = -1)     out_i = table[ids_i] (OVERWRITES)
//   ops::embedding_backward(dtable, dout, ids, padding_id = -1)  dtable[ids_i] += dout_i (ACCUMULATES;
//                                                                an undefined dtable is skipped)
// out / dout are (N, C) or (..., C) with N = the product of the leading dimensions = ids.numel();
// table / dtable are (V, C). All on the CPU, or all on Device::cuda (float; needs simad::kernels, which
// defines SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw simad::Error. CUDA work is asynchronous on the
// default stream (after the launcher's id check, which synchronises once).
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/embedding.hpp"
#include "simad/ops/dispatch/common.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/embedding.hpp"
#endif

namespace simad::ops {

namespace detail {
// Checks rows (N, C) against ids (N) and table (V, C); returns N, C, V.
template <typename T>
void embedding_shapes(const char* op, const Tensor<T>& rows, const Tensor<int32_t>& ids, const Tensor<T>& table,
                      int64_t& N, int64_t& C, int64_t& V) {
  SIMAD_CHECK(rows.defined() && ids.defined() && table.defined(), op, ": undefined tensor");
  SIMAD_CHECK(rows.rank() >= 1, op, ": rank >= 1 rows expected, got ", rows.shape());
  SIMAD_CHECK(table.rank() == 2, op, ": table (V, C) expected, got ", table.shape());
  rows_cols(op, rows, N, C);
  V = table.dim(0);
  SIMAD_CHECK(table.dim(1) == C, op, ": table ", table.shape(), " has C=", table.dim(1), ", rows ", rows.shape(),
              " have C=", C);
  SIMAD_CHECK(ids.numel() == N, op, ": ids ", ids.shape(), " has ", ids.numel(), " elements, rows ", rows.shape(),
              " expect ", N);
}
}  // namespace detail

// out (..., C) = table (V, C) rows ids (N = out.numel() / C); positions holding padding_id output zeros.
template <typename T>
void embedding_forward(const Tensor<T>& out, const Tensor<int32_t>& ids, const Tensor<T>& table,
                       int32_t padding_id = -1) {
  constexpr const char* op = "embedding_forward";
  int64_t N = 0, C = 0, V = 0;
  detail::embedding_shapes(op, out, ids, table, N, C, V);
  SIMAD_ON_DEVICE_CALL(T, op, detail::common_device(op, out, ids, table),
                       embedding_forward(out.data(), ids.data(), table.data(), N, C, V, padding_id));
}

// dtable (V, C) += scatter of dout (..., C) by ids; padding positions are skipped; undefined dtable: skipped.
template <typename T>
void embedding_backward(const Tensor<T>& dtable, const Tensor<T>& dout, const Tensor<int32_t>& ids,
                        int32_t padding_id = -1) {
  constexpr const char* op = "embedding_backward";
  if (!dtable.defined()) return;
  int64_t N = 0, C = 0, V = 0;
  detail::embedding_shapes(op, dout, ids, dtable, N, C, V);
  SIMAD_ON_DEVICE_CALL(T, op, detail::common_device(op, dtable, dout, ids),
                       embedding_backward(dtable.data(), dout.data(), ids.data(), N, C, V, padding_id));
}

}  // namespace simad::ops
