// simad/ops/masked_max.hpp: max pooling over a set (e.g. the ads of a user history, the tokens of a
// title), ignoring padded members.
//   out_bj = max over real s of inp_bsj,   argmax_bj = the first such s attaining it
// inp (B, S, C): B sets of S members with C features (S is the "T" of (B, T, C): the template
// parameter T is the element type here). mask (B, S): 1 = real member, 0 = padding; nullptr = all real.
// Ties go to the FIRST (smallest) s. A set whose members are ALL padded outputs 0 with argmax -1 and
// gets no gradient. NaN inputs are not supported (a NaN never wins a comparison unless it comes first).
// The forward saves argmax (B, C) int32 for the backward, which ACCUMULATES:
//   dinp[b, argmax_bj, j] += dout_bj   (nothing where argmax_bj == -1)
// Work runs in parallel over (set, column block) tiles; each output depends only on its own set.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

namespace detail {
inline constexpr int64_t kMaskedMaxColBlock = 256;

inline void masked_max_check(const char* what, int64_t B, int64_t S, int64_t C) {
  SIMAD_CHECK(B >= 0 && S >= 0 && C >= 0, what, ": negative size B=", B, " S=", S, " C=", C);
  SIMAD_CHECK(S <= int64_t(2147483647), what, ": set size S=", S, " does not fit the int32 argmax");
}

// fn(b, c0, c1) over tiles of one set b and a block of columns [c0, c1), in parallel.
template <typename F>
void masked_max_tiles(int64_t B, int64_t S, int64_t C, F&& fn) {
  const int64_t blocks = (C + kMaskedMaxColBlock - 1) / kMaskedMaxColBlock;
  const int64_t tile_elems = std::max<int64_t>(1, S * std::min(C, kMaskedMaxColBlock));
  parallel_for(B * blocks, std::max<int64_t>(1, (int64_t(1) << 14) / tile_elems), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / blocks, c0 = (t % blocks) * kMaskedMaxColBlock;
      fn(b, c0, std::min(C, c0 + kMaskedMaxColBlock));
    }
  });
}
}  // namespace detail

template <typename T>
void masked_max_forward(T* out,               // (B, C)
                        int32_t* argmax,      // (B, C) saved for backward: s of the max, -1 for an all-padded set
                        const T* inp,         // (B, S, C)
                        const uint8_t* mask,  // (B, S) 1 = real, 0 = padding; or nullptr (all real)
                        int64_t B, int64_t S, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "masked_max: floating-point element type");
  detail::masked_max_check("masked_max_forward", B, S, C);
  if (B == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && argmax != nullptr && (S == 0 || inp != nullptr),
              "masked_max_forward: null out, argmax or inp for B=", B, " S=", S, " C=", C);
  detail::masked_max_tiles(B, S, C, [&](int64_t b, int64_t c0, int64_t c1) {
    const uint8_t* m = mask ? mask + b * S : nullptr;
    const T* x = inp + b * S * C;
    T* y = out + b * C;
    int32_t* a = argmax + b * C;
    int64_t first = 0;
    while (first < S && m && !m[first]) ++first;
    if (first == S) {  // every member padded (or S == 0)
      std::fill(y + c0, y + c1, T(0));
      std::fill(a + c0, a + c1, int32_t(-1));
      return;
    }
    std::copy(x + first * C + c0, x + first * C + c1, y + c0);
    std::fill(a + c0, a + c1, int32_t(first));
    for (int64_t s = first + 1; s < S; ++s) {
      if (m && !m[s]) continue;
      const T* xs = x + s * C;
      for (int64_t j = c0; j < c1; ++j)
        if (xs[j] > y[j]) {  // strict: ties keep the first member
          y[j] = xs[j];
          a[j] = int32_t(s);
        }
    }
  });
}

// dinp[b, argmax_bj, j] += dout_bj. dinp may be nullptr (skipped). argmax must be the forward's
// (each in [-1, S)); an out-of-range entry throws simad::Error.
template <typename T>
void masked_max_backward(T* dinp,                // (B, S, C)
                         const T* dout,          // (B, C)
                         const int32_t* argmax,  // (B, C) saved by the forward
                         int64_t B, int64_t S, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "masked_max: floating-point element type");
  detail::masked_max_check("masked_max_backward", B, S, C);
  if (!dinp || B == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr && argmax != nullptr, "masked_max_backward: null dout or argmax for B=", B, " C=", C);
  detail::masked_max_tiles(B, S, C, [&](int64_t b, int64_t c0, int64_t c1) {
    const T* g = dout + b * C;
    const int32_t* a = argmax + b * C;
    T* dx = dinp + b * S * C;
    for (int64_t j = c0; j < c1; ++j) {
      const int64_t s = a[j];
      if (s == -1) continue;
      SIMAD_CHECK(s >= 0 && s < S, "masked_max_backward: argmax ", s, " at (", b, ", ", j, ") is outside [-1, S=", S,
                  ")");
      dx[s * C + j] += g[j];
    }
  });
}

}  // namespace simad::ops
