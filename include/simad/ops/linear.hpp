// simad/ops/linear.hpp: a fully connected layer, weight stored (OC, C) as in PyTorch and llm.c.
//   out (N, OC) = inp (N, C) weight^T + bias,   out_io = sum_c inp_ic weight_oc + bias_o
// Both products go through ops::gemm (OpenBLAS). Backward ACCUMULATES:
//   dinp (N, C)     += dout weight        dweight (OC, C) += dout^T inp
//   dbias (OC)      += sum_i dout_io      (in double, rows in a fixed order: see ops/reduce.hpp, so the
//                                          bits do not depend on the thread count)
// Any gradient pointer may be nullptr (skipped); bias may be nullptr (no bias).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/gemm.hpp"
#include "simad/ops/reduce.hpp"

namespace simad::ops {

namespace detail {
inline void linear_check(const char* what, int64_t N, int64_t C, int64_t OC) {
  SIMAD_CHECK(N >= 0 && C >= 0 && OC >= 0, what, ": negative size N=", N, " C=", C, " OC=", OC);
}
}  // namespace detail

template <typename T>
void linear_forward(T* out,           // (N, OC)
                    const T* inp,     // (N, C)
                    const T* weight,  // (OC, C)
                    const T* bias,    // (OC) or nullptr (no bias)
                    int64_t N, int64_t C, int64_t OC) {
  static_assert(std::is_floating_point_v<T>, "linear: floating-point element type");
  detail::linear_check("linear_forward", N, C, OC);
  if (N == 0 || OC == 0) return;
  SIMAD_CHECK(out != nullptr && (C == 0 || (inp != nullptr && weight != nullptr)),
              "linear_forward: null out, inp or weight for N=", N, " C=", C, " OC=", OC);
  const int64_t ld = std::max<int64_t>(C, 1);
  gemm(false, true, N, OC, C, T(1), inp, ld, weight, ld, T(0), out, OC);
  if (!bias) return;
  parallel_for(N, detail::reduce_grain(OC), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T* y = out + i * OC;
      for (int64_t o = 0; o < OC; ++o) y[o] += bias[o];
    }
  });
}

template <typename T>
void linear_backward(T* dinp,          // (N, C) or nullptr
                     T* dweight,       // (OC, C) or nullptr
                     T* dbias,         // (OC) or nullptr
                     const T* dout,    // (N, OC)
                     const T* inp,     // (N, C) the forward input (read only for dweight)
                     const T* weight,  // (OC, C) (read only for dinp)
                     int64_t N, int64_t C, int64_t OC) {
  static_assert(std::is_floating_point_v<T>, "linear: floating-point element type");
  detail::linear_check("linear_backward", N, C, OC);
  if (N == 0 || OC == 0) return;  // dout is empty: every gradient gets += 0
  SIMAD_CHECK(dout != nullptr, "linear_backward: null dout for N=", N, " OC=", OC);
  const int64_t ld = std::max<int64_t>(C, 1);
  if (dinp && C > 0) {
    SIMAD_CHECK(weight != nullptr, "linear_backward: dinp needs weight");
    gemm(false, false, N, C, OC, T(1), dout, OC, weight, ld, T(1), dinp, ld);
  }
  if (dweight && C > 0) {
    SIMAD_CHECK(inp != nullptr, "linear_backward: dweight needs inp");
    gemm(true, false, OC, C, N, T(1), dout, OC, inp, ld, T(1), dweight, ld);
  }
  if (dbias) detail::reduce_column_sums(dout, N, OC, [&](int64_t o, double s) { dbias[o] += T(s); });
}

}  // namespace simad::ops
