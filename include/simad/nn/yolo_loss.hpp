// simad/nn/yolo_loss.hpp: the YOLOv3 training loss of one [yolo] layer and its gradient with respect
// to the layer's RAW input (the 1x1 prediction convolution's output, before any logistic), as
// pjreddie Darknet's forward_yolo_layer / delta_yolo_box / delta_yolo_class (src/yolo_layer.c).
//
// Layout: raw and draw are (B, A, 5 + classes, lh, lw) = the (B, A * (5 + classes), lh, lw) map of
// the cfg, entries per anchor [tx, ty, tw, th, to, tc_0 .. tc_{classes-1}]. Truths are per image,
// centre and size relative to the network input (0..1), as Darknet's label files.
// Prediction of anchor n (pixel size aw, ah from the cfg) in cell (i = col, j = row):
//   box = ((i + s(tx)) / lw, (j + s(ty)) / lh, exp(tw) aw / net_w, exp(th) ah / net_h), s = logistic.
// Targets, per image:
//  1. Every prediction takes its best IoU with any truth of the image. Above ignore_thresh (cfg,
//     0.7 by default) its objectness is ignored (no "no object" term); above truth_thresh (cfg, 1 by
//     default: never) it becomes responsible for that truth (as in step 2).
//  2. Each truth, in order, goes to the cell holding its centre (i = floor(x lw), clamped to the
//     grid) and to its best anchor over ALL the cfg's anchors (every scale), by the IoU of the two
//     (w, h) boxes centred at the origin (first best on ties). When that anchor is not in this
//     layer's mask, another scale handles the truth. Otherwise the prediction is responsible:
//     objectness target 1, coordinate targets gx = x lw - i, gy = y lh - j, gw = log(w net_w / aw),
//     gh = log(h net_h / ah) with weight k = 2 - w h, class targets one-hot; a later truth on the
//     same prediction overwrites the coordinates and adds its class (Darknet's delta_yolo_class).
// Loss (BCE(z, y) = -y log s(z) - (1 - y) log(1 - s(z)), computed stably from the logit z):
//   coord = sum_resp k [BCE(tx, gx) + BCE(ty, gy) + (tw - gw)^2 / 2 + (th - gh)^2 / 2]
//   obj   = sum_resp BCE(to, 1),   noobj = sum_{not responsible, not ignored} BCE(to, 0)
//   cls   = sum_resp sum_c BCE(tc_c, y_c)
// summed over the images (not averaged). Its gradient is exactly MINUS Darknet's delta:
//   dL/dtx = k (s(tx) - gx), dL/dtw = k (tw - gw), dL/dto = s(to) - target, dL/dtc = s(tc) - y_c
// (Darknet's delta is target - prediction and is added to the previous layer's delta, i.e. it is
// the negative gradient; Darknet then steps with +lr/batch * delta). The ignore and responsibility
// decisions are constants of the forward (no gradient flows through the IoUs), as in Darknet.
// What differs from Darknet: the reported loss is the sum of the terms above, while Darknet prints
// the squared norm of its delta (gradients identical); truths are given as a list, not terminated
// by the first x == 0; a truth at x == 1 or y == 1 goes to the last cell instead of past the grid;
// cls_normalizer / iou_normalizer / GIoU losses of the AlexeyAB fork are not implemented.
// The gradient is ADDED to draw (simad's rule: gradients accumulate).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/io/darknet_cfg.hpp"

