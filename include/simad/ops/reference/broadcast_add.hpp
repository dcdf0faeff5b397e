// simad/ops/reference/broadcast_add.hpp: the readable specification of ops/broadcast_add.hpp (same names,
// same arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
// Add one vector per set to every member of the set (KSG, eq. 4: W_w h_i + W_c s; SCA, eq. 5):
//   out[b, s, c] = a[b, s, c] + v[b, c]          (OVERWRITES out; out may be a)
// Backward ACCUMULATES (either gradient may be nullptr):
//   da += dout,   dv[b, c] += sum_s dout[b, s, c]   (summed in double)
#pragma once

#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void broadcast_add_forward(T* out,      // (B, S, C)
                           const T* a,  // (B, S, C)
                           const T* v,  // (B, C)
                           int64_t B, int64_t S, int64_t C) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t c = 0; c < C; ++c) out[(b * S + s) * C + c] = a[(b * S + s) * C + c] + v[b * C + c];
}

template <typename T>
void broadcast_add_backward(T* da,          // (B, S, C) or nullptr
                            T* dv,          // (B, C) or nullptr
                            const T* dout,  // (B, S, C)
                            int64_t B, int64_t S, int64_t C) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0;
      for (int64_t s = 0; s < S; ++s) {
        const T g = dout[(b * S + s) * C + c];
        if (da) da[(b * S + s) * C + c] = T(double(da[(b * S + s) * C + c]) + double(g));
        sum += double(g);
      }
      if (dv) dv[b * C + c] = T(double(dv[b * C + c]) + sum);
    }
}

}  // namespace simad::ops::reference
