// simad/ops/reference/dropout.hpp: the readable specification of ops/dropout.hpp, in plain loops, one
// thread. Used by the tests; never by the library itself. Inverted dropout given its keep mask:
//   out_i  = keep_i ? inp_i / (1 - p) : 0      so E[out_i] = inp_i and evaluation needs no rescaling
//   dinp_i += keep_i ? dout_i / (1 - p) : 0    (backward ACCUMULATES; dinp nullptr: skipped)
// The reference APPLIES a mask, it does not draw one: ops::dropout_forward draws keep_i = [u_i >= p],
// u_i = rng.uniform_at(offset + i), and saves it; tests compare that mask with rng.uniform_at directly.
// So dropout_forward differs from the op's: keep is an INPUT (nullptr = keep all, as p == 0) and there
// is no rng or offset: dropout_forward(out, keep, inp, n, p). dropout_backward has the op's arguments
// (keep may be nullptr only when p == 0). out == inp is fine.
#pragma once

#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void dropout_forward(T* out,               // (n)
                     const uint8_t* keep,  // (n) 1 = kept, 0 = dropped; or nullptr (all kept)
                     const T* inp,         // (n)
                     int64_t n, T p) {
  for (int64_t i = 0; i < n; ++i) out[i] = (!keep || keep[i]) ? T(double(inp[i]) / (1.0 - double(p))) : T(0);
}

template <typename T>
void dropout_backward(T* dinp,              // (n) or nullptr
                      const T* dout,        // (n)
                      const uint8_t* keep,  // (n) the forward's mask, or nullptr (p == 0)
                      int64_t n, T p) {
  if (!dinp) return;
  for (int64_t i = 0; i < n; ++i)
    if (!keep || keep[i]) dinp[i] = T(double(dinp[i]) + double(dout[i]) / (1.0 - double(p)));
}

}  // namespace simad::ops::reference