namespace simad::nn {

// One ground-truth box: centre and size relative to the network input, and its class.
struct YoloTruth {
  double x = 0, y = 0, w = 0, h = 0;
  int class_id = 0;
};

struct YoloLossOptions {
  double ignore_thresh = 0.7;  // cfg "ignore_thresh"
  double truth_thresh = 1.0;   // cfg "truth_thresh"
};

// The loss terms (see the top of the file) and a few statistics for logging.
struct YoloLossTerms {
  double coord = 0, obj = 0, noobj = 0, cls = 0;
  int64_t responsible = 0;  // truths assigned to a prediction of this layer (step 2)
  double iou_sum = 0;       // sum over them of the IoU of the prediction with its truth
  double total() const { return coord + obj + noobj + cls; }
  YoloLossTerms& operator+=(const YoloLossTerms& o) {
    coord += o.coord, obj += o.obj, noobj += o.noobj, cls += o.cls;
    responsible += o.responsible, iou_sum += o.iou_sum;
    return *this;
  }
};

// ignore_thresh / truth_thresh of a [yolo] layer of a parsed cfg (Darknet's defaults otherwise).
inline YoloLossOptions yolo_loss_options(const io::darknet::Layer& layer) {
  YoloLossOptions o;
  auto read = [&](const char* key, double& v) {
    const auto it = layer.ignored_keys.find(key);
    if (it == layer.ignored_keys.end()) return;
    char* end = nullptr;
    const double parsed = std::strtod(it->second.c_str(), &end);
    SIMAD_CHECK(end && *end == '\0' && !it->second.empty() && std::isfinite(parsed), "yolo loss: [yolo] at line ",
                layer.line, ": ", key, "=", it->second, " is not a number");
    v = parsed;
  };
  read("ignore_thresh", o.ignore_thresh);
  read("truth_thresh", o.truth_thresh);
  return o;
}

namespace detail {

// Darknet's box_iou on centre/size boxes, in double.
inline double yolo_iou(double ax, double ay, double aw, double ah, double bx, double by, double bw, double bh) {
  auto overlap = [](double x1, double w1, double x2, double w2) {
    return std::min(x1 + w1 / 2, x2 + w2 / 2) - std::max(x1 - w1 / 2, x2 - w2 / 2);
  };
  const double w = overlap(ax, aw, bx, bw), h = overlap(ay, ah, by, bh);
  const double inter = (w < 0 || h < 0) ? 0.0 : w * h;
  const double uni = aw * ah + bw * bh - inter;
  return uni > 0 ? inter / uni : 0.0;
}

inline double logistic(double z) { return 1.0 / (1.0 + std::exp(-z)); }
// -y log s(z) - (1 - y) log(1 - s(z)), without overflow for large |z|.
inline double bce_logit(double z, double y) { return std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z))); }

// Best anchor over all anchors of the cfg for a truth of size (w, h) (relative), as Darknet.
inline int yolo_best_anchor(const io::darknet::Yolo& yolo, double w, double h, int net_w, int net_h) {
  double best = 0;
  int best_n = 0;
  for (int n = 0; n < int(yolo.anchors.size() / 2); ++n) {
    const double iou = yolo_iou(0, 0, double(yolo.anchors[size_t(2 * n)]) / net_w,
                                double(yolo.anchors[size_t(2 * n + 1)]) / net_h, 0, 0, w, h);
    if (iou > best) best = iou, best_n = n;
  }
  return best_n;
}

}  // namespace detail

// Which anchor of the cfg (an index into yolo.anchors / 2) a truth of size (w, h) belongs to.
inline int yolo_best_anchor(const io::darknet::Yolo& yolo, double w, double h, int net_w, int net_h) {
  return detail::yolo_best_anchor(yolo, w, h, net_w, net_h);
}

