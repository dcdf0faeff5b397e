// Tests for data/detection_dataset.hpp: JSONL rows, the letterbox path, augmentation geometry
// checked against the pixels it produces, HSV jitter, the box dropping rule and the loader's
// determinism (thread count, seek).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "simad/data/detection_dataset.hpp"
#include "simad/image/decode.hpp"
#include "simad/image/letterbox.hpp"
#include "simad/image/write.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A plain grey picture with one solid rectangle [x0, x1) x [y0, y1) of a saturated colour.
image::Image rectangle_image(int w, int h, int x0, int y0, int x1, int y1) {
  image::Image im(w, h, 3, 0.3f);
  const float colour[3] = {0.9f, 0.2f, 0.15f};
  for (int k = 0; k < 3; ++k)
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) im.at(x, y, k) = colour[k];
  return im;
}

std::string box_json(double x, double y, double w, double h, const char* role) {
  return "{\"x\": " + std::to_string(x) + ", \"y\": " + std::to_string(y) + ", \"w\": " + std::to_string(w) +
         ", \"h\": " + std::to_string(h) + ", \"role\": \"" + role + "\", \"category\": 3, \"shape\": \"disc\"}";
}

// max - min over the channels of pixel (x, y) of a planar RGB input: 0 for any grey.
float spread(const std::vector<float>& im, int w, int h, int x, int y) {
  const size_t plane = size_t(w) * size_t(h), i = size_t(y) * size_t(w) + size_t(x);
  const float r = im[i], g = im[plane + i], b = im[2 * plane + i];
  return std::max({r, g, b}) - std::min({r, g, b});
}

struct PixelBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // edges
  int64_t count = 0;
};

// The bounding box of the pixels at least half as colourful as the most colourful one.
PixelBox coloured_pixels(const std::vector<float>& im, int w, int h) {
  float peak = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) peak = std::max(peak, spread(im, w, h, x, y));
  PixelBox b{w, h, 0, 0, 0};
  if (peak < 0.05f) return {};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (spread(im, w, h, x, y) > 0.5f * peak) {
        b.x0 = std::min(b.x0, x), b.y0 = std::min(b.y0, y), b.x1 = std::max(b.x1, x + 1), b.y1 = std::max(b.y1, y + 1);
        ++b.count;
      }
  return b;
}

}  // namespace

TEST_CASE("data/detection_dataset: rows parse, image paths resolve and splits filter") {
  testing::TempDir dir("simad_test_detection");
  fs::create_directories(dir.path / "images");
  const std::string jsonl = (dir.path / "ads.jsonl").string();
  write_text(jsonl,
             "{\"id\": 4, \"text\": \"a\", \"image\": \"images/000004.png\", \"split\": \"train\", \"boxes\": [" +
                 box_json(10, 12, 40, 38, "product") + ", " + box_json(1.5, 2.25, 3.5, 4, "distractor") + "]}\n" +
                 "\n" +
                 "{\"id\": 5, \"image\": \"images/000005.png\", \"split\": \"validation\", \"boxes\": []}\r\n" +
                 "{\"image\": \"/abs/x.png\", \"split\": \"test\"}\n");
  const auto all = data::DetectionDataset::open(jsonl);
  REQUIRE(all.size() == 3);
  const data::DetectionRecord& r = all.record(0);
  CHECK(r.id == 4);
  CHECK(r.line == 1);
  CHECK(r.split == "train");
  CHECK(fs::path(r.image_path) == (dir.path / "images/000004.png").lexically_normal());
  REQUIRE(r.boxes.size() == 2);
  CHECK(r.boxes[0].x0 == 10);
  CHECK(r.boxes[0].y0 == 12);
  CHECK(r.boxes[0].x1 == 50);
  CHECK(r.boxes[0].y1 == 50);
  CHECK(r.boxes[0].class_id == data::kProductClass);
  CHECK(r.boxes[1].x0 == 1.5f);
  CHECK(r.boxes[1].y0 == 2.25f);
  CHECK(r.boxes[1].x1 == 5.0f);
  CHECK(r.boxes[1].y1 == 6.25f);
  CHECK(r.boxes[1].class_id == data::kDistractorClass);
  CHECK(all.record(1).line == 3);
  CHECK(all.record(1).boxes.empty());
  CHECK(all.record(2).id == 4);  // no "id": the line number
  CHECK(all.record(2).image_path == "/abs/x.png");

  const auto validation = data::DetectionDataset::open(jsonl, "validation");
  REQUIRE(validation.size() == 1);
  CHECK(validation.record(0).id == 5);
  CHECK(data::DetectionDataset::open(jsonl, "train").size() == 1);
  try {
    data::DetectionDataset::open(jsonl, "val");
    FAIL("a split no row has must be an error");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.find("\"val\"") != std::string::npos);
    CHECK(what.find("\"validation\" (1)") != std::string::npos);
  }
  CHECK_THROWS_AS(data::DetectionDataset::open((dir.path / "missing.jsonl").string()), Error);
}

