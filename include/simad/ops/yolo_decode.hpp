// simad/ops/yolo_decode.hpp: the candidate boxes of one [yolo] layer's activated output (ops/yolo_activate.hpp),
// as Darknet's get_yolo_detections finds them before NMS (nn/yolo.hpp builds its Candidates from this), for a
// batch, compacted per image in cell-major, then anchor order:
//   pred (B, A, 5 + classes, lh * lw); for cell i = row * lw + col and anchor n, with p = pred[b, n, :, i]:
//   kept when objectness p[4] > threshold (NaN is not kept); then, at the image's next slot j:
//     box[b, j]    = ((col + p[0]) / lw, (row + p[1]) / lh, exp(p[2]) anchor_w[n] / net_w, exp(p[3]) anchor_h[n] / net_h)
//     objectness[b, j] = p[4];  prob[b, j, k] = p[4] p[5 + k] if above threshold, else 0;  where[b, j] = i A + n
//   count[b] = the image's number of slots used (at most A lh lw, each output's capacity per image).
// anchors: (A, 2), the (w, h) in network-input pixels of the layer's mask's anchors. Slots past count[b] are
// not written.
#pragma once

#include <cmath>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

template <typename T>
void yolo_decode(T* box,              // (B, A lh lw, 4)
                 T* objectness,       // (B, A lh lw)
                 T* prob,             // (B, A lh lw, classes)
                 int32_t* where,      // (B, A lh lw)
                 int32_t* count,      // (B)
                 const T* pred,       // (B, A, 5 + classes, lh lw)
                 const T* anchors,    // (A, 2)
                 int64_t B, int64_t A, int64_t classes, int64_t lw, int64_t lh, int64_t net_w, int64_t net_h,
                 T threshold) {
  SIMAD_CHECK(B >= 0 && A >= 1 && classes >= 0 && lw >= 1 && lh >= 1 && net_w >= 1 && net_h >= 1 &&
                  A * lw * lh <= 2147483647,
              "yolo_decode: bad arguments B=", B, " anchors=", A, " classes=", classes, " grid=", lw, "x", lh,
              " net=", net_w, "x", net_h);
  const int64_t HW = lw * lh, cap = A * HW;
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      int32_t j = 0;
      for (int64_t i = 0; i < HW; ++i)
        for (int64_t n = 0; n < A; ++n) {
          const T* p = pred + ((b * A + n) * (5 + classes)) * HW + i;
          const T obj = p[4 * HW];
          if (!(obj > threshold)) continue;
          const int64_t s = b * cap + j;
          T* bx = box + s * 4;
          bx[0] = (T(i % lw) + p[0]) / T(lw);
          bx[1] = (T(i / lw) + p[HW]) / T(lh);
          bx[2] = std::exp(p[2 * HW]) * anchors[2 * n] / T(net_w);
          bx[3] = std::exp(p[3 * HW]) * anchors[2 * n + 1] / T(net_h);
          objectness[s] = obj;
          for (int64_t k = 0; k < classes; ++k) {
            const T pk = obj * p[(5 + k) * HW];
            prob[s * classes + k] = pk > threshold ? pk : T(0);
          }
          where[s] = int32_t(i * A + n);
          ++j;
        }
      count[b] = j;
    }
  });
}

}  // namespace simad::ops
