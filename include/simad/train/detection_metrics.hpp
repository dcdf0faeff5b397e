// simad/train/detection_metrics.hpp: detector evaluation (issue #14): per-class average precision
// at an IoU threshold (mAP@0.5), as PASCAL VOC 2010+ computes it, and the share of ads whose product
// was found.
//
//   std::vector<std::vector<nn::Detection>> dets;        // per image, from nn::detect (pixels)
//   std::vector<std::vector<data::DetectionBox>> truths; // per image, ds.record(i).boxes
//   train::DetectionEval e = train::evaluate_detections(dets, truths, 2);   // e.map, e.ap[c]
//
// Matching, per class c (VOC devkit's voc_eval): all class-c detections of all images, sorted by
// confidence, highest first (ties: lower image index, then the order within the image). Each takes
// the class-c truth of its image with the highest IoU (first on ties); it is a true positive when
// that IoU >= iou_threshold and the truth is not matched yet (it becomes matched), else a false
// positive: a second detection of a matched object is a false positive, even if it also overlaps
// another, unmatched truth less. IoU is over continuous pixel edges (no VOC "+1").
// AP, all-point interpolation (VOC 2010+): with precision p_k and recall r_k after the k-th
// detection, make precision monotone from the right, p'_k = max_{j >= k} p_j, and sum
// (r_k - r_{k-1}) p'_k over k (r_0 = 0). Unmatched truths keep recall below 1.
// A class without truths has no AP: NaN (as train/metrics.hpp, a group without queries), and the
// mAP is the mean over the classes that have truths (NaN when none has). product_found: among the
// images with at least one class-0 truth, the share whose class-0 truths are all matched by the
// matching above (NaN when no image has one).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/data/detection_dataset.hpp"
#include "simad/nn/yolo.hpp"

