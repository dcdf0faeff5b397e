// simad/ops/reference/upsample.hpp: the readable specification of ops/upsample.hpp (same names, same
// arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
// Nearest-neighbour upsampling by an integer stride S, NCHW, as Darknet's [upsample] (upsample_cpu):
//   out[b, c, y, x] = scale * inp[b, c, y / S, x / S]                       (OVERWRITES out)
//   dinp[b, c, y, x] += scale * sum of dout over the S x S block it was copied to   (ACCUMULATES)
#pragma once

#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void upsample_nearest_forward(T* out,        // (B, C, H * S, W * S)
                              const T* inp,  // (B, C, H, W)
                              int64_t B, int64_t C, int64_t H, int64_t W, int64_t S, T scale = T(1)) {
  const int64_t Ho = H * S, Wo = W * S;
  for (int64_t p = 0; p < B * C; ++p)
    for (int64_t y = 0; y < Ho; ++y)
      for (int64_t x = 0; x < Wo; ++x) out[(p * Ho + y) * Wo + x] = scale * inp[(p * H + y / S) * W + x / S];
}

template <typename T>
void upsample_nearest_backward(T* dinp,        // (B, C, H, W)
                               const T* dout,  // (B, C, H * S, W * S)
                               int64_t B, int64_t C, int64_t H, int64_t W, int64_t S, T scale = T(1)) {
  const int64_t Ho = H * S, Wo = W * S;
  for (int64_t p = 0; p < B * C; ++p)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double acc = 0;
        for (int64_t i = 0; i < S; ++i)
          for (int64_t j = 0; j < S; ++j) acc += double(dout[(p * Ho + y * S + i) * Wo + x * S + j]);
        dinp[(p * H + y) * W + x] = T(double(dinp[(p * H + y) * W + x]) + double(scale) * acc);
      }
}

}  // namespace simad::ops::reference
