// simad/ops/reference/linear.hpp: the readable specification of ops/linear.hpp (same names, same
// arguments, same semantics), in plain loops with double accumulators, one thread. Used by the tests;
// never by the library itself. A fully connected layer, weight stored (OC, C) as in PyTorch and llm.c:
//   out (N, OC) = inp (N, C) weight^T + bias,   out_io = sum_c inp_ic weight_oc + bias_o
// The forward OVERWRITES out; bias may be nullptr (no bias). The backward ACCUMULATES; any gradient
// pointer may be nullptr (skipped):
//   dinp (N, C)     += dout weight        dinp_ic    += sum_o dout_io weight_oc
//   dweight (OC, C) += dout^T inp         dweight_oc += sum_i dout_io inp_ic
//   dbias (OC)      += sum_i dout_io
#pragma once

#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void linear_forward(T* out,           // (N, OC)
                    const T* inp,     // (N, C)
                    const T* weight,  // (OC, C)
                    const T* bias,    // (OC) or nullptr (no bias)
                    int64_t N, int64_t C, int64_t OC) {
  for (int64_t i = 0; i < N; ++i)
    for (int64_t o = 0; o < OC; ++o) {
      double s = bias ? double(bias[o]) : 0.0;
      for (int64_t c = 0; c < C; ++c) s += double(inp[i * C + c]) * double(weight[o * C + c]);
      out[i * OC + o] = T(s);
    }
}

template <typename T>
void linear_backward(T* dinp,          // (N, C) or nullptr
                     T* dweight,       // (OC, C) or nullptr
                     T* dbias,         // (OC) or nullptr
                     const T* dout,    // (N, OC)
                     const T* inp,     // (N, C) the forward input (read only for dweight)
                     const T* weight,  // (OC, C) (read only for dinp)
                     int64_t N, int64_t C, int64_t OC) {
  if (dinp)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t o = 0; o < OC; ++o) s += double(dout[i * OC + o]) * double(weight[o * C + c]);
        dinp[i * C + c] = T(double(dinp[i * C + c]) + s);
      }
  if (dweight)
    for (int64_t o = 0; o < OC; ++o)
      for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t i = 0; i < N; ++i) s += double(dout[i * OC + o]) * double(inp[i * C + c]);
        dweight[o * C + c] = T(double(dweight[o * C + c]) + s);
      }
  if (dbias)
    for (int64_t o = 0; o < OC; ++o) {
      double s = 0;
      for (int64_t i = 0; i < N; ++i) s += double(dout[i * OC + o]);
      dbias[o] = T(double(dbias[o]) + s);
    }
}

}  // namespace simad::ops::reference
