// simad/ops/conv2d_shape.hpp: the shape and the fused activation of a 2-D convolution (NCHW), shared by
// the op (ops/conv2d.hpp), its reference (ops/reference/conv2d.hpp) and the Darknet layers, so that a
// call written for one compiles against the other.
//   input (B, C, H, W), weight (O, C, K, K), output (B, O, Ho, Wo) with Ho = (H + 2 pad - K) / stride + 1
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"

namespace simad::ops {

enum class ConvActivation { linear, leaky, logistic };

struct Conv2dShape {
  int64_t B = 1, C = 1, H = 1, W = 1;  // input (B, C, H, W)
  int64_t O = 1, K = 1, stride = 1, pad = 0;
  int64_t out_h() const { return (H + 2 * pad - K) / stride + 1; }
  int64_t out_w() const { return (W + 2 * pad - K) / stride + 1; }
  double flops() const { return 2.0 * double(B) * double(O) * double(out_h()) * double(out_w()) * double(C * K * K); }
  void check() const {
    SIMAD_CHECK(B >= 1 && C >= 1 && H >= 1 && W >= 1 && O >= 1 && K >= 1 && stride >= 1 && pad >= 0,
                "conv2d: bad shape B=", B, " C=", C, " H=", H, " W=", W, " O=", O, " K=", K, " stride=", stride,
                " pad=", pad);
    SIMAD_CHECK(H + 2 * pad >= K && W + 2 * pad >= K, "conv2d: ", K, "x", K, " kernel larger than the padded ",
                H, "x", W, " input (pad ", pad, ")");
  }
};

}  // namespace simad::ops