TEST_CASE("data/detection_dataset: a bad row is an error naming the file and the line") {
  testing::TempDir dir("simad_test_detection");
  fs::create_directories(dir.path / "images");
  const std::string good = "{\"id\": 1, \"image\": \"a.png\", \"boxes\": [" + box_json(0, 0, 4, 4, "product") + "]}";
  const std::vector<std::string> bad = {
      "not json",
      "[1, 2]",
      "{\"id\": 2}",
      "{\"id\": 2, \"image\": 7}",
      "{\"id\": \"x\", \"image\": \"b.png\"}",
      "{\"id\": 2, \"image\": \"b.png\", \"split\": 3}",
      "{\"id\": 2, \"image\": \"b.png\", \"boxes\": {}}",
      "{\"id\": 2, \"image\": \"b.png\", \"boxes\": [" + box_json(0, 0, -1, 4, "product") + "]}",
      "{\"id\": 2, \"image\": \"b.png\", \"boxes\": [" + box_json(0, 0, 4, 4, "logo") + "]}",
      "{\"id\": 2, \"image\": \"b.png\", \"boxes\": [{\"x\": 0, \"y\": 0, \"w\": 4, \"h\": 4}]}",
      "{\"id\": 2, \"image\": \"b.png\", \"boxes\": [{\"x\": 0, \"y\": \"0\", \"w\": 4, \"h\": 4, \"role\": "
      "\"product\"}]}",
      "{\"id\": 2, \"image\": \"b.png\", \"boxes\": [1]}",
  };
  for (const std::string& row : bad) {
    CAPTURE(row);
    const std::string jsonl = (dir.path / "bad.jsonl").string();
    write_text(jsonl, good + "\n\n" + row + "\n" + good + "\n");
    try {
      data::DetectionDataset::open(jsonl);
      FAIL("the bad row was accepted");
    } catch (const Error& e) {
      const std::string what = e.what();
      CHECK(what.find(jsonl) != std::string::npos);
      CHECK(what.find("line 3:") != std::string::npos);
    }
  }
}

TEST_CASE("data/detection_dataset: without augmentation the input is the inference letterbox") {
  testing::TempDir dir("simad_test_detection");
  fs::create_directories(dir.path / "images");
  Rng rng = testing::test_rng();
  image::Image im(100, 60, 3);
  for (float& v : im.data) v = float(rng.next_below(256)) / 255.0f;
  image::write_png(im, dir.path / "images/a.png");
  write_text(dir.path / "ads.jsonl", "{\"image\": \"images/a.png\", \"boxes\": [" + box_json(10, 6, 30, 20, "product") +
                                         ", " + box_json(90, 50, 40, 40, "distractor") + ", " +
                                         box_json(5, 5, 1, 1, "distractor") + "]}\n");
  const auto ds = data::DetectionDataset::open((dir.path / "ads.jsonl").string());
  data::Augment aug;
  aug.enabled = false;
  const data::DetectionExample ex = data::load_example(ds, 0, 64, 48, aug, rng);
  const image::Image decoded = image::load(dir.path / "images/a.png");
  image::LetterboxGeometry g;
  const image::Image expected = image::letterbox(decoded, 64, 48, image::ResizeMode::letterbox, &g);
  CHECK(ex.image == expected.data);
  // 100x60 into 64x48: new 64x38 at (0, 5).
  REQUIRE(g.new_w == 64);
  REQUIRE(g.new_h == 38);
  REQUIRE(g.dy == 5);
  // The box [10, 40) x [6, 26) maps to [6.4, 25.6) x [5 + 3.8, 5 + 16.467); the second box is
  // clipped to the image, [90, 100) x [50, 60); the third (1x1) becomes 0.64 x 0.63 network pixels
  // and is dropped.
  REQUIRE(ex.truths.size() == 2);
  const double sx = 64.0 / 100, sy = 38.0 / 60;
  CHECK(ex.truths[0].x == doctest::Approx((10 + 40) / 2.0 * sx / 64));
  CHECK(ex.truths[0].y == doctest::Approx((5 + (6 + 26) / 2.0 * sy) / 48));
  CHECK(ex.truths[0].w == doctest::Approx(30 * sx / 64));
  CHECK(ex.truths[0].h == doctest::Approx(20 * sy / 48));
  CHECK(ex.truths[0].class_id == 0);
  CHECK(ex.truths[1].x == doctest::Approx(95 * sx / 64));
  CHECK(ex.truths[1].y == doctest::Approx((5 + 55 * sy) / 48));
  CHECK(ex.truths[1].w == doctest::Approx(10 * sx / 64));
  CHECK(ex.truths[1].h == doctest::Approx(10 * sy / 48));
  CHECK(ex.truths[1].class_id == 1);
}

