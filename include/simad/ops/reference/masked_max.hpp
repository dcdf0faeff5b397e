// simad/ops/reference/masked_max.hpp: the readable specification of ops/masked_max.hpp (same names, same
// arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
// Max pooling over a set, ignoring padded members:
//   out_bj = max over real s of inp_bsj,   argmax_bj = the first such s attaining it
// inp (B, S, C); mask (B, S): 1 = real, 0 = padding; nullptr = all real. Ties go to the FIRST s. A set
// whose members are ALL padded outputs 0 with argmax -1. The forward OVERWRITES out and argmax; the
// backward ACCUMULATES (dinp nullptr: skipped; an argmax outside [-1, S) throws simad::Error):
//   dinp[b, argmax_bj, j] += dout_bj   (nothing where argmax_bj == -1)
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"

namespace simad::ops::reference {

template <typename T>
void masked_max_forward(T* out,               // (B, C)
                        int32_t* argmax,      // (B, C) s of the max, -1 for an all-padded set
                        const T* inp,         // (B, S, C)
                        const uint8_t* mask,  // (B, S) or nullptr (all real)
                        int64_t B, int64_t S, int64_t C) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < C; ++j) {
      int32_t best = -1;
      for (int64_t s = 0; s < S; ++s) {
        if (mask && !mask[b * S + s]) continue;
        // strict >: ties keep the first member
        if (best == -1 || inp[(b * S + s) * C + j] > inp[(b * S + best) * C + j]) best = int32_t(s);
      }
      out[b * C + j] = best == -1 ? T(0) : inp[(b * S + best) * C + j];
      argmax[b * C + j] = best;
    }
}

template <typename T>
void masked_max_backward(T* dinp,                // (B, S, C) or nullptr
                         const T* dout,          // (B, C)
                         const int32_t* argmax,  // (B, C) saved by the forward
                         int64_t B, int64_t S, int64_t C) {
  if (!dinp) return;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < C; ++j) {
      const int64_t s = argmax[b * C + j];
      if (s == -1) continue;
      SIMAD_CHECK(s >= 0 && s < S, "masked_max_backward: argmax ", s, " at (", b, ", ", j, ") is outside [-1, ", S,
                  ")");
      T& d = dinp[(b * S + s) * C + j];
      d = T(double(d) + double(dout[b * C + j]));
    }
}

}  // namespace simad::ops::reference
