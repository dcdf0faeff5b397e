// benchmarks/naive_ops.hpp: the "naive" peer of ops that have no external CPU library to compare
// with yet (softmax, layernorm): the plain single-threaded loops of the reference tier
// (include/simad/ops/reference/, llm.c style, double accumulators). Both benchmark programs
// (simad_bench_ops and `simad bench`) time simad's op against these, so a ratio above 1 says how much
// simad's kernel buys over the obvious code. The same functions serve as a sanity check of simad's
// results before a row is timed. Semantics match simad::ops (backward ACCUMULATES into its gradient
// outputs). No mask argument: the benchmarks time the unmasked softmax.
#pragma once

#include <cstdint>

#include "simad/ops/reference/layernorm.hpp"
#include "simad/ops/reference/softmax.hpp"

namespace simad::bench::naive {

// out[i, :] = softmax(inp[i, :]) for N rows of C elements.
template <typename T>
void softmax_forward(T* out, const T* inp, int64_t N, int64_t C) {
  simad::ops::reference::softmax_forward<T>(out, inp, nullptr, N, C);
}

// dinp[i, j] += out[i, j] * (dout[i, j] - sum_k dout[i, k] out[i, k]).
using simad::ops::reference::softmax_backward;

// out = (inp - mean) * rstd * weight + bias per row; mean and rstd (N) are saved for backward.
// Backward accumulates dinp, dweight, dbias.
using simad::ops::reference::layernorm_backward;
using simad::ops::reference::layernorm_forward;

// Bytes each op must move at least once (elements of size `bytes_per_element`): the GB/s both
// benchmark programs report is this over the time of one call.
inline double softmax_forward_bytes(int64_t N, int64_t C, double e) { return e * 2.0 * double(N * C); }
inline double softmax_backward_bytes(int64_t N, int64_t C, double e) { return e * 4.0 * double(N * C); }
inline double layernorm_forward_bytes(int64_t N, int64_t C, double e) {
  return e * (2.0 * double(N * C) + 2.0 * double(C) + 2.0 * double(N));  // inp, out; weight, bias; mean, rstd
}
inline double layernorm_backward_bytes(int64_t N, int64_t C, double e) {
  // dout, inp, dinp (read + write); weight, dweight and dbias (read + write); mean, rstd
  return e * (4.0 * double(N * C) + 5.0 * double(C) + 2.0 * double(N));
}

}  // namespace simad::bench::naive
