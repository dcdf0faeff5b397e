// simad/ops/weighted_mean.hpp: the weighted mean of each set's members, as both models pool words:
//   L_b = sum_s w_bs,   den_b = max(1, L_b),   out_bc = sum_s w_bs x_bsc / den_b
// With w = the padding mask (1 = real) it is the masked mean (an all-padded set gives 0): ION's h_bar
// (eq. 5) and the pre-trainer's mean. With w = ION's keyword weights lambda it is KSG's context
// s (eq. 3; the max keeps a text without keywords from dividing by 0).
// den (B) is saved for the backward, which ACCUMULATES (either gradient may be nullptr):
//   dx_bsc += w_bs dout_bc / den_b
//   dw_bs  += sum_c dout_bc (x_bsc - [den_b > 1] out_bc) / den_b     (den_b > 1 means den_b = L_b)
// Sums run over s (then c) in order, so the results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

template <typename T>
void weighted_mean_forward(T* out,        // (B, C)
                           T* den,        // (B) saved: max(1, sum of weights)
                           const T* x,    // (B, S, C)
                           const T* w,    // (B, S)
                           int64_t B, int64_t S, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "weighted_mean: floating-point element type");
  SIMAD_CHECK(B >= 0 && S >= 0 && C >= 0, "weighted_mean_forward: negative size B=", B, " S=", S, " C=", C);
  if (B == 0) return;
  SIMAD_CHECK(out && den && w && (x || S * C == 0), "weighted_mean_forward: null pointer");
  parallel_for(B, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* y = out + b * C;
      std::fill(y, y + C, T(0));
      T L = 0;
      for (int64_t s = 0; s < S; ++s) {
        const T ws = w[b * S + s];
        if (ws == T(0)) continue;  // padding: adds nothing (and NaN-free even if x there is garbage)
        L += ws;
        const T* xs = x + (b * S + s) * C;
        for (int64_t c = 0; c < C; ++c) y[c] += ws * xs[c];
      }
      den[b] = std::max(T(1), L);
      for (int64_t c = 0; c < C; ++c) y[c] /= den[b];
    }
  });
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
  static_assert(std::is_floating_point_v<T>, "weighted_mean: floating-point element type");
  SIMAD_CHECK(B >= 0 && S >= 0 && C >= 0, "weighted_mean_backward: negative size B=", B, " S=", S, " C=", C);
  if (B == 0 || (!dx && !dw)) return;
  SIMAD_CHECK(dout && w && den && (!dw || (x && out)), "weighted_mean_backward: null pointer");
  parallel_for(B, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* g = dout + b * C;
      const T n = den[b];
      for (int64_t s = 0; s < S; ++s) {
        const T ws = w[b * S + s];
        if (dx && ws != T(0)) {
          T* d = dx + (b * S + s) * C;
          for (int64_t c = 0; c < C; ++c) d[c] += ws * g[c] / n;
        }
        if (dw) {
          const T* xs = x + (b * S + s) * C;
          const T* y = out + b * C;
          T acc = 0;
          if (n > T(1))
            for (int64_t c = 0; c < C; ++c) acc += g[c] * ((xs[c] - y[c]) / n);
          else
            for (int64_t c = 0; c < C; ++c) acc += g[c] * xs[c];
          dw[b * S + s] += acc;
        }
      }
    }
  });
}

}  // namespace simad::ops
