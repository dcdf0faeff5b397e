// simad/ops/reference/shortcut.hpp: the readable specification of ops/shortcut.hpp (same names, same
// arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
// Darknet's [shortcut] (src/shortcut_layer.c) for inputs of the same shape, a the previous layer's
// output, b the output of layer `from`:
//   out = act(a + b),  act linear or leaky (slope 0.1)                  (OVERWRITES out)
//   da += g, db += g,  g = dout * act'(a + b)                           (ACCUMULATES; da or db may be null)
// act' is read from the sign of the forward OUTPUT (out > 0 exactly when a + b > 0); at 0 it is the
// slope. da == db gets 2 g.
#pragma once

#include <cstdint>

namespace simad::ops::reference {

inline constexpr double kShortcutLeakySlope = 0.1;

template <typename T>
void shortcut_forward(T* out, const T* a, const T* b, int64_t n, bool leaky) {
  for (int64_t k = 0; k < n; ++k) {
    const T v = a[k] + b[k];
    out[k] = leaky && !(v > T(0)) ? T(kShortcutLeakySlope) * v : v;
  }
}

template <typename T>
void shortcut_backward(T* da, T* db, const T* dout, const T* out, int64_t n, bool leaky) {
  for (int64_t k = 0; k < n; ++k) {
    const T g = leaky && !(out[k] > T(0)) ? T(kShortcutLeakySlope) * dout[k] : dout[k];
    if (da) da[k] += g;
    if (db) db[k] += g;
  }
}

}  // namespace simad::ops::reference
