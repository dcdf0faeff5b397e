// simad/ops/reference/maxpool2d.hpp: the readable specification of ops/maxpool2d.hpp (same names, same
// arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
// 2-D max pooling with Darknet's padding rule (src/maxpool_layer.c), NCHW:
//   Ho = (H + padding - size) / stride + 1, window origin = y * stride - padding / 2 (integer);
//   positions outside the input are skipped (Darknet reads them as -FLT_MAX).
// best starts at -max. With argmax (the winner's y * W + x in its plane, or -1 for a window wholly
// outside the input) the first element inside the window is taken unconditionally and later ones on
// a strict '>' (ties: the first in row-major window order); without, best = max(best, v) in window
// order. The forward OVERWRITES out (and argmax); the backward ACCUMULATES:
//   dinp[b, c, argmax] += dout[b, c, y, x]   (nothing where argmax == -1)
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

namespace simad::ops::reference {

inline int64_t maxpool2d_out_size(int64_t in, int64_t size, int64_t stride, int64_t padding) {
  return (in + padding - size) / stride + 1;
}

template <typename T>
void maxpool2d_forward(T* out,        // (B, C, Ho, Wo)
                       const T* inp,  // (B, C, H, W)
                       int64_t B, int64_t C, int64_t H, int64_t W, int64_t size, int64_t stride, int64_t padding,
                       int32_t* argmax = nullptr) {  // (B, C, Ho, Wo) or null
  const int64_t Ho = maxpool2d_out_size(H, size, stride, padding), Wo = maxpool2d_out_size(W, size, stride, padding);
  const int64_t off = -(padding / 2);
  for (int64_t p = 0; p < B * C; ++p)
    for (int64_t y = 0; y < Ho; ++y)
      for (int64_t x = 0; x < Wo; ++x) {
        T best = -std::numeric_limits<T>::max();
        int64_t at = -1;
        for (int64_t wy = 0; wy < size; ++wy)
          for (int64_t wx = 0; wx < size; ++wx) {
            const int64_t iy = y * stride + off + wy, ix = x * stride + off + wx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            const T v = inp[(p * H + iy) * W + ix];
            if (argmax) {
              if (at < 0 || v > best) best = v, at = iy * W + ix;
            } else {
              best = std::max(best, v);
            }
          }
        out[(p * Ho + y) * Wo + x] = best;
        if (argmax) argmax[(p * Ho + y) * Wo + x] = int32_t(at);
      }
}

template <typename T>
void maxpool2d_backward(T* dinp,                // (B, C, H, W)
                        const T* dout,          // (B, C, Ho, Wo)
                        const int32_t* argmax,  // (B, C, Ho, Wo) from the forward
                        int64_t B, int64_t C, int64_t H, int64_t W, int64_t size, int64_t stride,
                        int64_t padding) {  // the forward's window
  const int64_t Ho = (H + padding - size) / stride + 1, Wo = (W + padding - size) / stride + 1;
  for (int64_t p = 0; p < B * C; ++p)
    for (int64_t k = 0; k < Ho * Wo; ++k) {
      const int32_t at = argmax[p * Ho * Wo + k];
      if (at >= 0) dinp[p * H * W + at] = T(double(dinp[p * H * W + at]) + double(dout[p * Ho * Wo + k]));
    }
}

}  // namespace simad::ops::reference
