// simad/nn/positional_encoding.hpp: the sinusoidal position encoding of "Attention Is All You Need"
// (section 3.5), a fixed (N, C) table with no parameters:
//   PE(pos, 2k) = sin(pos / 10000^(2k / C)),   PE(pos, 2k + 1) = cos(pos / 10000^(2k / C))
// Computed in double and rounded to T, so float and double tables agree to float precision.
#pragma once

#include <cmath>
#include <cstdint>

#include "simad/core/error.hpp"

namespace simad::nn {

// pe (N, C) = the encoding of positions 0 .. N - 1.
template <typename T>
void sinusoidal_positions(T* pe,  // (N, C)
                          int64_t N, int64_t C) {
  SIMAD_CHECK(N >= 0 && C >= 0, "sinusoidal_positions: negative size N=", N, " C=", C);
  for (int64_t pos = 0; pos < N; ++pos)
    for (int64_t c = 0; c < C; ++c) {
      const double rate = std::pow(10000.0, -double(c - c % 2) / double(C));
      const double angle = double(pos) * rate;
      pe[pos * C + c] = T(c % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
}

}  // namespace simad::nn
