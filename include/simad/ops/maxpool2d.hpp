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
// The forward runs in parallel over the output rows of all B * C planes; windows wholly inside the
// input skip the bounds (size 2 with stride 2 or 1: a branch-free body the compiler vectorises),
// the border ones are clipped. Same comparisons in the same order as a plain clipped loop, so the
// same bits: ties, NaN and -inf included (tests/ops/test_darknet_layers.cpp checks every path).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/maxpool2d_shape.hpp"

namespace simad::ops {

namespace detail {

// One output row of maxpool2d over the columns [x_begin, x_end), clipping every window to the
// input (the reference rule; any size, stride, padding). best starts at -max (Darknet's -FLT_MAX);
// with argmax the first element inside the window is taken unconditionally and later ones on a
// strict '>', without argmax best = max(best, v) in window order.
template <typename T>
inline void maxpool2d_row_clipped(T* dst, int32_t* arg, const T* plane, int64_t H, int64_t W, int64_t size,
                                  int64_t stride, int64_t off, int64_t y, int64_t x_begin, int64_t x_end) {
  const int64_t y0 = y * stride + off;
  const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + size, H);
  for (int64_t x = x_begin; x < x_end; ++x) {
    const int64_t x0 = x * stride + off;
    const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + size, W);
    T best = -std::numeric_limits<T>::max();
    if (arg) {
      int64_t at = -1;
      for (int64_t iy = ya; iy < yb; ++iy)
        for (int64_t ix = xa; ix < xb; ++ix) {
          const T v = plane[iy * W + ix];
          const bool take = v > best || at < 0;
          const int64_t m = -int64_t(take);  // a mask select, not a branch (as the full windows')
          at = (at & ~m) | ((iy * W + ix) & m);
          best = take ? v : best;
        }
      arg[x] = int32_t(at);
    } else {
      for (int64_t iy = ya; iy < yb; ++iy)
        for (int64_t ix = xa; ix < xb; ++ix) best = std::max(best, plane[iy * W + ix]);
    }
    dst[x] = best;
  }
}

// The same over columns whose windows lie wholly inside the input (rows y0 .. y0 + size - 1 and
// columns x * stride + off .. + size - 1 all valid): no bounds, and for size 2 (kSize) with stride
// 1 or 2 (kStride) a branch-free body the compiler vectorises. Same order and comparisons as the
// clipped row, so the same results bit for bit (ties: the first in row-major window order; NaN:
// with argmax a NaN first element wins and a later NaN never does; without argmax NaN never wins).
// kSize / kStride 0: the runtime size / stride.
template <int kSize, int kStride, bool kArg, typename T>
inline void maxpool2d_row_full(T* __restrict dst, int32_t* __restrict arg, const T* __restrict plane, int64_t W,
                               int64_t size_rt, int64_t stride_rt, int64_t off, int64_t y, int64_t x_begin,
                               int64_t x_end) {
  const int64_t size = kSize ? kSize : size_rt, stride = kStride ? kStride : stride_rt;
  const int64_t y0 = y * stride + off;
  const T* r0 = plane + y0 * W;
  if constexpr (kSize == 2) {
    const T* r1 = r0 + W;
    const int32_t base = int32_t(y0 * W + off), w = int32_t(W);
    for (int64_t x = x_begin; x < x_end; ++x) {
      const int64_t ix = x * stride + off;
      const T a = r0[ix], b = r0[ix + 1], c = r1[ix], d = r1[ix + 1];
      if constexpr (kArg) {
        const int32_t i0 = base + int32_t(x * stride);
        // at as a mask select: the short rows' scalar loop then stays free of branches, which
        // random data would mispredict.
        T best = a;
        int32_t at = i0, m;
        m = -int32_t(b > best);
        at = (at & ~m) | ((i0 + 1) & m);
        best = b > best ? b : best;
        m = -int32_t(c > best);
        at = (at & ~m) | ((i0 + w) & m);
        best = c > best ? c : best;
        m = -int32_t(d > best);
        at = (at & ~m) | ((i0 + w + 1) & m);
        best = d > best ? d : best;
        dst[x] = best;
        arg[x] = at;
      } else {
        T best = -std::numeric_limits<T>::max();
        best = std::max(best, a);
        best = std::max(best, b);
        best = std::max(best, c);
        best = std::max(best, d);
        dst[x] = best;
      }
    }
  } else {
    for (int64_t x = x_begin; x < x_end; ++x) {
      const int64_t x0 = x * stride + off;
      if constexpr (kArg) {
        T best = r0[x0];
        int64_t at = y0 * W + x0;
        for (int64_t iy = 0; iy < size; ++iy) {
          const T* r = r0 + iy * W + x0;
          for (int64_t ix = 0; ix < size; ++ix)
            if (r[ix] > best) best = r[ix], at = (y0 + iy) * W + x0 + ix;
        }
        dst[x] = best;
        arg[x] = int32_t(at);
      } else {
        T best = -std::numeric_limits<T>::max();
        for (int64_t iy = 0; iy < size; ++iy) {
          const T* r = r0 + iy * W + x0;
          for (int64_t ix = 0; ix < size; ++ix) best = std::max(best, r[ix]);
        }
        dst[x] = best;
      }
    }
  }
}