TEST_CASE("data/detection_dataset: augmented truth boxes follow the rectangle in the pixels") {
  testing::TempDir dir("simad_test_detection");
  fs::create_directories(dir.path / "images");
  const int W = 96, H = 72, net_w = 64, net_h = 64;
  const int rx0 = 4, ry0 = 20, rx1 = 44, ry1 = 50;  // near the left edge: large scales crop it
  const image::Image im = rectangle_image(W, H, rx0, ry0, rx1, ry1);
  image::write_png(im, dir.path / "images/r.png");
  write_text(dir.path / "ads.jsonl", "{\"image\": \"images/r.png\", \"boxes\": [" +
                                         box_json(rx0, ry0, rx1 - rx0, ry1 - ry0, "product") + "]}\n");
  const auto ds = data::DetectionDataset::open((dir.path / "ads.jsonl").string());
  const image::Image decoded = image::load(ds.record(0).image_path);
  data::Augment aug;  // defaults (flip, HSV) with more jitter and zoom, so that crops and drops occur
  aug.jitter = 0.3;
  aug.max_scale = 1.8;
  int kept = 0, dropped = 0, flipped = 0, cropped = 0;
  double max_err = 0;
  const double kTolerance = 1.0;  // the pixel box has whole-pixel edges; measured 0.56 at most
  for (uint64_t seed = 0; seed < 80; ++seed) {
    CAPTURE(seed);
    Rng rng(seed);
    data::ExampleTransform t;
    const data::DetectionExample ex = data::make_example(decoded, ds.record(0).boxes, net_w, net_h, aug, rng, &t);
    Rng again(seed);
    CHECK(data::load_example(ds, 0, net_w, net_h, aug, again).image == ex.image);  // file path = in-memory path
    for (float v : ex.image) REQUIRE((v >= 0.0f && v <= 1.0f));
    flipped += t.flipped ? 1 : 0;
    const PixelBox px = coloured_pixels(ex.image, net_w, net_h);
    const double full = (rx1 - rx0) * t.sx * (ry1 - ry0) * t.sy;
    if (ex.truths.empty()) {
      ++dropped;
      CHECK(double(px.count) < aug.min_visible * full + 2 * ((rx1 - rx0) * t.sx + (ry1 - ry0) * t.sy));
      continue;
    }
    ++kept;
    REQUIRE(ex.truths.size() == 1);
    const nn::YoloTruth& tr = ex.truths[0];
    CHECK(tr.class_id == 0);
    const double tx0 = (tr.x - tr.w / 2) * net_w, tx1 = (tr.x + tr.w / 2) * net_w;
    const double ty0 = (tr.y - tr.h / 2) * net_h, ty1 = (tr.y + tr.h / 2) * net_h;
    if (tr.w * tr.h * net_w * net_h < full * 0.999) ++cropped;
    for (double err : {tx0 - px.x0, tx1 - px.x1, ty0 - px.y0, ty1 - px.y1}) {
      CHECK(std::abs(err) <= kTolerance);
      max_err = std::max(max_err, std::abs(err));
    }
  }
  // The draws must reach every branch: kept, flipped, unflipped and cropped boxes.
  CHECK(kept >= 40);
  CHECK(dropped >= 1);
  CHECK(flipped >= 20);
  CHECK(flipped <= 60);
  CHECK(cropped >= 3);
  MESSAGE("kept ", kept, " dropped ", dropped, " flipped ", flipped, " cropped ", cropped, ", largest edge error ",
          max_err, " px");
}

