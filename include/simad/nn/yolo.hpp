// simad/nn/yolo.hpp: YOLOv3 detections from the network's [yolo] outputs, as pjreddie Darknet
// computes them (src/yolo_layer.c get_yolo_detections, correct_yolo_boxes; src/box.c do_nms_sort).
//
// For every cell (row, col) and anchor n of a scale of lw x lh cells, with the logistic already
// applied to tx, ty, objectness and class logits (nn/darknet.hpp):
//   bx = (col + sx) / lw,  by = (row + sy) / lh,  bw = exp(tw) * anchor_w / net_w,
//   bh = exp(th) * anchor_h / net_h  (relative to the network input);
//   kept when objectness > threshold; prob[c] = objectness * class[c], zeroed when <= threshold.
// Boxes are then moved from the letterboxed input back to the original picture and scaled to its
// pixels. NMS: per class, boxes sorted by prob[c] descending; each later box whose IoU with a
// kept one exceeds `nms` loses prob[c]. A box is reported once, with its best remaining class
// (ties: the lower class id) and that probability as its confidence; results are sorted by
// confidence, descending.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <span>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/image/letterbox.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/ops/yolo_decode.hpp"

namespace simad::nn {

// Centre and size.
struct Box {
  float x = 0, y = 0, w = 0, h = 0;
};

// Darknet's box_iou (src/box.c): overlap of the centre/size intervals.
inline float box_iou(const Box& a, const Box& b) {
  auto overlap = [](float x1, float w1, float x2, float w2) {
    const float l = std::max(x1 - w1 / 2, x2 - w2 / 2), r = std::min(x1 + w1 / 2, x2 + w2 / 2);
    return r - l;
  };
  const float w = overlap(a.x, a.w, b.x, b.w), h = overlap(a.y, a.h, b.y, b.h);
  const float inter = (w < 0 || h < 0) ? 0.0f : w * h;
  const float uni = a.w * a.h + b.w * b.h - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

// One box of one scale before NMS.
struct Candidate {
  Box box;  // network-relative (0..1) after decode, image pixels after correct_boxes
  float objectness = 0;
  std::vector<float> prob;  // (classes)
  int scale = 0;            // index among the network's [yolo] layers
  int col = 0, row = 0, anchor = 0;
};

struct Detection {
  Box box;  // pixels of the original image: centre and size
  int class_id = 0;
  float confidence = 0;  // objectness x class probability
  float objectness = 0;
  int scale = 0;         // which [yolo] layer
  int col = 0, row = 0;  // its cell on that scale (the box centre lies in it)
  int anchor = 0;
  float left() const { return box.x - box.w / 2; }
  float top() const { return box.y - box.h / 2; }
  float right() const { return box.x + box.w / 2; }
  float bottom() const { return box.y + box.h / 2; }
};

struct DetectOptions {
  float threshold = 0.3f;  // objectness and objectness x class probability must exceed it
  float nms = 0.45f;       // IoU above which the weaker box of a class is suppressed
};

// Appends the first n slots of ops::yolo_decode's outputs for one image (box (n, 4), objectness (n), prob
// (n, classes), where (n): cell A + anchor index) as Candidates of scale `scale`.
inline void append_decoded_candidates(std::vector<Candidate>& out, const float* box, const float* objectness,
                                      const float* prob, const int32_t* where, int64_t n, const io::darknet::Yolo& yolo,
                                      int lw, int scale) {
  const int64_t A = yolo.anchor_count(), classes = yolo.classes;
  for (int64_t j = 0; j < n; ++j) {
    Candidate c;
    const int64_t cell = where[j] / A;
    c.box = Box{box[4 * j], box[4 * j + 1], box[4 * j + 2], box[4 * j + 3]};
    c.objectness = objectness[j];
    c.prob.assign(prob + j * classes, prob + (j + 1) * classes);
    c.scale = scale, c.col = int(cell % lw), c.row = int(cell / lw);
    c.anchor = yolo.mask[size_t(where[j] % A)];
    out.push_back(std::move(c));
  }
}

// Candidates of one image on one scale. pred: (A, 5 + classes, lh, lw) with the logistic applied. The decoding
// and its order (cell-major, then anchor) are ops::yolo_decode's (which the GPU runs as well).
inline std::vector<Candidate> yolo_candidates(const float* pred, const io::darknet::Yolo& yolo, int lw, int lh,
                                              int net_w, int net_h, float threshold, int scale) {
  const int64_t A = yolo.anchor_count(), classes = yolo.classes, cap = A * int64_t(lw) * lh;
  std::vector<float> anchors(static_cast<size_t>(2 * A));
  for (int64_t n = 0; n < A; ++n) {
    const int a = yolo.mask[size_t(n)];
    anchors[size_t(2 * n)] = yolo.anchors[size_t(2 * a)], anchors[size_t(2 * n + 1)] = yolo.anchors[size_t(2 * a + 1)];
  }
  // The op's outputs have room for every cell-anchor; only the first `count` slots are written (not zeroed:
  // yolov3's finest scale would clear 2.6 MB of class probabilities per call).
  const auto box = std::make_unique_for_overwrite<float[]>(size_t(cap * 4));
  const auto objectness = std::make_unique_for_overwrite<float[]>(size_t(cap));
  const auto prob = std::make_unique_for_overwrite<float[]>(size_t(std::max<int64_t>(cap * classes, 1)));
  const auto where = std::make_unique_for_overwrite<int32_t[]>(size_t(cap));
  int32_t count = 0;
  ops::yolo_decode(box.get(), objectness.get(), prob.get(), where.get(), &count, pred, anchors.data(), int64_t(1), A,
                   classes, int64_t(lw), int64_t(lh), int64_t(net_w), int64_t(net_h), threshold);
  std::vector<Candidate> out;
  append_decoded_candidates(out, box.get(), objectness.get(), prob.get(), where.get(), count, yolo, lw, scale);
  return out;
}

// Darknet's correct_yolo_boxes: from the network input back to the picture, in pixels.
inline void correct_boxes(std::vector<Candidate>& cands, const image::LetterboxGeometry& g) {
  const float netw = float(g.net_w), neth = float(g.net_h), new_w = float(g.new_w), new_h = float(g.new_h);
  for (Candidate& c : cands) {
    Box b = c.box;
    b.x = (b.x - float(g.net_w - g.new_w) / 2.0f / netw) / (new_w / netw);
    b.y = (b.y - float(g.net_h - g.new_h) / 2.0f / neth) / (new_h / neth);
    b.w *= netw / new_w;
    b.h *= neth / new_h;
    b.x *= float(g.image_w), b.w *= float(g.image_w);
    b.y *= float(g.image_h), b.h *= float(g.image_h);
    c.box = b;
  }
}

// Darknet's do_nms_sort, restricted per class to the boxes that still have a probability.
inline void nms_per_class(std::vector<Candidate>& cands, int classes, float nms) {
  std::vector<size_t> idx;
  for (int k = 0; k < classes; ++k) {
    idx.clear();
    for (size_t i = 0; i < cands.size(); ++i)
      if (cands[i].prob[size_t(k)] > 0) idx.push_back(i);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      return cands[a].prob[size_t(k)] > cands[b].prob[size_t(k)];
    });
    for (size_t i = 0; i < idx.size(); ++i) {
      if (cands[idx[i]].prob[size_t(k)] == 0) continue;
      for (size_t j = i + 1; j < idx.size(); ++j)
        if (box_iou(cands[idx[i]].box, cands[idx[j]].box) > nms) cands[idx[j]].prob[size_t(k)] = 0;
    }
  }
}

