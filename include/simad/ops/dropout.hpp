// simad/ops/dropout.hpp: inverted dropout, deterministic by position.
//   keep_i = [u_i >= p],  u_i = (rng.bits_at(offset + i) >> 11) * 2^-53  (= rng.uniform_at(offset + i))
//   out_i  = keep_i ? inp_i / (1 - p) : 0      so E[out_i] = inp_i and evaluation needs no rescaling
// Element i draws stream position offset + i and nothing else, so the mask is a pure function of
// (seed, stream, offset, i): the same on 1 thread or 64, on the CPU or in a CUDA kernel that draws the
// same Philox numbers. A caller gives each call its own offset range (e.g. advance a counter by n).
// P(keep) = 1 - p up to the 2^-53 grid of u. p must lie in [0, 1); p == 0 copies (every keep_i = 1).
// Backward ACCUMULATES from the saved mask: dinp_i += keep_i ? dout_i / (1 - p) : 0.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"

namespace simad::ops {

namespace detail {
inline constexpr int64_t kDropoutGrain = int64_t(1) << 13;

template <typename T>
void check_dropout_p(const char* op, T p) {
  SIMAD_CHECK(p >= T(0) && p < T(1), op, ": dropout probability p must be in [0, 1), got ", p);
}
}  // namespace detail

// out == inp (in place) is allowed. keep may be nullptr when no backward follows.
template <typename T>
void dropout_forward(T* out,         // (n)
                     uint8_t* keep,  // (n) saved for backward: 1 = kept, 0 = dropped; or nullptr
                     const T* inp,   // (n)
                     int64_t n, T p, const Rng& rng, uint64_t offset) {
  static_assert(std::is_floating_point_v<T>, "dropout: floating-point element type");
  SIMAD_CHECK(n >= 0, "dropout_forward: negative element count ", n);
  detail::check_dropout_p("dropout_forward", p);
  if (n == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "dropout_forward: null out or inp for n=", n);
  if (p == T(0)) {
    if (out != inp) std::copy(inp, inp + n, out);
    if (keep) std::fill(keep, keep + n, uint8_t(1));
    return;
  }
  const T scale = T(1) / (T(1) - p);
  const double threshold = double(p);
  parallel_for(n, detail::kDropoutGrain, [&](int64_t begin, int64_t end) {
    // One Philox block holds two stream elements (positions 2k, 2k+1): draw it once per pair.
    for (int64_t i = begin; i < end;) {
      const uint64_t pos = offset + uint64_t(i);
      const auto block = rng.block(pos / 2);
      for (size_t lane = size_t(pos % 2); lane < 2 && i < end; ++lane, ++i) {
        const uint64_t bits = (uint64_t(block[2 * lane]) << 32) | block[2 * lane + 1];  // == rng.bits_at(pos)
        const bool k = double(bits >> 11) * 0x1p-53 >= threshold;
        if (keep) keep[i] = uint8_t(k);
        out[i] = k ? inp[i] * scale : T(0);
      }
    }
  });
}

// dinp += keep ? dout / (1 - p) : 0, with the same p as the forward. dinp may be nullptr (skipped).
// keep may be nullptr only when p == 0 (then dinp += dout).
template <typename T>
void dropout_backward(T* dinp,              // (n)
                      const T* dout,        // (n)
                      const uint8_t* keep,  // (n) the forward's mask
                      int64_t n, T p) {
  static_assert(std::is_floating_point_v<T>, "dropout: floating-point element type");
  SIMAD_CHECK(n >= 0, "dropout_backward: negative element count ", n);
  detail::check_dropout_p("dropout_backward", p);
  if (n == 0 || !dinp) return;
  SIMAD_CHECK(dout != nullptr, "dropout_backward: null dout for n=", n);
  SIMAD_CHECK(keep != nullptr || p == T(0), "dropout_backward: the keep mask is required when p=", p, " > 0");
  const T scale = T(1) / (T(1) - p);
  parallel_for(n, int64_t(1) << 15, [&](int64_t begin, int64_t end) {
    if (!keep) {
      for (int64_t i = begin; i < end; ++i) dinp[i] += dout[i];
      return;
    }
    for (int64_t i = begin; i < end; ++i)
      if (keep[i]) dinp[i] += dout[i] * scale;
  });
}

}  // namespace simad::ops
