// Tests of include/simad/nn/yolo_loss.hpp on hand-made cases whose expected terms are computed here
// from the YOLOv3 / Darknet rules: which cell and anchor is responsible (best anchor over every
// scale), the coordinate targets and their 2 - w h weight, the ignore rule for predictions that
// overlap a truth above / below 0.7, truth_thresh, class BCE with two truths on one prediction; and
// the gradient with respect to the raw outputs against central finite differences (double), added
// to a non-zero buffer.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "simad/io/darknet_cfg.hpp"
#include "simad/nn/yolo_loss.hpp"
#include "simad/nn/yolov3_configs.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
namespace dk = simad::io::darknet;

namespace {

double sig(double z) { return 1.0 / (1.0 + std::exp(-z)); }
double logit(double p) { return std::log(p / (1.0 - p)); }
double bce(double z, double y) { return -(y * std::log(sig(z)) + (1.0 - y) * std::log(1.0 - sig(z))); }
// IoU of two boxes with the same centre.
double centred_iou(double w1, double h1, double w2, double h2) {
  const double inter = std::min(w1, w2) * std::min(h1, h2);
  return inter / (w1 * h1 + w2 * h2 - inter);
}

// One scale: 4x4 cells on a 64x64 input, anchors (8,8), (30,20), (50,60); this layer predicts the
// last two (mask 1, 2), 3 classes. Raw layout (A, 8, 4, 4).
struct Scene {
  dk::Yolo yolo;
  static constexpr int64_t A = 2, E = 8, L = 4, HW = 16;
  static constexpr int net = 64;
  std::vector<double> raw;
  Scene() : raw(size_t(A * E * HW)) {
    yolo.mask = {1, 2};
    yolo.anchors = {8, 8, 30, 20, 50, 60};
    yolo.classes = 3, yolo.num = 3;
    Rng rng = simad::testing::test_rng();
    rng.fill_uniform(std::span<double>(raw), -2.0, 2.0);
    for (int64_t n = 0; n < A; ++n)  // tiny boxes everywhere: no overlap with any truth
      for (int64_t c = 0; c < HW; ++c) raw[size_t((n * E + 2) * HW + c)] = raw[size_t((n * E + 3) * HW + c)] = -4.0;
  }
  double& at(int64_t n, int64_t e, int64_t col, int64_t row) { return raw[size_t((n * E + e) * HW + row * L + col)]; }
  // Puts the prediction of anchor slot n in cell (col, row) exactly on box (x, y, w, h).
  void place(int64_t n, int64_t col, int64_t row, double x, double y, double w, double h) {
    const int a = yolo.mask[size_t(n)];
    at(n, 0, col, row) = logit(x * L - double(col));
    at(n, 1, col, row) = logit(y * L - double(row));
    at(n, 2, col, row) = std::log(w * net / double(yolo.anchors[size_t(2 * a)]));
    at(n, 3, col, row) = std::log(h * net / double(yolo.anchors[size_t(2 * a + 1)]));
  }
};

}  // namespace

