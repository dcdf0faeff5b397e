// simad/ops/region_pool.hpp: the image regions' features pooled from a detector's hidden map (MODELS.md,
// "Shared parts"; nn/region_features.hpp builds the windows): for every region (b, k) whose window on this map
// is set (window[b, k] = (y0, y1, x0, x1), y0 >= 0),
//   out[b, k, c] = max of map[b, c, y, x] over y0 <= y < y1, x0 <= x < x1   for c < C,
//   out[b, k, c] = 0                                                          for C <= c < D (zero padding);
// regions whose window has y0 < 0 come from another map: their rows are not written. A detection is a window of
// one cell (its feature is the map at that cell, exactly), "no detection" the whole map, a grid cell its block.
// A set window must lie inside the map and not be empty (the CUDA kernel skips one that does not; the CPU op
// throws naming it).
#pragma once

#include <algorithm>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

template <typename T>
void region_max_pool(T* out,                  // (B, K, D)
                     const T* map,            // (B, C, H, W)
                     const int32_t* windows,  // (B, K, 4): y0, y1, x0, x1; y0 < 0 = not from this map
                     int64_t B, int64_t K, int64_t D, int64_t C, int64_t H, int64_t W) {
  SIMAD_CHECK(B >= 0 && K >= 0 && C >= 0 && D >= C && H >= 1 && W >= 1, "region_max_pool: bad arguments B=", B,
              " K=", K, " D=", D, " C=", C, " H=", H, " W=", W);
  for (int64_t r = 0; r < B * K; ++r) {
    const int32_t* w = windows + 4 * r;
    SIMAD_CHECK(w[0] < 0 || (w[0] < w[1] && w[1] <= H && w[2] >= 0 && w[2] < w[3] && w[3] <= W),
                "region_max_pool: region ", r % K, " of image ", r / K, " has window rows [", w[0], ", ", w[1],
                ") columns [", w[2], ", ", w[3], ") outside the ", H, "x", W, " map or empty");
  }
  parallel_for(B * K, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t* w = windows + 4 * r;
      if (w[0] < 0) continue;
      const T* m = map + (r / K) * C * H * W;
      T* o = out + r * D;
      for (int64_t c = 0; c < C; ++c) {
        // From the window's first value, replaced by a strictly greater one: a one-cell window is a copy.
        T best = m[(c * H + w[0]) * W + w[2]];
        for (int64_t y = w[0]; y < w[1]; ++y)
          for (int64_t x = w[2]; x < w[3]; ++x) {
            const T v = m[(c * H + y) * W + x];
            best = v > best ? v : best;
          }
        o[c] = best;
      }
      std::fill(o + C, o + D, T(0));
    }
  });
}

}  // namespace simad::ops
