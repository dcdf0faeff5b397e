// simad/ops/reference/yolo_activate.hpp: the readable specification of ops/yolo_activate.hpp (same name,
// same arguments), in plain loops, one thread. Used by the tests; never by the library. Darknet's [yolo]
// at inference, per (image b, anchor a) block of (5 + classes) rows of HW cells:
//   rows 0, 1 (tx, ty) and 4 .. 4 + classes (objectness, classes): logistic; rows 2, 3 (tw, th): copied.
#pragma once

#include <cmath>
#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void yolo_activate(T* out, const T* inp, int64_t B, int64_t A, int64_t classes, int64_t HW) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t a = 0; a < A; ++a)
      for (int64_t row = 0; row < 5 + classes; ++row)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t at = ((b * A + a) * (5 + classes) + row) * HW + i;
          out[at] = row == 2 || row == 3 ? inp[at] : T(1) / (T(1) + std::exp(-inp[at]));
        }
}

}  // namespace simad::ops::reference
