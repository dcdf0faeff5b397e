// simad/ops/upsample.hpp: nearest-neighbour upsampling by an integer stride, NCHW, as Darknet's
// [upsample] (src/blas.c upsample_cpu): out[b, c, y, x] = scale * inp[b, c, y / S, x / S].
// Forward only (the detector is frozen).
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

template <typename T>
void upsample_nearest_forward(T* out,        // (B, C, H * S, W * S)
                              const T* inp,  // (B, C, H, W)
                              int64_t B, int64_t C, int64_t H, int64_t W, int64_t S, T scale = T(1)) {
  SIMAD_CHECK(B >= 0 && C >= 0 && H >= 0 && W >= 0 && S >= 1, "upsample_nearest: bad arguments B=", B, " C=", C,
              " H=", H, " W=", W, " stride=", S);
  const int64_t Ho = H * S, Wo = W * S;
  parallel_for(B * C, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* src = inp + p * H * W;
      T* dst = out + p * Ho * Wo;
      for (int64_t y = 0; y < Ho; ++y) {
        const T* srow = src + (y / S) * W;
        T* drow = dst + y * Wo;
        for (int64_t x = 0; x < Wo; ++x) drow[x] = scale * srow[x / S];
      }
    }
  });
}

}  // namespace simad::ops