TEST_CASE("nn/yolo_loss: one truth - responsible cell and anchor, coordinate targets, ignore above 0.7") {
  Scene s;
  const nn::YoloTruth truth{0.49, 0.60, 0.45, 0.35, 2};  // 28.8 x 22.4 px: best anchor (30, 20)
  CHECK(centred_iou(28.8, 22.4, 30, 20) > centred_iou(28.8, 22.4, 50, 60));
  CHECK(centred_iou(28.8, 22.4, 30, 20) > centred_iou(28.8, 22.4, 8, 8));
  CHECK(nn::yolo_best_anchor(s.yolo, truth.w, truth.h, Scene::net, Scene::net) == 1);
  // Responsible: cell (1, 2) (0.49 * 4 = 1.96, 0.6 * 4 = 2.4), anchor slot 0 (anchor 1).
  // Same-size boxes shifted by d along x have IoU (w - d) / (w + d):
  s.place(0, 2, 2, 0.51, 0.60, 0.45, 0.35);    // d = 0.02: IoU 0.915 -> ignored
  s.place(1, 1, 2, 0.44, 0.60, 0.45, 0.35);    // d = 0.05: IoU 0.8 -> ignored
  s.place(1, 2, 2, 0.6025, 0.60, 0.45, 0.35);  // d = 0.1125: IoU 0.6 -> still "no object"
  const std::vector<std::vector<nn::YoloTruth>> truths = {{truth}};
  std::vector<double> draw(s.raw.size(), 0.0);
  const nn::YoloLossTerms got = nn::yolo_loss<double>(draw.data(), s.raw.data(), s.yolo, 1, 4, 4, Scene::net,
                                                      Scene::net, truths);
  // Expected, computed from the rules.
  auto idx = [](int64_t n, int64_t e, int64_t col, int64_t row) { return size_t((n * Scene::E + e) * Scene::HW + row * 4 + col); };
  double noobj = 0;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t row = 0; row < 4; ++row)
      for (int64_t col = 0; col < 4; ++col) {
        const bool responsible = n == 0 && col == 1 && row == 2;
        const bool ignored = (n == 0 && col == 2 && row == 2) || (n == 1 && col == 1 && row == 2);
        const double to = s.raw[idx(n, 4, col, row)];
        if (!responsible && !ignored) noobj += bce(to, 0.0);
        CAPTURE(n);
        CAPTURE(col);
        CAPTURE(row);
        CHECK(draw[idx(n, 4, col, row)] == doctest::Approx(responsible ? sig(to) - 1 : ignored ? 0.0 : sig(to)).epsilon(1e-12));
        if (!responsible)
          for (int64_t e = 0; e < 8; ++e)
            if (e != 4) CHECK(draw[idx(n, e, col, row)] == 0.0);
      }
  const double gx = 0.49 * 4 - 1, gy = 0.60 * 4 - 2, gw = std::log(28.8 / 30), gh = std::log(22.4 / 20);
  const double k = 2 - 0.45 * 0.35;
  const double tx = s.raw[idx(0, 0, 1, 2)], ty = s.raw[idx(0, 1, 1, 2)], tw = s.raw[idx(0, 2, 1, 2)],
               th = s.raw[idx(0, 3, 1, 2)];
  const double coord = k * (bce(tx, gx) + bce(ty, gy) + 0.5 * (tw - gw) * (tw - gw) + 0.5 * (th - gh) * (th - gh));
  double cls = 0;
  for (int c = 0; c < 3; ++c) cls += bce(s.raw[idx(0, 5 + c, 1, 2)], c == 2 ? 1.0 : 0.0);
  CHECK(got.noobj == doctest::Approx(noobj).epsilon(1e-12));
  CHECK(got.obj == doctest::Approx(bce(s.raw[idx(0, 4, 1, 2)], 1.0)).epsilon(1e-12));
  CHECK(got.coord == doctest::Approx(coord).epsilon(1e-12));
  CHECK(got.cls == doctest::Approx(cls).epsilon(1e-12));
  CHECK(got.total() == doctest::Approx(noobj + got.obj + coord + cls).epsilon(1e-12));
  CHECK(got.responsible == 1);
  // Gradient = minus Darknet's delta: k (s(tx) - gx), k (tw - gw), s(tc) - y.
  CHECK(draw[idx(0, 0, 1, 2)] == doctest::Approx(k * (sig(tx) - gx)).epsilon(1e-12));
  CHECK(draw[idx(0, 1, 1, 2)] == doctest::Approx(k * (sig(ty) - gy)).epsilon(1e-12));
  CHECK(draw[idx(0, 2, 1, 2)] == doctest::Approx(k * (tw - gw)).epsilon(1e-12));
  CHECK(draw[idx(0, 3, 1, 2)] == doctest::Approx(k * (th - gh)).epsilon(1e-12));
  CHECK(draw[idx(0, 7, 1, 2)] == doctest::Approx(sig(s.raw[idx(0, 7, 1, 2)]) - 1).epsilon(1e-12));
  CHECK(draw[idx(0, 5, 1, 2)] == doctest::Approx(sig(s.raw[idx(0, 5, 1, 2)])).epsilon(1e-12));

  // A perfect prediction: coordinate gradient zero, IoU 1.
  s.place(0, 1, 2, 0.49, 0.60, 0.45, 0.35);
  std::vector<double> d2(s.raw.size(), 0.0);
  const nn::YoloLossTerms perfect =
      nn::yolo_loss<double>(d2.data(), s.raw.data(), s.yolo, 1, 4, 4, Scene::net, Scene::net, truths);
  CHECK(perfect.iou_sum == doctest::Approx(1.0).epsilon(1e-9));
  for (int64_t e = 0; e < 4; ++e) CHECK(std::abs(d2[idx(0, e, 1, 2)]) < 1e-12);

  // truth_thresh 0.9: the prediction with IoU 0.915 becomes responsible too (objectness 1, class 2).
  nn::YoloLossOptions opt;
  opt.truth_thresh = 0.9;
  std::vector<double> d3(s.raw.size(), 0.0);
  nn::yolo_loss<double>(d3.data(), s.raw.data(), s.yolo, 1, 4, 4, Scene::net, Scene::net, truths, opt);
  CHECK(d3[idx(0, 4, 2, 2)] == doctest::Approx(sig(s.raw[idx(0, 4, 2, 2)]) - 1).epsilon(1e-12));
  CHECK(d3[idx(0, 7, 2, 2)] == doctest::Approx(sig(s.raw[idx(0, 7, 2, 2)]) - 1).epsilon(1e-12));
  CHECK(d3[idx(0, 0, 2, 2)] == doctest::Approx((2 - 0.45 * 0.35) * (sig(s.raw[idx(0, 0, 2, 2)]) - (0.49 * 4 - 2))).epsilon(1e-12));
  CHECK(d3[idx(1, 4, 1, 2)] == 0.0);  // IoU 0.8: ignored, below truth_thresh

  // A layer predicting only anchor 0 is not responsible for this truth (another scale is).
  dk::Yolo other = s.yolo;
  other.mask = {0};
  std::vector<double> raw1(s.raw.begin(), s.raw.begin() + Scene::E * Scene::HW);
  const nn::YoloLossTerms none =
      nn::yolo_loss<double>(nullptr, raw1.data(), other, 1, 4, 4, Scene::net, Scene::net, truths);
  CHECK(none.responsible == 0);
  CHECK(none.obj == 0.0);
  CHECK(none.coord == 0.0);
  CHECK(none.cls == 0.0);
}