// Output rows [r_begin, r_end) of the flattened (B * C * Ho) rows: each row's full-window columns
// [xlo, xhi) through Full, the rest (and rows whose windows leave the input) clipped.
template <typename T, typename Full>
inline void maxpool2d_rows(T* out, const T* inp, int32_t* argmax, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                           int64_t size, int64_t stride, int64_t off, int64_t r_begin, int64_t r_end, Full full) {
  // Full windows: x * stride + off >= 0 and x * stride + off + size <= W (off <= 0).
  auto full_range = [&](int64_t n, int64_t no) {
    const int64_t lo = std::min((-off + stride - 1) / stride, no);
    const int64_t hi = n - size - off >= 0 ? std::min((n - size - off) / stride + 1, no) : 0;
    return std::pair<int64_t, int64_t>{lo, std::max(hi, lo)};
  };
  const auto [ylo, yhi] = full_range(H, Ho);
  const auto [xlo, xhi] = full_range(W, Wo);
  int64_t p = r_begin / Ho, y = r_begin % Ho;
  for (int64_t r = r_begin; r < r_end; ++r) {
    const T* plane = inp + p * H * W;
    T* dst = out + r * Wo;
    int32_t* arg = argmax ? argmax + r * Wo : nullptr;
    if (y >= ylo && y < yhi) {
      maxpool2d_row_clipped(dst, arg, plane, H, W, size, stride, off, y, 0, xlo);
      full(dst, arg, plane, y, xlo, xhi);
      maxpool2d_row_clipped(dst, arg, plane, H, W, size, stride, off, y, xhi, Wo);
    } else {
      maxpool2d_row_clipped(dst, arg, plane, H, W, size, stride, off, y, 0, Wo);
    }
    if (++y == Ho) y = 0, ++p;
  }
}

}  // namespace detail

// Parallel over output rows of all (B * C) planes, in chunks of at least ~16K input elements read.
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
  const int64_t rows = B * C * Ho;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, Wo * size * size));
  auto run = [&]<int kSize, int kStride>() {
    auto rows_of = [&](auto full) {
      parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
        detail::maxpool2d_rows(out, inp, argmax, H, W, Ho, Wo, size, stride, off, r0, r1, full);
      });
    };
    if (argmax)
      rows_of([&](T* dst, int32_t* arg, const T* plane, int64_t y, int64_t x0, int64_t x1) {
        detail::maxpool2d_row_full<kSize, kStride, true>(dst, arg, plane, W, size, stride, off, y, x0, x1);
      });
    else
      rows_of([&](T* dst, int32_t*, const T* plane, int64_t y, int64_t x0, int64_t x1) {
        detail::maxpool2d_row_full<kSize, kStride, false>(dst, nullptr, plane, W, size, stride, off, y, x0, x1);
      });
  };
  if (size == 2 && stride == 2)
    run.template operator()<2, 2>();
  else if (size == 2 && stride == 1)
    run.template operator()<2, 1>();
  else
    run.template operator()<0, 0>();
}

// dinp[b, c, argmax] += dout[b, c, y, x] for every output, in output order; argmax from maxpool2d_forward
// with the same window (size, stride, padding); -1: no input element, nothing added; an argmax outside
// its output's window is an error. Parallel over planes (an argmax stays in its plane).
template <typename T>
void maxpool2d_backward(T* dinp,                // (B, C, H, W)
                        const T* dout,          // (B, C, Ho, Wo)
                        const int32_t* argmax,  // (B, C, Ho, Wo)
                        int64_t B, int64_t C, int64_t H, int64_t W, int64_t size, int64_t stride,
                        int64_t padding) {  // the forward's window
  SIMAD_CHECK(B >= 0 && C >= 0 && H >= 1 && W >= 1 && size >= 1 && stride >= 1 && padding >= 0 &&
                  H + padding >= size && W + padding >= size,
              "maxpool2d_backward: bad arguments B=", B, " C=", C, " H=", H, " W=", W, " size=", size,
              " stride=", stride, " padding=", padding);
  const int64_t Ho = maxpool2d_out_size(H, size, stride, padding), Wo = maxpool2d_out_size(W, size, stride, padding);
  const int64_t off = -(padding / 2);
  parallel_for(B * C, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* plane = dinp + p * H * W;
      const T* g = dout + p * Ho * Wo;
      const int32_t* arg = argmax + p * Ho * Wo;
      for (int64_t k = 0; k < Ho * Wo; ++k) {
        const int32_t at = arg[k];
        if (at < 0) continue;
        const int64_t dy = at / W - (k / Wo) * stride - off, dx = at % W - (k % Wo) * stride - off;
        SIMAD_CHECK(at < H * W && dy >= 0 && dy < size && dx >= 0 && dx < size, "maxpool2d_backward: argmax ", at,
                    " of output ", k, " is outside its window (plane ", H, "x", W, ", size ", size, ", stride ",
                    stride, ")");
        plane[at] += g[k];
      }
    }
  });
}

}  // namespace simad::ops
