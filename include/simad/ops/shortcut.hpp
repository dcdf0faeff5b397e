// simad/ops/shortcut.hpp: Darknet's [shortcut] layer (src/shortcut_layer.c) for inputs of the same
// shape: out = act(a + b), act linear or leaky (slope 0.1), forward and backward.
//   a: the previous layer's output, b: the output of layer `from`.
// Backward adds g = dout * act'(a + b) to both da and db. act' is read from the sign of the forward
// OUTPUT (out > 0 exactly when a + b > 0, the slope being positive), so only out is kept; at 0 the
// derivative is the slope, as leaky_relu_backward. (Darknet's [route] is a channel concat per image:
// ops/concat.hpp with outer = B and part sizes C_p * H * W; its backward is concat_backward.)
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

inline constexpr double kShortcutLeakySlope = 0.1;

template <typename T>
void shortcut_forward(T* out,      // (n)
                      const T* a,  // (n)
                      const T* b,  // (n)
                      int64_t n, bool leaky) {
  SIMAD_CHECK(n >= 0, "shortcut_forward: negative size ", n);
  const T slope = T(kShortcutLeakySlope);
  parallel_for(n, int64_t(1) << 14, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const T v = a[k] + b[k];
      out[k] = leaky && !(v > T(0)) ? slope * v : v;
    }
  });
}

// da += g, db += g with g = dout * act'(out). da or db may be null (not computed); da == db (a
// shortcut from the layer it follows) gets 2 g, which is right for out = act(2 a).
template <typename T>
void shortcut_backward(T* da,          // (n) or null
                       T* db,          // (n) or null
                       const T* dout,  // (n)
                       const T* out,   // (n) the forward output
                       int64_t n, bool leaky) {
  SIMAD_CHECK(n >= 0, "shortcut_backward: negative size ", n);
  const T slope = T(kShortcutLeakySlope);
  parallel_for(n, int64_t(1) << 14, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const T g = leaky && !(out[k] > T(0)) ? slope * dout[k] : dout[k];
      if (da) da[k] += g;
      if (db) db[k] += g;
    }
  });
}

}  // namespace simad::ops
