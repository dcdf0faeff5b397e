// simad/ops/maxpool2d.hpp: 2-D max pooling with Darknet's padding rule (src/maxpool_layer.c),
// NCHW, forward and backward.
//   Ho = (H + padding - size) / stride + 1, window origin = y * stride - padding / 2 (integer);
//   positions outside the input are skipped (Darknet reads them as -FLT_MAX).
// With Darknet's default padding = size - 1, size 2 stride 1 pads only the right and bottom (the
// window origin is y - 0), which keeps yolov3-tiny's 13x13 map 13x13.
// For training, the forward can record each output's argmax (index of the winning element in its
// input plane, y * W + x; the first maximum in row-major window order on ties, as Darknet's strict
// '>'; -1 for a window entirely outside the input). The backward adds dout to the input element the
// argmax names (several outputs may add to one element when windows overlap).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

inline int64_t maxpool2d_out_size(int64_t in, int64_t size, int64_t stride, int64_t padding) {
  return (in + padding - size) / stride + 1;
}

template <typename T>
void maxpool2d_forward(T* out,        // (B, C, Ho, Wo)
                       const T* inp,  // (B, C, H, W)
                       int64_t B, int64_t C, int64_t H, int64_t W, int64_t size, int64_t stride, int64_t padding,
                       int32_t* argmax = nullptr) {  // (B, C, Ho, Wo) or null: the winner's y * W + x
  SIMAD_CHECK(B >= 0 && C >= 0 && H >= 1 && W >= 1 && size >= 1 && stride >= 1 && padding >= 0,
              "maxpool2d: bad arguments B=", B, " C=", C, " H=", H, " W=", W, " size=", size, " stride=", stride,
              " padding=", padding);
  SIMAD_CHECK(H + padding >= size && W + padding >= size, "maxpool2d: window ", size, " larger than the padded input");
  SIMAD_CHECK(H * W <= std::numeric_limits<int32_t>::max(), "maxpool2d: plane of ", H, "x", W, " too large");
  const int64_t Ho = maxpool2d_out_size(H, size, stride, padding), Wo = maxpool2d_out_size(W, size, stride, padding);
  const int64_t off = -(padding / 2);
  parallel_for(B * C, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* plane = inp + p * H * W;
      T* dst = out + p * Ho * Wo;
      int32_t* arg = argmax ? argmax + p * Ho * Wo : nullptr;
      for (int64_t y = 0; y < Ho; ++y)
        for (int64_t x = 0; x < Wo; ++x) {
          const int64_t y0 = y * stride + off, x0 = x * stride + off;
          const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + size, H);
          const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + size, W);
          T best = -std::numeric_limits<T>::max();  // Darknet's -FLT_MAX for an all-outside window
          if (arg) {
            int64_t at = -1;
            for (int64_t iy = ya; iy < yb; ++iy)
              for (int64_t ix = xa; ix < xb; ++ix)
                if (plane[iy * W + ix] > best || at < 0) best = plane[iy * W + ix], at = iy * W + ix;
            arg[y * Wo + x] = int32_t(at);
          } else {
            for (int64_t iy = ya; iy < yb; ++iy)
              for (int64_t ix = xa; ix < xb; ++ix) best = std::max(best, plane[iy * W + ix]);
          }
          dst[y * Wo + x] = best;
        }
    }
  });
}

// dinp[b, c, argmax] += dout[b, c, y, x] for every output; argmax from maxpool2d_forward (-1:
// no input element, nothing added). Parallel over planes (an argmax stays in its plane).
template <typename T>
void maxpool2d_backward(T* dinp,              // (B, C, H, W)
                        const T* dout,        // (B, C, Ho, Wo)
                        const int32_t* argmax,  // (B, C, Ho, Wo)
                        int64_t B, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  SIMAD_CHECK(B >= 0 && C >= 0 && H >= 1 && W >= 1 && Ho >= 0 && Wo >= 0, "maxpool2d_backward: bad arguments B=",
              B, " C=", C, " H=", H, " W=", W, " Ho=", Ho, " Wo=", Wo);
  parallel_for(B * C, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* plane = dinp + p * H * W;
      const T* g = dout + p * Ho * Wo;
      const int32_t* arg = argmax + p * Ho * Wo;
      for (int64_t k = 0; k < Ho * Wo; ++k) {
        const int32_t at = arg[k];
        SIMAD_CHECK(at < H * W, "maxpool2d_backward: argmax ", at, " outside the ", H, "x", W, " plane");
        if (at >= 0) plane[at] += g[k];
      }
    }
  });
}

}  // namespace simad::ops