TEST_CASE("data/detection_dataset: flip mirrors the input and maps x to 1 - x") {
  testing::TempDir dir("simad_test_detection");
  fs::create_directories(dir.path / "images");
  Rng pixels = testing::test_rng();
  image::Image im(40, 30, 3);
  for (float& v : im.data) v = pixels.next_float();
  const std::vector<data::DetectionBox> boxes = {{3, 4, 15, 20, 0}, {20, 2, 38, 29, 1}};
  data::Augment no_flip;
  no_flip.flip = false;
  data::Augment flip = no_flip;
  flip.flip = true;
  int mirrored = 0, same = 0;
  for (uint64_t seed = 0; seed < 24; ++seed) {
    CAPTURE(seed);
    Rng a(seed), b(seed);
    const data::DetectionExample ref = data::make_example(im, boxes, 48, 40, no_flip, a);
    const data::DetectionExample ex = data::make_example(im, boxes, 48, 40, flip, b);
    REQUIRE(ref.truths.size() == ex.truths.size());
    if (ex.image == ref.image) {
      ++same;
      for (size_t i = 0; i < ex.truths.size(); ++i) CHECK(ex.truths[i].x == ref.truths[i].x);
      continue;
    }
    ++mirrored;
    for (int k = 0; k < 3; ++k)
      for (int y = 0; y < 40; ++y)
        for (int x = 0; x < 48; ++x) {
          const size_t i = (size_t(k) * 40 + size_t(y)) * 48;
          REQUIRE(ex.image[i + size_t(x)] == ref.image[i + size_t(47 - x)]);
        }
    for (size_t i = 0; i < ex.truths.size(); ++i) {
      CHECK(ex.truths[i].x == doctest::Approx(1 - ref.truths[i].x));
      CHECK(ex.truths[i].y == ref.truths[i].y);
      CHECK(ex.truths[i].w == doctest::Approx(ref.truths[i].w));
      CHECK(ex.truths[i].h == ref.truths[i].h);
      CHECK(ex.truths[i].class_id == ref.truths[i].class_id);
    }
  }
  CHECK(mirrored >= 4);
  CHECK(same >= 4);
}

TEST_CASE("data/detection_dataset: HSV jitter has Darknet's meaning and keeps values in [0, 1]") {
  // One pixel at a time: hue turns by a fraction of the circle, value and saturation scale.
  auto distort = [](std::vector<float> rgb, float dhue, float dsat, float dexp) {
    data::detail::distort_hsv(rgb, 1, 1, dhue, dsat, dexp);
    return rgb;
  };
  auto near = [](const std::vector<float>& a, std::vector<float> b) {
    for (size_t i = 0; i < 3; ++i)
      if (std::abs(a[i] - b[i]) > 1e-5f) return false;
    return true;
  };
  CHECK(near(distort({1, 0, 0}, 1.0f / 3, 1, 1), {0, 1, 0}));   // red -> green
  CHECK(near(distort({1, 0, 0}, -1.0f / 3, 1, 1), {0, 0, 1}));  // red -> blue (wrapping)
  CHECK(near(distort({0.8f, 0.4f, 0.2f}, 0, 1, 0.5f), {0.4f, 0.2f, 0.1f}));
  CHECK(near(distort({0.8f, 0.4f, 0.2f}, 0, 0, 1), {0.8f, 0.8f, 0.8f}));  // no saturation: grey at V
  CHECK(near(distort({0.8f, 0.4f, 0.2f}, 0, 1.0f / 0.75f, 1), {0.8f, 0.8f / 3, 0.0f}));  // S 0.75 -> 1
  CHECK(near(distort({0.5f, 0.5f, 0.5f}, 0.3f, 3, 1), {0.5f, 0.5f, 0.5f}));  // grey has no hue
  CHECK(near(distort({0.9f, 0.6f, 0.3f}, 0, 1, 4), {1.0f, 1.0f * 0.6f / 0.9f, 1.0f * 0.3f / 0.9f}));  // V clamps

  // Whole inputs under strong jitter: every value in [0, 1], and the jitter does change colours.
  Rng pixels = testing::test_rng();
  image::Image im(32, 32, 3);
  for (float& v : im.data) v = pixels.next_float();
  data::Augment strong;
  strong.hue = 0.5, strong.saturation = 4, strong.exposure = 4;
  data::Augment none = strong;
  none.hue = 0, none.saturation = 1, none.exposure = 1;
  int changed = 0;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    Rng a(seed), b(seed);
    const auto ex = data::make_example(im, {}, 32, 32, strong, a);
    const auto ref = data::make_example(im, {}, 32, 32, none, b);
    for (float v : ex.image) REQUIRE((v >= 0.0f && v <= 1.0f));
    changed += ex.image != ref.image ? 1 : 0;
  }
  CHECK(changed == 16);
}