TEST_CASE("nn/yolo_loss: two truths on one prediction - the last box and both classes") {
  Scene s;
  const std::vector<std::vector<nn::YoloTruth>> truths = {
      {{0.30, 0.30, 0.45, 0.33, 0}, {0.35, 0.40, 0.47, 0.30, 1}}};  // both cell (1, 1), anchor (30, 20)
  std::vector<double> draw(s.raw.size(), 0.0);
  const nn::YoloLossTerms got =
      nn::yolo_loss<double>(draw.data(), s.raw.data(), s.yolo, 1, 4, 4, Scene::net, Scene::net, truths);
  CHECK(got.responsible == 2);
  auto idx = [](int64_t e) { return size_t(e * Scene::HW + 1 * 4 + 1); };  // slot 0, cell (1, 1)
  double cls = 0;
  for (int c = 0; c < 3; ++c) {
    const double y = c < 2 ? 1.0 : 0.0;
    cls += bce(s.raw[idx(5 + c)], y);
    CHECK(draw[idx(5 + c)] == doctest::Approx(sig(s.raw[idx(5 + c)]) - y).epsilon(1e-12));
  }
  CHECK(got.cls == doctest::Approx(cls).epsilon(1e-12));
  const double k = 2 - 0.47 * 0.30, gx = 0.35 * 4 - 1;
  CHECK(draw[idx(0)] == doctest::Approx(k * (sig(s.raw[idx(0)]) - gx)).epsilon(1e-12));
}

