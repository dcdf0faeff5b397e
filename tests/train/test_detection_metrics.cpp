// Tests for train/detection_metrics.hpp: AP and mAP on hand-made cases whose precision/recall
// points are worked out in the comments, duplicates as false positives, classes without truths,
// product_found, and average_precision against a second formulation on random rankings.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "simad/train/detection_metrics.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

// A detection with edges [x0, x1) x [y0, y1).
nn::Detection det(float x0, float y0, float x1, float y1, int class_id, float confidence) {
  nn::Detection d;
  d.box = {(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0};
  d.class_id = class_id;
  d.confidence = confidence;
  d.objectness = confidence;
  return d;
}

data::DetectionBox truth(float x0, float y0, float x1, float y1, int class_id) { return {x0, y0, x1, y1, class_id}; }

}  // namespace

TEST_CASE("train/detection_metrics: AP of three truths and four ranked detections") {
  // Image 0: truths A [0,10)^2 and B [20,30)^2; image 1: truth C [0,10)^2. Detections, listed out
  // of order, ranked by confidence: 0.9 on A (TP), 0.8 on nothing in image 1 (FP), 0.7 on C (TP),
  // 0.6 on A again (duplicate: FP). B is never found.
  //   precision 1, 1/2, 2/3, 2/4;  recall 1/3, 1/3, 2/3, 2/3
  //   monotone precision 1, 2/3, 2/3, 1/2  ->  AP = 1/3 * 1 + 1/3 * 2/3 = 5/9
  const std::vector<std::vector<nn::Detection>> dets = {
      {det(0, 0, 10, 10, 0, 0.6f), det(0, 0, 10, 10, 0, 0.9f)},
      {det(0, 0, 10, 10, 0, 0.7f), det(50, 50, 60, 60, 0, 0.8f)},
  };
  const std::vector<std::vector<data::DetectionBox>> truths = {
      {truth(0, 0, 10, 10, 0), truth(20, 20, 30, 30, 0)},
      {truth(0, 0, 10, 10, 0)},
  };
  const train::DetectionEval e = train::evaluate_detections(dets, truths, 1);
  REQUIRE(e.ap.size() == 1);
  CHECK(e.ap[0] == doctest::Approx(5.0 / 9));
  CHECK(e.map == doctest::Approx(5.0 / 9));
  CHECK(e.truths_per_class[0] == 3);
  CHECK(e.detections_per_class[0] == 4);
  CHECK(e.true_positives_per_class[0] == 2);
  // Both images have a product (class 0); image 0's B is not matched, so only image 1 counts.
  CHECK(e.product_images == 2);
  CHECK(e.product_found == doctest::Approx(0.5));
}

TEST_CASE("train/detection_metrics: duplicates are false positives") {
  // T1 [0,10)^2 and T2 [40,50)^2. Ranked: 0.9 on T1 (TP), 0.8 on T1 again (FP), 0.7 on T2 (TP).
  //   precision 1, 1/2, 2/3; recall 1/2, 1/2, 1 -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6 (1 if the
  //   duplicate counted as a hit or were ignored).
  const std::vector<std::vector<data::DetectionBox>> truths = {{truth(0, 0, 10, 10, 0), truth(40, 40, 50, 50, 0)}};
  const std::vector<std::vector<nn::Detection>> dets = {
      {det(40, 40, 50, 50, 0, 0.7f), det(1, 0, 11, 10, 0, 0.8f), det(0, 0, 10, 10, 0, 0.9f)}};
  CHECK(train::evaluate_detections(dets, truths, 1).ap[0] == doctest::Approx(5.0 / 6));

  // VOC's rule: a detection goes to the truth it overlaps most; when that one is taken it is a false
  // positive even though it overlaps another, free truth above the threshold. T1 [0,10)x[0,10),
  // T2 [3,13)x[0,10); 0.9 exactly on T1 (TP); 0.8 on [1,11)x[0,10): IoU 90/110 with T1 (taken),
  // 80/120 with T2 -> FP. precision 1, 1/2; recall 1/2, 1/2 -> AP 1/2.
  const std::vector<std::vector<data::DetectionBox>> close = {{truth(0, 0, 10, 10, 0), truth(3, 0, 13, 10, 0)}};
  const std::vector<std::vector<nn::Detection>> two = {{det(0, 0, 10, 10, 0, 0.9f), det(1, 0, 11, 10, 0, 0.8f)}};
  const train::DetectionEval e = train::evaluate_detections(two, close, 1);
  CHECK(e.ap[0] == doctest::Approx(0.5));
  CHECK(e.true_positives_per_class[0] == 1);
  CHECK(e.product_found == 0);
}

TEST_CASE("train/detection_metrics: the IoU threshold is inclusive and classes do not mix") {
  // [0,20)x[0,10) against [0,10)^2: IoU exactly 100 / 200 = 0.5 -> a hit at 0.5, a miss at 0.51.
  const std::vector<std::vector<data::DetectionBox>> truths = {{truth(0, 0, 10, 10, 0)}};
  const std::vector<std::vector<nn::Detection>> dets = {{det(0, 0, 20, 10, 0, 0.5f)}};
  CHECK(train::evaluate_detections(dets, truths, 1, 0.5).ap[0] == doctest::Approx(1.0));
  CHECK(train::evaluate_detections(dets, truths, 1, 0.51).ap[0] == 0);
  // A perfect box of the wrong class finds nothing.
  const std::vector<std::vector<nn::Detection>> wrong = {{det(0, 0, 10, 10, 1, 0.9f)}};
  const train::DetectionEval e = train::evaluate_detections(wrong, truths, 2);
  CHECK(e.ap[0] == 0);
  CHECK(std::isnan(e.ap[1]));
  CHECK(e.product_found == 0);
}