// The loss of one [yolo] layer over a batch and its gradient, ADDED to draw (null: not computed).
// truths: one list per image (truths.size() == B).
template <typename T>
YoloLossTerms yolo_loss(T* draw,        // (B, A, 5 + classes, lh, lw) or null
                        const T* raw,   // (B, A, 5 + classes, lh, lw) raw prediction-conv outputs
                        const io::darknet::Yolo& yolo, int64_t B, int64_t lh, int64_t lw, int net_w, int net_h,
                        std::span<const std::vector<YoloTruth>> truths, const YoloLossOptions& opt = {}) {
  const int64_t A = yolo.anchor_count(), C = yolo.classes, E = 5 + C, HW = lh * lw;
  SIMAD_CHECK(B >= 0 && lh >= 1 && lw >= 1 && A >= 1 && C >= 0 && net_w >= 1 && net_h >= 1, "yolo loss: bad shape B=",
              B, " lh=", lh, " lw=", lw, " anchors=", A, " classes=", C, " net ", net_w, "x", net_h);
  SIMAD_CHECK(int64_t(truths.size()) == B, "yolo loss: ", truths.size(), " truth lists for a batch of ", B);
  for (int m : yolo.mask)
    SIMAD_CHECK(m >= 0 && 2 * size_t(m) + 1 < yolo.anchors.size(), "yolo loss: mask ", m, " names no anchor of ",
                yolo.anchors.size() / 2);
  for (int64_t b = 0; b < B; ++b)
    for (size_t t = 0; t < truths[size_t(b)].size(); ++t) {
      const YoloTruth& g = truths[size_t(b)][t];
      SIMAD_CHECK(g.x >= 0 && g.x <= 1 && g.y >= 0 && g.y <= 1 && g.w > 0 && g.w <= 1 && g.h > 0 && g.h <= 1 &&
                      g.class_id >= 0 && g.class_id < C,
                  "yolo loss: image ", b, " truth ", t, " (x ", g.x, ", y ", g.y, ", w ", g.w, ", h ", g.h, ", class ",
                  g.class_id, ") is not a box inside the input with a class below ", C);
    }
  YoloLossTerms terms;
  struct Target {
    int state = 0;  // 0: no object, 1: ignored, 2: responsible
    double gx = 0, gy = 0, gw = 0, gh = 0, k = 0;
    std::vector<char> classes;  // empty until a class target is set
  };
  std::vector<Target> targets(static_cast<size_t>(A * HW));
  for (int64_t b = 0; b < B; ++b) {
    const T* img = raw + b * A * E * HW;
    const std::vector<YoloTruth>& gts = truths[size_t(b)];
    for (Target& t : targets) t = Target{};
    auto at = [&](int64_t n, int64_t e, int64_t cell) { return double(img[(n * E + e) * HW + cell]); };
    auto pred_box = [&](int64_t n, int64_t cell, double out[4]) {
      const int a = yolo.mask[size_t(n)];
      out[0] = (double(cell % lw) + detail::logistic(at(n, 0, cell))) / double(lw);
      out[1] = (double(cell / lw) + detail::logistic(at(n, 1, cell))) / double(lh);
      out[2] = std::exp(at(n, 2, cell)) * double(yolo.anchors[size_t(2 * a)]) / net_w;
      out[3] = std::exp(at(n, 3, cell)) * double(yolo.anchors[size_t(2 * a + 1)]) / net_h;
    };
    auto assign = [&](Target& tg, const YoloTruth& g, int a, int64_t cell) {
      tg.state = 2;
      tg.gx = g.x * double(lw) - double(cell % lw);
      tg.gy = g.y * double(lh) - double(cell / lw);
      tg.gw = std::log(g.w * net_w / double(yolo.anchors[size_t(2 * a)]));
      tg.gh = std::log(g.h * net_h / double(yolo.anchors[size_t(2 * a + 1)]));
      tg.k = 2.0 - g.w * g.h;
      if (tg.classes.empty()) tg.classes.assign(size_t(C), 0);
      tg.classes[size_t(g.class_id)] = 1;
    };
    // 1. Ignore (and truth_thresh) by each prediction's best IoU with a truth.
    if (!gts.empty()) {
      for (int64_t n = 0; n < A; ++n)
        for (int64_t cell = 0; cell < HW; ++cell) {
          double p[4];
          pred_box(n, cell, p);
          double best = 0;
          size_t best_t = 0;
          for (size_t t = 0; t < gts.size(); ++t) {
            const double iou = detail::yolo_iou(p[0], p[1], p[2], p[3], gts[t].x, gts[t].y, gts[t].w, gts[t].h);
            if (iou > best) best = iou, best_t = t;
          }
          Target& tg = targets[size_t(n * HW + cell)];
          if (best > opt.ignore_thresh) tg.state = 1;
          if (best > opt.truth_thresh) assign(tg, gts[best_t], yolo.mask[size_t(n)], cell);
        }
    }
    // 2. Each truth to its cell and best anchor, when that anchor is this layer's.
    for (const YoloTruth& g : gts) {
      const int best_n = detail::yolo_best_anchor(yolo, g.w, g.h, net_w, net_h);
      const auto it = std::find(yolo.mask.begin(), yolo.mask.end(), best_n);
      if (it == yolo.mask.end()) continue;
      const int64_t n = it - yolo.mask.begin();
      const int64_t i = std::min<int64_t>(int64_t(g.x * double(lw)), lw - 1);
      const int64_t j = std::min<int64_t>(int64_t(g.y * double(lh)), lh - 1);
      const int64_t cell = j * lw + i;
      Target& tg = targets[size_t(n * HW + cell)];
      // A later truth on the same prediction: new coordinates, classes added (Darknet).
      if (tg.state == 2 && !tg.classes.empty()) {
        std::vector<char> keep = tg.classes;
        assign(tg, g, best_n, cell);
        for (size_t c = 0; c < keep.size(); ++c) tg.classes[c] |= keep[c];
      } else {
        tg.classes.clear();
        assign(tg, g, best_n, cell);
      }
      double p[4];
      pred_box(n, cell, p);
      terms.responsible += 1;
      terms.iou_sum += detail::yolo_iou(p[0], p[1], p[2], p[3], g.x, g.y, g.w, g.h);
    }
    // 3. Loss terms and gradient.
    T* dimg = draw ? draw + b * A * E * HW : nullptr;
    auto grad = [&](int64_t n, int64_t e, int64_t cell, double v) {
      if (dimg) dimg[(n * E + e) * HW + cell] += T(v);
    };
    for (int64_t n = 0; n < A; ++n)
      for (int64_t cell = 0; cell < HW; ++cell) {
        const Target& tg = targets[size_t(n * HW + cell)];
        const double to = at(n, 4, cell);
        if (tg.state == 0) {
          terms.noobj += detail::bce_logit(to, 0.0);
          grad(n, 4, cell, detail::logistic(to));
        }
        if (tg.state != 2) continue;
        terms.obj += detail::bce_logit(to, 1.0);
        grad(n, 4, cell, detail::logistic(to) - 1.0);
        const double tx = at(n, 0, cell), ty = at(n, 1, cell), tw = at(n, 2, cell), th = at(n, 3, cell);
        terms.coord += tg.k * (detail::bce_logit(tx, tg.gx) + detail::bce_logit(ty, tg.gy) +
                               0.5 * (tw - tg.gw) * (tw - tg.gw) + 0.5 * (th - tg.gh) * (th - tg.gh));
        grad(n, 0, cell, tg.k * (detail::logistic(tx) - tg.gx));
        grad(n, 1, cell, tg.k * (detail::logistic(ty) - tg.gy));
        grad(n, 2, cell, tg.k * (tw - tg.gw));
        grad(n, 3, cell, tg.k * (th - tg.gh));
        for (int64_t c = 0; c < C; ++c) {
          const double y = tg.classes[size_t(c)] ? 1.0 : 0.0, tc = at(n, 5 + c, cell);
          terms.cls += detail::bce_logit(tc, y);
          grad(n, 5 + c, cell, detail::logistic(tc) - y);
        }
      }
  }
  return terms;
}

// The loss of every [yolo] layer of cfg, summed. raw[s] / draw[s]: the s-th [yolo] layer's raw
// input (B, A * (5 + classes), h, w) and its gradient (added; a null draw[s] is not computed);
// thresholds from each layer's cfg section.
template <typename T>
YoloLossTerms yolo_loss(const io::darknet::Config& cfg, std::span<const T* const> raw, std::span<T* const> draw,
                        int64_t B, std::span<const std::vector<YoloTruth>> truths) {
  const std::vector<int> layers = cfg.yolo_layers();
  SIMAD_CHECK(raw.size() == layers.size() && draw.size() == layers.size(), "yolo loss: ", raw.size(), " outputs and ",
              draw.size(), " gradients for ", layers.size(), " [yolo] layers");
  YoloLossTerms total;
  for (size_t s = 0; s < layers.size(); ++s) {
    const io::darknet::Layer& l = cfg.layers[size_t(layers[s])];
    total += yolo_loss(draw[s], raw[s], *l.as<io::darknet::Yolo>(), B, l.out.h, l.out.w, cfg.net.width,
                       cfg.net.height, truths, yolo_loss_options(l));
  }
  return total;
}

}  // namespace simad::nn