namespace simad::train {

struct DetectionEval {
  std::vector<double> ap;  // per class, AP at the IoU threshold (NaN: no truths)
  double map = 0;          // mean of ap over classes with truths
  std::vector<int64_t> truths_per_class;
  double product_found = 0;  // share of images with a product whose product boxes are all matched
  std::vector<int64_t> detections_per_class;
  std::vector<int64_t> true_positives_per_class;
  int64_t product_images = 0;  // images with at least one class-0 truth (product_found's denominator)
};

// IoU of two boxes given by their edges.
inline double box_iou_edges(double ax0, double ay0, double ax1, double ay1, double bx0, double by0, double bx1,
                            double by1) {
  const double iw = std::min(ax1, bx1) - std::max(ax0, bx0), ih = std::min(ay1, by1) - std::max(ay0, by0);
  if (iw <= 0 || ih <= 0) return 0;
  const double inter = iw * ih;
  const double uni = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter;
  return uni > 0 ? inter / uni : 0;
}

// AP (all-point interpolation) of detections already sorted by confidence, highest first:
// is_tp[k] says whether the k-th is a true positive; `truths` objects exist in all. NaN when
// truths == 0.
inline double average_precision(const std::vector<bool>& is_tp, int64_t truths) {
  if (truths <= 0) return std::numeric_limits<double>::quiet_NaN();
  const size_t n = is_tp.size();
  std::vector<double> precision(n), recall(n);
  int64_t tp = 0;
  for (size_t k = 0; k < n; ++k) {
    tp += is_tp[k] ? 1 : 0;
    precision[k] = double(tp) / double(k + 1);
    recall[k] = double(tp) / double(truths);
  }
  for (size_t k = n; k-- > 1;) precision[k - 1] = std::max(precision[k - 1], precision[k]);
  double ap = 0, previous_recall = 0;
  for (size_t k = 0; k < n; ++k) {
    ap += (recall[k] - previous_recall) * precision[k];
    previous_recall = recall[k];
  }
  return ap;
}

inline DetectionEval evaluate_detections(const std::vector<std::vector<nn::Detection>>& detections,
                                         const std::vector<std::vector<data::DetectionBox>>& truths, int classes,
                                         double iou_threshold = 0.5) {
  SIMAD_CHECK(detections.size() == truths.size(), "evaluate_detections: detections for ", detections.size(),
              " images, truths for ", truths.size());
  SIMAD_CHECK(classes >= 1, "evaluate_detections: classes ", classes, " must be >= 1");
  const size_t n_images = truths.size();
  DetectionEval e;
  e.ap.assign(size_t(classes), std::numeric_limits<double>::quiet_NaN());
  e.truths_per_class.assign(size_t(classes), 0);
  e.detections_per_class.assign(size_t(classes), 0);
  e.true_positives_per_class.assign(size_t(classes), 0);
  for (size_t i = 0; i < n_images; ++i) {
    for (const data::DetectionBox& t : truths[i]) {
      SIMAD_CHECK(t.class_id >= 0 && t.class_id < classes, "evaluate_detections: image ", i, " has a truth of class ",
                  t.class_id, " (classes ", classes, ")");
      ++e.truths_per_class[size_t(t.class_id)];
    }
    for (const nn::Detection& d : detections[i])
      SIMAD_CHECK(d.class_id >= 0 && d.class_id < classes, "evaluate_detections: image ", i,
                  " has a detection of class ", d.class_id, " (classes ", classes, ")");
  }
  // matched[i][j]: truth j of image i is matched (by a detection of its class).
  std::vector<std::vector<bool>> matched(n_images);
  for (size_t i = 0; i < n_images; ++i) matched[i].assign(truths[i].size(), false);

  struct Ranked {
    float confidence;
    size_t image, index;
  };
  std::vector<Ranked> ranked;
  std::vector<bool> is_tp;
  double ap_sum = 0;
  int with_truths = 0;
  for (int c = 0; c < classes; ++c) {
    ranked.clear();
    for (size_t i = 0; i < n_images; ++i)
      for (size_t k = 0; k < detections[i].size(); ++k)
        if (detections[i][k].class_id == c) ranked.push_back({detections[i][k].confidence, i, k});
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const Ranked& a, const Ranked& b) { return a.confidence > b.confidence; });
    is_tp.assign(ranked.size(), false);
    for (size_t r = 0; r < ranked.size(); ++r) {
      const nn::Detection& d = detections[ranked[r].image][ranked[r].index];
      const std::vector<data::DetectionBox>& ts = truths[ranked[r].image];
      double best = -1;
      size_t best_j = 0;
      for (size_t j = 0; j < ts.size(); ++j) {
        if (ts[j].class_id != c) continue;
        const double iou = box_iou_edges(d.left(), d.top(), d.right(), d.bottom(), ts[j].x0, ts[j].y0, ts[j].x1,
                                         ts[j].y1);
        if (iou > best) best = iou, best_j = j;
      }
      if (best >= iou_threshold && !matched[ranked[r].image][best_j]) {
        matched[ranked[r].image][best_j] = true;
        is_tp[r] = true;
        ++e.true_positives_per_class[size_t(c)];
      }
    }
    e.detections_per_class[size_t(c)] = int64_t(ranked.size());
    e.ap[size_t(c)] = average_precision(is_tp, e.truths_per_class[size_t(c)]);
    if (e.truths_per_class[size_t(c)] > 0) ap_sum += e.ap[size_t(c)], ++with_truths;
  }
  e.map = with_truths > 0 ? ap_sum / with_truths : std::numeric_limits<double>::quiet_NaN();

  int64_t found = 0;
  for (size_t i = 0; i < n_images; ++i) {
    bool has_product = false, all_matched = true;
    for (size_t j = 0; j < truths[i].size(); ++j)
      if (truths[i][j].class_id == data::kProductClass) has_product = true, all_matched = all_matched && matched[i][j];
    if (!has_product) continue;
    ++e.product_images;
    found += all_matched ? 1 : 0;
  }
  e.product_found = e.product_images > 0 ? double(found) / double(e.product_images)
                                         : std::numeric_limits<double>::quiet_NaN();
  return e;
}

}  // namespace simad::train