TEST_CASE("data/detection_dataset: boxes under a pixel or mostly cropped away are dropped") {
  data::ExampleTransform t;
  t.net_w = 100, t.net_h = 100, t.sx = 1, t.sy = 1, t.ox = -50, t.oy = 0;  // the image moved 50 px left
  const std::vector<data::DetectionBox> boxes = {
      {40, 10, 60, 30, 0},      // half inside: 10 of 20 columns -> kept at min_visible 0.5
      {41, 10, 61, 30, 1},      // 11 of 20 columns inside -> kept
      {32, 10, 52, 30, 0},      // 2 of 20 columns inside -> dropped
      {70, 10, 70.8f, 30, 1},   // 0.8 px wide -> dropped
      {70, 10, 90, 10.9f, 1},   // 0.9 px high -> dropped
      {70, 40, 71, 41, 0},      // exactly one pixel -> kept
      {150, 40, 170, 60, 1},    // beyond the image (width 120): clipped to [150, 120) = empty -> dropped
  };
  const auto truths = data::transform_boxes(boxes, 120, 100, t, 0.5);
  REQUIRE(truths.size() == 3);
  CHECK(truths[0].x == doctest::Approx(5.0 / 100));
  CHECK(truths[0].w == doctest::Approx(10.0 / 100));
  CHECK(truths[0].y == doctest::Approx(20.0 / 100));
  CHECK(truths[0].h == doctest::Approx(20.0 / 100));
  CHECK(truths[1].w == doctest::Approx(11.0 / 100));
  CHECK(truths[1].class_id == 1);
  CHECK(truths[2].x == doctest::Approx(20.5 / 100));
  CHECK(truths[2].w == doctest::Approx(1.0 / 100));
  // A higher min_visible drops the half-visible box too; 0 keeps the 2-column one.
  CHECK(data::transform_boxes(boxes, 120, 100, t, 0.52).size() == 2);
  CHECK(data::transform_boxes(boxes, 120, 100, t, 0.0).size() == 4);
}

