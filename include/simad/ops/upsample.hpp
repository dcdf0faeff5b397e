// simad/ops/upsample.hpp: nearest-neighbour upsampling by an integer stride, NCHW, as Darknet's
// [upsample] (src/blas.c upsample_cpu): out[b, c, y, x] = scale * inp[b, c, y / S, x / S].
// Backward: dinp[b, c, y, x] += scale * sum of dout over the S x S block that copied it.
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

template <typename T>
void upsample_nearest_backward(T* dinp,        // (B, C, H, W)
                               const T* dout,  // (B, C, H * S, W * S)
                               int64_t B, int64_t C, int64_t H, int64_t W, int64_t S, T scale = T(1)) {
  SIMAD_CHECK(B >= 0 && C >= 0 && H >= 0 && W >= 0 && S >= 1, "upsample_nearest_backward: bad arguments B=", B,
              " C=", C, " H=", H, " W=", W, " stride=", S);
  const int64_t Ho = H * S, Wo = W * S;
  parallel_for(B * C, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* dst = dinp + p * H * W;
      const T* g = dout + p * Ho * Wo;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          T acc = T(0);
          for (int64_t i = 0; i < S; ++i)
            for (int64_t j = 0; j < S; ++j) acc += g[(y * S + i) * Wo + x * S + j];
          dst[y * W + x] += scale * acc;
        }
    }
  });
}

}  // namespace simad::ops
