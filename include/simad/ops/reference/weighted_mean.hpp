// simad/ops/reference/weighted_mean.hpp: the readable specification of ops/weighted_mean.hpp (same names,
// same arguments, same semantics), in plain loops with double accumulators, one thread. Used by the
// tests; never by the library itself. The weighted mean of each set's members:
//   L_b = sum_s w_bs,   den_b = max(1, L_b),   out_bc = sum_s w_bs x_bsc / den_b
// With w = the padding mask it is the masked mean (ION's h_bar, eq. 5); with w = ION's keyword weights
// lambda it is KSG's context s (eq. 3). Members with w_bs == 0 are skipped (x there may be garbage).
// The forward OVERWRITES out and den (B, saved). The backward ACCUMULATES (either gradient may be nullptr):
//   dx_bsc += w_bs dout_bc / den_b
//   dw_bs  += sum_c dout_bc (x_bsc - [den_b > 1] out_bc) / den_b     (den_b > 1 means den_b = L_b)
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace simad::ops::reference {

template <typename T>
void weighted_mean_forward(T* out,      // (B, C)
                           T* den,      // (B) saved: max(1, sum of weights)
                           const T* x,  // (B, S, C)
                           const T* w,  // (B, S)
                           int64_t B, int64_t S, int64_t C) {
  std::vector<double> acc(static_cast<size_t>(C));
  for (int64_t b = 0; b < B; ++b) {
    double L = 0;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t s = 0; s < S; ++s) {
      const double ws = double(w[b * S + s]);
      if (ws == 0) continue;
      L += ws;
      for (int64_t c = 0; c < C; ++c) acc[size_t(c)] += ws * double(x[(b * S + s) * C + c]);
    }
    const double d = std::max(1.0, L);
    for (int64_t c = 0; c < C; ++c) out[b * C + c] = T(acc[size_t(c)] / d);
    den[b] = T(d);
  }
}

template <typename T>
void weighted_mean_backward(T* dx,          // (B, S, C) or nullptr
                            T* dw,          // (B, S) or nullptr
                            const T* dout,  // (B, C)
                            const T* x,     // (B, S, C) the forward's
                            const T* w,     // (B, S)
                            const T* out,   // (B, C) the forward's
                            const T* den,   // (B) the forward's
                            int64_t B, int64_t S, int64_t C) {
  for (int64_t b = 0; b < B; ++b) {
    const double n = double(den[b]);
    for (int64_t s = 0; s < S; ++s) {
      const double ws = double(w[b * S + s]);
      if (dx && ws != 0)
        for (int64_t c = 0; c < C; ++c) {
          T& d = dx[(b * S + s) * C + c];
          d = T(double(d) + ws * double(dout[b * C + c]) / n);
        }
      if (dw) {
        double acc = 0;
        for (int64_t c = 0; c < C; ++c) {
          const double y = n > 1 ? double(out[b * C + c]) : 0.0;
          acc += double(dout[b * C + c]) * (double(x[(b * S + s) * C + c]) - y) / n;
        }
        dw[b * S + s] = T(double(dw[b * S + s]) + acc);
      }
    }
  }
}

}  // namespace simad::ops::reference
