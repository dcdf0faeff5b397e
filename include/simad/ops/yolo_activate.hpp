// simad/ops/yolo_activate.hpp: Darknet's [yolo] layer at inference (src/yolo_layer.c forward_yolo_layer):
// the logistic on tx, ty and on the objectness and class logits of every anchor; tw, th pass unchanged.
// inp and out are (B, A, 5 + classes, HW) (the prediction convolution's output, HW cells); out may be inp.
//   out[b, a, k, i] = k in {2, 3} ? inp[b, a, k, i] : 1 / (1 + exp(-inp[b, a, k, i]))
#pragma once

#include <cmath>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

template <typename T>
void yolo_activate(T* out, const T* inp, int64_t B, int64_t A, int64_t classes, int64_t HW) {
  SIMAD_CHECK(B >= 0 && A >= 0 && classes >= 0 && HW >= 0, "yolo_activate: bad arguments B=", B, " anchors=", A,
              " classes=", classes, " cells=", HW);
  const int64_t per_anchor = (5 + classes) * HW;
  parallel_for(B * A, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* x = inp + p * per_anchor;
      T* y = out + p * per_anchor;
      for (int64_t k = 0; k < per_anchor; ++k) {
        const bool raw = k >= 2 * HW && k < 4 * HW;  // tw, th
        y[k] = raw ? x[k] : T(1) / (T(1) + std::exp(-x[k]));
      }
    }
  });
}

}  // namespace simad::ops