TEST_CASE("train/detection_metrics: a class without truths has no AP and stays out of the mAP") {
  // Class 0: one truth, found -> AP 1. Class 1: one truth, never detected -> AP 0. Class 2: only
  // detections, no truths -> NaN, not averaged. mAP = (1 + 0) / 2.
  const std::vector<std::vector<data::DetectionBox>> truths = {{truth(0, 0, 10, 10, 0), truth(20, 0, 30, 10, 1)}};
  const std::vector<std::vector<nn::Detection>> dets = {{det(0, 0, 10, 10, 0, 0.9f), det(20, 0, 30, 10, 2, 0.8f)}};
  const train::DetectionEval e = train::evaluate_detections(dets, truths, 3);
  CHECK(e.ap[0] == doctest::Approx(1.0));
  CHECK(e.ap[1] == 0);
  CHECK(std::isnan(e.ap[2]));
  CHECK(e.truths_per_class == std::vector<int64_t>{1, 1, 0});
  CHECK(e.map == doctest::Approx(0.5));
  // No truths at all: every AP, the mAP and product_found are NaN.
  const train::DetectionEval none = train::evaluate_detections({{}}, {{}}, 2);
  CHECK(std::isnan(none.map));
  CHECK(std::isnan(none.product_found));
  CHECK(none.product_images == 0);
  CHECK_THROWS_AS(train::evaluate_detections({{}, {}}, {{}}, 2), Error);
  CHECK_THROWS_AS(train::evaluate_detections({{det(0, 0, 1, 1, 5, 0.5f)}}, {{}}, 2), Error);
}

TEST_CASE("train/detection_metrics: product_found counts images whose product is matched") {
  // Image 0: product found. Image 1: product covered only by a distractor-class detection. Image 2:
  // only a distractor (not in the denominator). Image 3: product overlapped at IoU 50/150 < 0.5.
  // Image 4: product found by a low-confidence detection. -> 2 of 4.
  const std::vector<std::vector<data::DetectionBox>> truths = {
      {truth(0, 0, 10, 10, 0), truth(30, 30, 60, 60, 1)},
      {truth(0, 0, 10, 10, 0)},
      {truth(0, 0, 10, 10, 1)},
      {truth(0, 0, 10, 10, 0)},
      {truth(5, 5, 25, 25, 0)},
  };
  const std::vector<std::vector<nn::Detection>> dets = {
      {det(0, 0, 10, 10, 0, 0.9f), det(30, 30, 60, 60, 1, 0.9f)},
      {det(0, 0, 10, 10, 1, 0.9f)},
      {det(0, 0, 10, 10, 1, 0.9f)},
      {det(5, 0, 15, 10, 0, 0.9f)},
      {det(6, 5, 25, 25, 0, 0.1f)},
  };
  const train::DetectionEval e = train::evaluate_detections(dets, truths, 2);
  CHECK(e.product_images == 4);
  CHECK(e.product_found == doctest::Approx(0.5));
  // Class 0 ranked: 0.9 image 0 (TP), 0.9 image 3 (FP), 0.1 image 4 (TP); truths 4.
  //   precision 1, 1/2, 2/3; recall 1/4, 1/4, 1/2 -> AP = 1/4 + 1/4 * 2/3 = 5/12
  CHECK(e.ap[0] == doctest::Approx(5.0 / 12));
  // Class 1 ranked (ties in image order): image 0 (TP), image 1 (FP: no class-1 truth), image 2 (TP).
  //   precision 1, 1/2, 2/3; recall 1/2, 1/2, 1 -> AP = 1/2 + 1/2 * 2/3 = 5/6
  CHECK(e.ap[1] == doctest::Approx(5.0 / 6));
  CHECK(e.map == doctest::Approx((5.0 / 12 + 5.0 / 6) / 2));
}

TEST_CASE("train/detection_metrics: average_precision equals the sum over hits of the best later precision") {
  // Second formulation: every true positive adds 1/truths of recall, at the best precision reached
  // at or after it; a ranking that never reaches some truths simply stops adding.
  Rng rng = testing::test_rng();
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = rng.next_below(30);
    std::vector<bool> tp(n);
    int64_t hits = 0;
    for (size_t k = 0; k < n; ++k) {
      tp[k] = rng.next_below(2) == 1;
      hits += tp[k] ? 1 : 0;
    }
    const int64_t truths = hits + int64_t(rng.next_below(4)) + (hits == 0 ? 1 : 0);
    double expected = 0;
    int64_t seen = 0;
    for (size_t k = 0; k < n; ++k) {
      if (!tp[k]) continue;
      ++seen;
      double best = 0;
      int64_t running = seen;
      for (size_t j = k; j < n; ++j) {
        if (j > k && tp[j]) ++running;
        best = std::max(best, double(running) / double(j + 1));
      }
      expected += best / double(truths);
    }
    CAPTURE(trial);
    CHECK(train::average_precision(tp, truths) == doctest::Approx(expected));
  }
  CHECK(std::isnan(train::average_precision({true}, 0)));
  CHECK(train::average_precision({}, 3) == 0);
}

}  // namespace SIMAD_TEST_FILE_ID
