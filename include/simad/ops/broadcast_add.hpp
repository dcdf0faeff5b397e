// simad/ops/broadcast_add.hpp: add one vector per set to every member of the set:
//   out[b, s, c] = a[b, s, c] + v[b, c]          (out may be a)
// ION adds the context's gate term to every word's (KSG, eq. 4: W_w h_i + W_c s) and the text's score
// to every region's (SCA, eq. 5). Backward ACCUMULATES (either gradient may be nullptr):
//   da += dout,   dv[b, c] += sum_s dout[b, s, c]   (s in order)
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

template <typename T>
void broadcast_add_forward(T* out, const T* a, const T* v, int64_t B, int64_t S, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "broadcast_add: floating-point element type");
  SIMAD_CHECK(B >= 0 && S >= 0 && C >= 0, "broadcast_add_forward: negative size B=", B, " S=", S, " C=", C);
  if (B * S * C == 0) return;
  SIMAD_CHECK(out && a && v, "broadcast_add_forward: null pointer");
  parallel_for(B, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t c = 0; c < C; ++c) out[(b * S + s) * C + c] = a[(b * S + s) * C + c] + v[b * C + c];
  });
}

template <typename T>
void broadcast_add_backward(T* da, T* dv, const T* dout, int64_t B, int64_t S, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "broadcast_add: floating-point element type");
  SIMAD_CHECK(B >= 0 && S >= 0 && C >= 0, "broadcast_add_backward: negative size B=", B, " S=", S, " C=", C);
  if (B * S * C == 0 || (!da && !dv)) return;
  SIMAD_CHECK(dout, "broadcast_add_backward: null dout");
  parallel_for(B, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t c = 0; c < C; ++c) {
          const T g = dout[(b * S + s) * C + c];
          if (da) da[(b * S + s) * C + c] += g;
          if (dv) dv[b * C + c] += g;
        }
  });
}

}  // namespace simad::ops
