// simad/ops/reference/yolo_decode.hpp: the readable specification of ops/yolo_decode.hpp (same name, same
// arguments), one thread, written from Darknet's get_yolo_detections: walk the grid cell by cell and each
// cell's anchors in mask order; a cell-anchor whose objectness exceeds the threshold takes the image's next
// slot, with its decoded box, objectness, thresholded class probabilities and its cell-anchor index.
#pragma once

#include <cmath>
#include <cstdint>

namespace simad::ops::reference {

template <typename T>
void yolo_decode(T* box, T* objectness, T* prob, int32_t* where, int32_t* count, const T* pred, const T* anchors,
                 int64_t B, int64_t A, int64_t classes, int64_t lw, int64_t lh, int64_t net_w, int64_t net_h,
                 T threshold) {
  const int64_t HW = lw * lh, entries = 5 + classes;
  for (int64_t b = 0; b < B; ++b) {
    int32_t used = 0;
    for (int64_t row = 0; row < lh; ++row)
      for (int64_t col = 0; col < lw; ++col)
        for (int64_t n = 0; n < A; ++n) {
          auto at = [&](int64_t entry) { return pred[((b * A + n) * entries + entry) * HW + row * lw + col]; };
          if (!(at(4) > threshold)) continue;
          const int64_t slot = b * A * HW + used++;
          box[slot * 4 + 0] = (T(col) + at(0)) / T(lw);
          box[slot * 4 + 1] = (T(row) + at(1)) / T(lh);
          box[slot * 4 + 2] = std::exp(at(2)) * anchors[n * 2] / T(net_w);
          box[slot * 4 + 3] = std::exp(at(3)) * anchors[n * 2 + 1] / T(net_h);
          objectness[slot] = at(4);
          for (int64_t k = 0; k < classes; ++k) {
            const T pk = at(4) * at(5 + k);
            prob[slot * classes + k] = pk > threshold ? pk : T(0);
          }
          where[slot] = int32_t((row * lw + col) * A + n);
        }
    count[b] = used;
  }
}

}  // namespace simad::ops::reference
