// simad/ops/reference/conv2d.hpp: the readable specification of ops/conv2d.hpp (same names, same leading
// arguments, same semantics), in plain loops with double accumulators, one thread: the definition's
// sum over (c, i, j), no im2col, no GEMM, no packing. Used by the tests; never by the library itself.
// Darknet's convolutional layer after batch-norm folding, NCHW (shape and activation: ops/conv2d_shape.hpp):
//   out[b, o, y, x] = act(bias[o] + sum_{c, i, j} weight[o, c, i, j] inp[b, c, y S - P + i, x S - P + j])
// with zero outside the input; act: linear, leaky (0.1 x below 0) or logistic. The forward OVERWRITES
// out (bias nullptr: none). The backward (of the pre-activation output; the caller runs the activation's
// backward first) ACCUMULATES, each gradient nullptr: skipped:
//   dbias[o] += sum_{b, y, x} dout[b, o, y, x]
//   dweight[o, c, i, j] += sum_{b, y, x} dout[b, o, y, x] inp[b, c, y S - P + i, x S - P + j]
//   dinp[b, c, y S - P + i, x S - P + j] += sum_o weight[o, c, i, j] dout[b, o, y, x]   (inside only)
// The op's trailing workspace / packed-weight arguments have no meaning here and are not taken.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "simad/ops/conv2d_shape.hpp"

namespace simad::ops::reference {

using simad::ops::Conv2dShape;
using simad::ops::ConvActivation;

template <typename T>
void conv2d_forward(T* out,           // (B, O, Ho, Wo)
                    const T* inp,     // (B, C, H, W)
                    const T* weight,  // (O, C, K, K)
                    const T* bias,    // (O) or nullptr
                    const Conv2dShape& s, ConvActivation act) {
  const int64_t Ho = s.out_h(), Wo = s.out_w(), K = s.K;
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t y = 0; y < Ho; ++y)
        for (int64_t x = 0; x < Wo; ++x) {
          double sum = bias ? double(bias[o]) : 0.0;
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t i = 0; i < K; ++i)
              for (int64_t j = 0; j < K; ++j) {
                const int64_t iy = y * s.stride - s.pad + i, ix = x * s.stride - s.pad + j;
                if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                sum += double(weight[((o * s.C + c) * K + i) * K + j]) *
                       double(inp[((b * s.C + c) * s.H + iy) * s.W + ix]);
              }
          if (act == ConvActivation::leaky && sum < 0) sum *= 0.1;
          if (act == ConvActivation::logistic) sum = 1.0 / (1.0 + std::exp(-sum));
          out[((b * s.O + o) * Ho + y) * Wo + x] = T(sum);
        }
}

template <typename T>
void conv2d_backward(T* dinp,          // (B, C, H, W) or nullptr
                     T* dweight,       // (O, C, K, K) or nullptr
                     T* dbias,         // (O) or nullptr
                     const T* dout,    // (B, O, Ho, Wo) gradient of the pre-activation output
                     const T* inp,     // (B, C, H, W) the forward input
                     const T* weight,  // (O, C, K, K)
                     const Conv2dShape& s) {
  const int64_t Ho = s.out_h(), Wo = s.out_w(), K = s.K;
  std::vector<double> gi(size_t(dinp ? s.B * s.C * s.H * s.W : 0), 0.0);
  std::vector<double> gw(size_t(dweight ? s.O * s.C * K * K : 0), 0.0), gb(size_t(dbias ? s.O : 0), 0.0);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t y = 0; y < Ho; ++y)
        for (int64_t x = 0; x < Wo; ++x) {
          const double g = double(dout[((b * s.O + o) * Ho + y) * Wo + x]);
          if (dbias) gb[size_t(o)] += g;
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t i = 0; i < K; ++i)
              for (int64_t j = 0; j < K; ++j) {
                const int64_t iy = y * s.stride - s.pad + i, ix = x * s.stride - s.pad + j;
                if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                const int64_t w = ((o * s.C + c) * K + i) * K + j, v = ((b * s.C + c) * s.H + iy) * s.W + ix;
                if (dweight) gw[size_t(w)] += g * double(inp[v]);
                if (dinp) gi[size_t(v)] += g * double(weight[w]);
              }
        }
  for (size_t k = 0; k < gi.size(); ++k) dinp[k] = T(double(dinp[k]) + gi[k]);
  for (size_t k = 0; k < gw.size(); ++k) dweight[k] = T(double(dweight[k]) + gw[k]);
  for (size_t k = 0; k < gb.size(); ++k) dbias[k] = T(double(dbias[k]) + gb[k]);
}

}  // namespace simad::ops::reference