TEST_CASE("data/detection_dataset: loader batches depend only on the seed and the batch index") {
  testing::TempDir dir("simad_test_detection");
  fs::create_directories(dir.path / "images");
  std::string rows;
  const int n = 5;
  for (int i = 0; i < n; ++i) {
    const int w = 40 + 7 * i, h = 50 - 4 * i;
    const image::Image im = rectangle_image(w, h, 5 + i, 6, 20 + i, 30 - i);
    const std::string name = "images/" + std::to_string(i) + ".png";
    image::write_png(im, dir.path / name);
    rows += "{\"id\": " + std::to_string(i) + ", \"image\": \"" + name + "\", \"split\": \"train\", \"boxes\": [" +
            box_json(5 + i, 6, 15, 24 - i, "product") + "]}\n";
  }
  rows += "{\"id\": 9, \"image\": \"images/missing.png\", \"split\": \"test\"}\n";
  write_text(dir.path / "ads.jsonl", rows);
  const auto ds = data::DetectionDataset::open((dir.path / "ads.jsonl").string(), "train");
  REQUIRE(ds.size() == size_t(n));
  const int batch = 3, nw = 32, nh = 24, batches = 8;
  const data::Augment aug;
  using Truths = std::vector<std::vector<nn::YoloTruth>>;
  auto collect = [&](int threads, uint64_t seed) {
    data::DetectionLoader loader(ds, batch, nw, nh, aug, seed, threads);
    std::vector<std::pair<std::vector<float>, Truths>> out;
    for (int b = 0; b < batches; ++b) {
      CHECK(loader.position() == b);
      std::vector<float> x;
      Truths t;
      loader.next(x, t);
      REQUIRE(x.size() == size_t(batch) * 3 * nw * nh);
      REQUIRE(t.size() == size_t(batch));
      out.emplace_back(std::move(x), std::move(t));
    }
    return out;
  };
  auto same_truths = [](const Truths& a, const Truths& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].size() != b[i].size()) return false;
      for (size_t j = 0; j < a[i].size(); ++j)
        if (a[i][j].x != b[i][j].x || a[i][j].y != b[i][j].y || a[i][j].w != b[i][j].w || a[i][j].h != b[i][j].h ||
            a[i][j].class_id != b[i][j].class_id)
          return false;
    }
    return true;
  };
  const auto ref = collect(0, 7);
  for (int threads : {1, 3}) {
    CAPTURE(threads);
    const auto got = collect(threads, 7);
    for (int b = 0; b < batches; ++b) {
      CAPTURE(b);
      CHECK(got[size_t(b)].first == ref[size_t(b)].first);
      CHECK(same_truths(got[size_t(b)].second, ref[size_t(b)].second));
    }
  }
  const auto other = collect(2, 8);
  int differ = 0;
  for (int b = 0; b < batches; ++b) differ += other[size_t(b)].first != ref[size_t(b)].first ? 1 : 0;
  CHECK(differ == batches);

  // Every epoch visits each row once; sample p of batch b is load_example with sample_rng(p).
  data::DetectionLoader loader(ds, batch, nw, nh, aug, 7, 2);
  std::vector<size_t> order;
  for (int b = 0; b < batches; ++b)
    for (size_t i : loader.batch_indices(b)) order.push_back(i);
  for (size_t e = 0; e + size_t(n) <= order.size(); e += size_t(n)) {
    std::vector<size_t> epoch(order.begin() + std::ptrdiff_t(e), order.begin() + std::ptrdiff_t(e + size_t(n)));
    std::sort(epoch.begin(), epoch.end());
    for (size_t i = 0; i < size_t(n); ++i) CHECK(epoch[i] == i);
  }
  CHECK(std::vector<size_t>(order.begin(), order.begin() + n) !=
        std::vector<size_t>(order.begin() + n, order.begin() + 2 * n));  // epochs are reshuffled
  for (int b : {0, 4}) {
    for (int k = 0; k < batch; ++k) {
      Rng rng = loader.sample_rng(int64_t(b) * batch + k);
      const auto ex = data::load_example(ds, loader.batch_indices(b)[size_t(k)], nw, nh, aug, rng);
      const size_t plane = size_t(3) * nw * nh;
      CHECK(std::equal(ex.image.begin(), ex.image.end(), ref[size_t(b)].first.begin() + std::ptrdiff_t(plane * size_t(k))));
    }
  }

  // seek: a resumed loader continues with the same batches, forwards and backwards.
  std::vector<float> x;
  Truths t;
  loader.next(x, t);
  CHECK(x == ref[0].first);
  loader.seek(5);
  CHECK(loader.position() == 5);
  loader.next(x, t);
  CHECK(x == ref[5].first);
  CHECK(same_truths(t, ref[5].second));
  loader.next(x, t);
  CHECK(x == ref[6].first);
  loader.seek(1);
  loader.next(x, t);
  CHECK(x == ref[1].first);
  CHECK(loader.position() == 2);
  data::DetectionLoader sync(ds, batch, nw, nh, aug, 7, 0);
  sync.seek(7);
  sync.next(x, t);
  CHECK(x == ref[7].first);
}

TEST_CASE("data/detection_dataset: a missing image is an error from next naming the file") {
  testing::TempDir dir("simad_test_detection");
  fs::create_directories(dir.path / "images");
  write_text(dir.path / "ads.jsonl", "{\"id\": 1, \"image\": \"images/missing.png\"}\n");
  const auto ds = data::DetectionDataset::open((dir.path / "ads.jsonl").string());
  for (int threads : {0, 2}) {
    data::DetectionLoader loader(ds, 2, 16, 16, data::Augment{}, 1, threads);
    std::vector<float> x;
    std::vector<std::vector<nn::YoloTruth>> t;
    try {
      loader.next(x, t);
      FAIL("a missing image must be an error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("missing.png") != std::string::npos);
    }
  }
}

}  // namespace SIMAD_TEST_FILE_ID