// Each surviving box once, with its best class; sorted by confidence (stable: scale, cell, anchor
// order on ties).
inline std::vector<Detection> best_class_detections(const std::vector<Candidate>& cands) {
  std::vector<Detection> out;
  for (const Candidate& c : cands) {
    int best = -1;
    float p = 0;
    for (size_t k = 0; k < c.prob.size(); ++k)
      if (c.prob[k] > p) p = c.prob[k], best = int(k);
    if (best < 0) continue;
    out.push_back({c.box, best, p, c.objectness, c.scale, c.col, c.row, c.anchor});
  }
  std::stable_sort(out.begin(), out.end(), [](const Detection& a, const Detection& b) { return a.confidence > b.confidence; });
  return out;
}

// An image's detections from its candidates of every scale (yolo_candidates, in [yolo] order): boxes back to the
// picture, NMS per class, each box once with its best class.
inline std::vector<Detection> detections_from_candidates(std::vector<Candidate> cands, int classes,
                                                         const image::LetterboxGeometry& geometry, float nms) {
  correct_boxes(cands, geometry);
  nms_per_class(cands, classes, nms);
  return best_class_detections(cands);
}

// The class count of cfg's [yolo] layers (they must agree).
inline int yolo_classes(const io::darknet::Config& cfg) {
  int classes = -1;
  for (int i : cfg.yolo_layers()) {
    const int c = cfg.layers[size_t(i)].as<io::darknet::Yolo>()->classes;
    SIMAD_CHECK(classes < 0 || classes == c, "yolo detect: the [yolo] layers of '", cfg.source,
                "' disagree on the class count (", classes, " and ", c, ")");
    classes = c;
  }
  return std::max(classes, 0);
}

// Detections of image b of a batch. yolo_outputs[s]: the output of the s-th [yolo] layer of cfg,
// (B, A * (5 + classes), h, w); geometry: how image b was letterboxed (or stretched).
inline std::vector<Detection> detect(std::span<const Tensor<float>> yolo_outputs, const io::darknet::Config& cfg,
                                     int64_t b, const image::LetterboxGeometry& geometry, const DetectOptions& opt = {}) {
  const std::vector<int> layers = cfg.yolo_layers();
  SIMAD_CHECK(layers.size() == yolo_outputs.size(), "yolo detect: ", yolo_outputs.size(), " outputs for ",
              layers.size(), " [yolo] layers");
  SIMAD_CHECK(geometry.net_w == cfg.net.width && geometry.net_h == cfg.net.height, "yolo detect: geometry for a ",
              geometry.net_w, "x", geometry.net_h, " input, the network takes ", cfg.net.width, "x", cfg.net.height);
  std::vector<Candidate> cands;
  const int classes = yolo_classes(cfg);
  for (size_t s = 0; s < layers.size(); ++s) {
    const io::darknet::Layer& l = cfg.layers[size_t(layers[s])];
    const io::darknet::Yolo& y = *l.as<io::darknet::Yolo>();
    const Tensor<float>& t = yolo_outputs[s];
    SIMAD_CHECK(t.rank() == 4 && b >= 0 && b < t.dim(0) && t.dim(1) == l.out.c && t.dim(2) == l.out.h &&
                    t.dim(3) == l.out.w,
                "yolo detect: output ", s, " has shape ", t.shape(), ", expected (B, ", l.out.c, ", ", l.out.h, ", ",
                l.out.w, ") with image ", b, " < B");
    std::vector<Candidate> c = yolo_candidates(t.data() + b * l.out.numel(), y, l.out.w, l.out.h, cfg.net.width,
                                               cfg.net.height, opt.threshold, int(s));
    cands.insert(cands.end(), std::make_move_iterator(c.begin()), std::make_move_iterator(c.end()));
  }
  return detections_from_candidates(std::move(cands), classes, geometry, opt.nms);
}

}  // namespace simad::nn