TEST_CASE("nn/yolo_loss: best anchor over all scales picks the layer (yolov3-tiny cfg)") {
  const dk::Config cfg = nn::yolov3_tiny_config(64, 64, 3);
  const std::vector<int> layers = cfg.yolo_layers();
  REQUIRE(layers.size() == 2);
  const dk::Yolo& y13 = *cfg.layers[size_t(layers[0])].as<dk::Yolo>();
  // Anchors 10,14 23,27 37,58 81,82 135,169 344,319 (input pixels) at 64 px: a 13x15 px truth -> (10,14)
  // (IoU 0.72); 62x63 px -> (81,82) (IoU 0.59, against 0.55 for (37,58)).
  const nn::YoloTruth small{0.3, 0.3, 13.0 / 64, 15.0 / 64, 0}, big{0.5, 0.5, 62.0 / 64, 63.0 / 64, 1};
  CHECK(centred_iou(62, 63, 81, 82) > centred_iou(62, 63, 37, 58));
  CHECK(centred_iou(13, 15, 10, 14) > centred_iou(13, 15, 23, 27));
  CHECK(nn::yolo_best_anchor(y13, small.w, small.h, 64, 64) == 0);
  CHECK(nn::yolo_best_anchor(y13, big.w, big.h, 64, 64) == 3);
  Rng rng = simad::testing::test_rng();
  std::vector<std::vector<double>> raw;
  for (int l : layers) raw.push_back(simad::testing::random_vector<double>(rng, size_t(cfg.layers[size_t(l)].out.numel()), -1, 1));
  const double* rp[] = {raw[0].data(), raw[1].data()};
  double* dp[] = {nullptr, nullptr};
  const std::vector<std::vector<nn::YoloTruth>> only_small = {{small}}, only_big = {{big}}, both = {{small, big}};
  auto responsible = [&](const std::vector<std::vector<nn::YoloTruth>>& t, size_t scale) {
    const dk::Layer& l = cfg.layers[size_t(layers[scale])];
    return nn::yolo_loss<double>(nullptr, rp[scale], *l.as<dk::Yolo>(), 1, l.out.h, l.out.w, 64, 64, t).responsible;
  };
  CHECK(responsible(only_small, 0) == 0);  // coarse scale: anchors 3, 4, 5
  CHECK(responsible(only_small, 1) == 1);  // fine scale: anchors 0, 1, 2
  CHECK(responsible(only_big, 0) == 1);
  CHECK(responsible(only_big, 1) == 0);
  const nn::YoloLossTerms total = nn::yolo_loss<double>(cfg, std::span<const double* const>(rp), std::span<double* const>(dp), 1, both);
  CHECK(total.responsible == 2);
}

