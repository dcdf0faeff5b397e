// simad/ops/reference/region_pool.hpp: the readable specification of ops/region_pool.hpp (same names, same
// arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
//   out[b, k, c] = max of map[b, c, window] for c < C, 0 for C <= c < D, where window[b, k] = (y0, y1, x0, x1)
//   has y0 >= 0; rows of regions with y0 < 0 are not written.
#pragma once

#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void region_max_pool(T* out, const T* map, const int32_t* windows, int64_t B, int64_t K, int64_t D, int64_t C,
                     int64_t H, int64_t W) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) {
      const int32_t* w = windows + (b * K + k) * 4;
      if (w[0] < 0) continue;
      for (int64_t c = 0; c < D; ++c) {
        T v = T(0);
        if (c < C) {
          v = map[((b * C + c) * H + w[0]) * W + w[2]];
          for (int64_t y = w[0]; y < w[1]; ++y)
            for (int64_t x = w[2]; x < w[3]; ++x) {
              const T m = map[((b * C + c) * H + y) * W + x];
              if (m > v) v = m;
            }
        }
        out[(b * K + k) * D + c] = v;
      }
    }
}

}  // namespace simad::ops::reference