TEST_CASE("nn/yolo_loss: gradient matches finite differences of the loss (two scales, batch 2)") {
  const dk::Config cfg = nn::yolov3_tiny_config(64, 64, 3);
  const std::vector<int> layers = cfg.yolo_layers();
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  std::vector<double> raw0 = simad::testing::random_vector<double>(rng, size_t(2 * cfg.layers[size_t(layers[0])].out.numel()), -1.5, 1.5);
  std::vector<double> raw1 = simad::testing::random_vector<double>(rng, size_t(2 * cfg.layers[size_t(layers[1])].out.numel()), -1.5, 1.5);
  const std::vector<std::vector<nn::YoloTruth>> truths = {
      {{0.3, 0.3, 13.0 / 64, 15.0 / 64, 0}, {0.6, 0.55, 52.0 / 64, 53.0 / 64, 1}, {0.8, 0.2, 0.3, 0.4, 2}},
      {{0.5, 0.5, 0.5, 0.3, 1}}};
  const double* rp[] = {raw0.data(), raw1.data()};
  auto loss = [&] {
    double* none[] = {nullptr, nullptr};
    return nn::yolo_loss<double>(cfg, std::span<const double* const>(rp), std::span<double* const>(none), 2, truths).total();
  };
  std::vector<double> d0a = simad::testing::random_vector<double>(rng, raw0.size()), d1a = simad::testing::random_vector<double>(rng, raw1.size());
  std::vector<double> d0 = d0a, d1 = d1a;
  double* dp[] = {d0.data(), d1.data()};
  const nn::YoloLossTerms terms = nn::yolo_loss<double>(cfg, std::span<const double* const>(rp), std::span<double* const>(dp), 2, truths);
  CHECK(terms.responsible == 4);
  CHECK(terms.total() == doctest::Approx(loss()).epsilon(1e-14));
  for (size_t i = 0; i < d0.size(); ++i) d0[i] -= d0a[i];
  for (size_t i = 0; i < d1.size(); ++i) d1[i] -= d1a[i];
  SIMAD_CHECK_GRADIENT(d0, simad::testing::numeric_gradient(std::span<double>(raw0), loss), "draw 13");
  SIMAD_CHECK_GRADIENT(d1, simad::testing::numeric_gradient(std::span<double>(raw1), loss), "draw 26");
  // float gives the same gradient to float precision.
  const std::vector<float> f0(raw0.begin(), raw0.end()), f1(raw1.begin(), raw1.end());
  std::vector<float> g0(raw0.size(), 0.0f), g1(raw1.size(), 0.0f);
  const float* fp[] = {f0.data(), f1.data()};
  float* gp[] = {g0.data(), g1.data()};
  const nn::YoloLossTerms tf = nn::yolo_loss<float>(cfg, std::span<const float* const>(fp), std::span<float* const>(gp), 2, truths);
  CHECK(tf.total() == doctest::Approx(terms.total()).epsilon(1e-5));
  simad::testing::check_close(g0, d0, 1e-5, 1e-4, "draw 13 float");
  simad::testing::check_close(g1, d1, 1e-5, 1e-4, "draw 26 float");
}

TEST_CASE("nn/yolo_loss: bad truths and thresholds from the cfg") {
  Scene s;
  const std::vector<std::vector<nn::YoloTruth>> bad_class = {{{0.5, 0.5, 0.2, 0.2, 3}}};
  CHECK_THROWS_WITH(nn::yolo_loss<double>(nullptr, s.raw.data(), s.yolo, 1, 4, 4, 64, 64, bad_class),
                    doctest::Contains("class below 3"));
  const std::vector<std::vector<nn::YoloTruth>> bad_box = {{{1.5, 0.5, 0.2, 0.2, 0}}};
  CHECK_THROWS_WITH(nn::yolo_loss<double>(nullptr, s.raw.data(), s.yolo, 1, 4, 4, 64, 64, bad_box),
                    doctest::Contains("truth 0"));
  const dk::Config cfg = dk::parse_cfg(
      "[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilters=16\nsize=1\nstride=1\npad=1\nactivation=linear\n"
      "[yolo]\nmask=0,1\nanchors=10,13,16,30\nclasses=3\nnum=2\nignore_thresh=.5\ntruth_thresh=0.9\n");
  const nn::YoloLossOptions o = nn::yolo_loss_options(cfg.layers[1]);
  CHECK(o.ignore_thresh == doctest::Approx(0.5));
  CHECK(o.truth_thresh == doctest::Approx(0.9));
}

}  // namespace SIMAD_TEST_FILE_ID
