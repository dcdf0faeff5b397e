// Tests of the region descriptors (include/simad/models/regions.hpp): the pixel descriptor against
// an independent naive double computation, box clamping, the oracle regions (count, order,
// confidence, the whole-image fallback) and the grid.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include "simad/data/synthads.hpp"
#include "simad/models/regions.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using namespace simad::models;

namespace {

RgbImage random_image(Rng& r, int w, int h) {
  RgbImage im(w, h);
  // Half the images are smooth ramps plus noise (long edges), half are pure noise.
  const bool smooth = r.next_below(2) == 0;
  const double ax = r.next_uniform(-6, 6), ay = r.next_uniform(-6, 6);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const int v = smooth ? int(128 + ax * x * (c + 1) / 3 + ay * y + r.next_uniform(-8, 8)) : int(r.next_below(256));
        im.at(x, y)[c] = uint8_t(std::clamp(v, 0, 255));
      }
  return im;
}

// The descriptor, written out the slow and obvious way in double.
std::vector<double> naive_descriptor(const RgbImage& im, PixelBox box) {
  const int W = im.width, H = im.height;
  // Clamp; no pixel left: the image pixel nearest the box's top-left corner.
  int x0 = std::min(std::max(box.x0, 0), W), x1 = std::min(std::max(box.x1, 0), W);
  int y0 = std::min(std::max(box.y0, 0), H), y1 = std::min(std::max(box.y1, 0), H);
  if (x0 >= x1 || y0 >= y1) {
    x0 = std::min(std::max(box.x0, 0), W - 1), y0 = std::min(std::max(box.y0, 0), H - 1);
    x1 = x0 + 1, y1 = y0 + 1;
  }
  const int w = x1 - x0, h = y1 - y0;
  std::vector<double> d(181, 0.0);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const uint8_t* p = im.at(x, y);
      d[size_t((p[0] / 64) * 16 + (p[1] / 64) * 4 + p[2] / 64)] += 1.0 / (double(w) * h);
    }
  for (int cy = 0; cy < 6; ++cy)
    for (int cx = 0; cx < 6; ++cx) {
      const int xs = int(std::floor(cx * double(w) / 6)), ys = int(std::floor(cy * double(h) / 6));
      const int xe = std::max(xs + 1, int(std::floor((cx + 1) * double(w) / 6)));
      const int ye = std::max(ys + 1, int(std::floor((cy + 1) * double(h) / 6)));
      for (int c = 0; c < 3; ++c) {
        double s = 0;
        for (int y = ys; y < ye; ++y)
          for (int x = xs; x < xe; ++x) s += im.at(x0 + x, y0 + y)[c] / 255.0;
        d[size_t(64 + (cy * 6 + cx) * 3 + c)] = s / ((xe - xs) * (ye - ys));
      }
    }
  auto grey = [&](int x, int y) {  // box coordinates, clamped to the box
    x = std::min(std::max(x, 0), w - 1), y = std::min(std::max(y, 0), h - 1);
    const uint8_t* p = im.at(x0 + x, y0 + y);
    return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
  };
  double total = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double gx = (grey(x + 1, y) - grey(x - 1, y)) / 2, gy = (grey(x, y + 1) - grey(x, y - 1)) / 2;
      const double m = std::hypot(gx, gy);
      if (m == 0) continue;
      double a = std::atan2(gy, gx);
      if (a < 0) a += std::numbers::pi;
      if (a >= std::numbers::pi) a -= std::numbers::pi;
      d[size_t(172 + std::min(7, int(a / (std::numbers::pi / 8))))] += m;
      total += m;
    }
  for (int k = 0; k < 8; ++k) d[size_t(172 + k)] = total > 0 ? d[size_t(172 + k)] / total : 0.0;
  d[180] = total / (double(w) * h) / 255.0;
  return d;
}

// The descriptor into a NaN-poisoned buffer with a guard element after it.
std::vector<float> descriptor(const RgbImage& im, PixelBox box) {
  std::vector<float> out(size_t(kPixelDescriptorDim) + 1);
  testing::poison(std::span<float>(out));
  pixel_descriptor(im.pixels.data(), im.width, im.height, box, out.data());
  CHECK(std::isnan(out.back()));  // nothing written past the end
  out.pop_back();
  return out;
}

double sum(const std::vector<float>& v, int64_t from, int64_t count) {
  double s = 0;
  for (int64_t i = from; i < from + count; ++i) s += v[size_t(i)];
  return s;
}

image::Image planar(const RgbImage& im) {
  image::Image out(im.width, im.height, 3);
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x)
      for (int c = 0; c < 3; ++c) out.at(x, y, c) = float(im.at(x, y)[c]) / 255.0f;
  return out;
}

// The pixel box of region j from its geometry (exact for integer boxes).
PixelBox region_box(const AdExample& a, int64_t j, int W, int H) {
  const float* g = a.region_geometry.data() + j * kGeometryDim;
  const int w = int(std::lround(double(g[2]) * W)), h = int(std::lround(double(g[3]) * H));
  const int x0 = int(std::lround(double(g[0]) * W - w / 2.0)), y0 = int(std::lround(double(g[1]) * H - h / 2.0));
  return {x0, y0, x0 + w, y0 + h};
}

bool same_box(const PixelBox& a, const PixelBox& b) { return a.x0 == b.x0 && a.y0 == b.y0 && a.x1 == b.x1 && a.y1 == b.y1; }

}  // namespace

TEST_CASE("models/regions: the pixel descriptor equals a naive double computation on random images and boxes") {
  Rng r = testing::test_rng();
  // float output of double sums: |error| <= 1e-6 + 1e-5 |expected| per element.
  for (int trial = 0; trial < 60; ++trial) {
    const int W = 1 + int(r.next_below(40)), H = 1 + int(r.next_below(40));
    const RgbImage im = random_image(r, W, H);
    for (int b = 0; b < 5; ++b) {
      // Boxes inside, overlapping the border, outside, empty and inverted.
      const int x0 = int(r.next_below(uint32_t(W + 20))) - 10, y0 = int(r.next_below(uint32_t(H + 20))) - 10;
      const PixelBox box{x0, y0, x0 + int(r.next_below(uint32_t(W + 10))) - 2, y0 + int(r.next_below(uint32_t(H + 10))) - 2};
      const std::vector<float> got = descriptor(im, box);
      const std::vector<double> want = naive_descriptor(im, box);
      testing::check_close(std::span<const float>(got), std::span<const double>(want), 1e-6, 1e-5,
                           "descriptor of box (" + std::to_string(box.x0) + "," + std::to_string(box.y0) + ")-(" +
                               std::to_string(box.x1) + "," + std::to_string(box.y1) + ") in " + std::to_string(W) +
                               "x" + std::to_string(H));
      CHECK(sum(got, 0, kColourBins) == doctest::Approx(1.0).epsilon(1e-5));
      const double orient = sum(got, kOrientationOffset, kOrientationBins);
      CHECK((orient == doctest::Approx(1.0).epsilon(1e-5) || (orient == 0.0 && got[size_t(kMagnitudeOffset)] == 0.0f)));
      for (int64_t i = kThumbnailOffset; i < kOrientationOffset; ++i) CHECK((got[size_t(i)] >= 0 && got[size_t(i)] <= 1));
    }
  }
}

TEST_CASE("models/regions: boxes are clamped to the image and an empty box becomes the nearest pixel") {
  Rng r = testing::test_rng();
  const RgbImage im = random_image(r, 20, 12);
  CHECK(same_box(clamp_box({-5, -3, 8, 30}, 20, 12), {0, 0, 8, 12}));
  CHECK(same_box(clamp_box({25, 4, 40, 9}, 20, 12), {19, 4, 20, 5}));    // right of the image
  CHECK(same_box(clamp_box({-9, -9, -2, -1}, 20, 12), {0, 0, 1, 1}));    // above and left
  CHECK(same_box(clamp_box({6, 3, 6, 10}, 20, 12), {6, 3, 7, 4}));       // zero width
  CHECK(same_box(clamp_box({9, 7, 4, 2}, 20, 12), {9, 7, 10, 8}));       // inverted
  CHECK(descriptor(im, {-5, -3, 8, 30}) == descriptor(im, {0, 0, 8, 12}));
  CHECK(descriptor(im, {25, 4, 40, 9}) == descriptor(im, {19, 4, 20, 5}));
  // One pixel: its colour bin is 1, no gradient.
  const std::vector<float> one = descriptor(im, {3, 3, 4, 4});
  const uint8_t* p = im.at(3, 3);
  CHECK(one[size_t((p[0] >> 6) * 16 + (p[1] >> 6) * 4 + (p[2] >> 6))] == 1.0f);
  CHECK(sum(one, kOrientationOffset, kOrientationBins + 1) == 0.0);
  for (int c = 0; c < 3; ++c) CHECK(one[size_t(kThumbnailOffset + 7 * 3 + c)] == doctest::Approx(p[c] / 255.0));
}

TEST_CASE("models/regions: decoded images of 1 to 4 channels become 8-bit RGB") {
  image::Image grey(3, 2, 1), ga(3, 2, 2), rgba(3, 2, 4);
  for (int x = 0; x < 3; ++x)
    for (int y = 0; y < 2; ++y) {
      const float v = float(x * 40 + y * 100) / 255.0f;
      grey.at(x, y, 0) = v, ga.at(x, y, 0) = v, ga.at(x, y, 1) = 0.5f;
      for (int c = 0; c < 4; ++c) rgba.at(x, y, c) = float(x * 40 + y * 100 + c) / 255.0f;
    }
  rgba.at(0, 0, 0) = std::numeric_limits<float>::quiet_NaN(), rgba.at(1, 0, 1) = 7.0f, rgba.at(2, 0, 2) = -1.0f;
  const RgbImage g = to_rgb8(grey), g2 = to_rgb8(ga), c = to_rgb8(rgba);
  for (int x = 0; x < 3; ++x)
    for (int y = 0; y < 2; ++y)
      for (int k = 0; k < 3; ++k) {
        CHECK(g.at(x, y)[k] == x * 40 + y * 100);
        CHECK(g2.at(x, y)[k] == x * 40 + y * 100);
      }
  CHECK(c.at(1, 1)[2] == 40 + 100 + 2);
  CHECK(c.at(0, 0)[0] == 0);    // NaN
  CHECK(c.at(1, 0)[1] == 255);  // clamped
  CHECK(c.at(2, 0)[2] == 0);
  CHECK_THROWS_AS(to_rgb8(image::Image(2, 2, 5)), simad::Error);
}

TEST_CASE("models/regions: oracle regions, one per object, in a shuffled order fixed by the ad id") {
  using namespace simad::data::synthads;
  SynthConfig cfg;
  cfg.ads = 40, cfg.image_size = 96, cfg.seed = testing::test_seed();
  int product_first = 0;
  for (int i = 0; i < cfg.ads; ++i) {
    const Ad ad = generate_ad(default_catalogue(), cfg, i);
    std::vector<RegionBox> boxes;
    for (const ObjectBox& o : ad.objects)
      if (!o.box.empty()) boxes.push_back({o.box.x0, o.box.y0, o.box.x1 - o.box.x0, o.box.y1 - o.box.y0});
    AdExample a, again, via_float;
    a.region_features.assign(3, -1.0f);  // leftovers are replaced, not appended to
    oracle_regions(ad.image, boxes, ad.id, a);
    oracle_regions(ad.image, boxes, ad.id, again);
    oracle_regions(planar(ad.image), boxes, ad.id, via_float);
    REQUIRE(a.regions == int64_t(boxes.size()));
    CHECK(a.region_dim == kPixelDescriptorDim);
    CHECK(a.region_features.size() == size_t(a.regions * kPixelDescriptorDim));
    CHECK(a.region_geometry.size() == size_t(a.regions * kGeometryDim));
    CHECK(a.region_features == again.region_features);
    CHECK(a.region_geometry == again.region_geometry);
    CHECK(a.region_features == via_float.region_features);
    // Every object is a region, described by its own box; the product is among them.
    const PixelBox product = ad.objects[0].box;
    int64_t product_at = -1, largest = 0;
    for (const RegionBox& b : boxes) largest = std::max<int64_t>(largest, int64_t(b.w) * b.h);
    for (int64_t j = 0; j < a.regions; ++j) {
      const PixelBox b = region_box(a, j, ad.image.width, ad.image.height);
      if (same_box(b, product)) product_at = j;
      const bool known = std::any_of(ad.objects.begin(), ad.objects.end(), [&](const ObjectBox& o) { return same_box(o.box, b); });
      CHECK(known);
      const float conf = a.region_geometry[size_t(j * kGeometryDim + 4)];
      CHECK(conf == doctest::Approx(double(b.area()) / double(largest)));
      std::vector<float> want(static_cast<size_t>(kPixelDescriptorDim));
      pixel_descriptor(ad.image, b, want.data());
      CHECK(std::equal(want.begin(), want.end(), a.region_features.begin() + j * kPixelDescriptorDim));
    }
    REQUIRE(product_at >= 0);
    product_first += product_at == 0;
    float max_conf = 0;
    for (int64_t j = 0; j < a.regions; ++j) max_conf = std::max(max_conf, a.region_geometry[size_t(j * kGeometryDim + 4)]);
    CHECK(max_conf == 1.0f);
  }
  // The shuffle moves the product away from the front in most ads (SynthAds has 2-5 objects).
  CHECK(product_first > 0);
  CHECK(product_first < 30);
}

TEST_CASE("models/regions: an ad without a usable box gets the whole image with confidence 0") {
  Rng r = testing::test_rng();
  const RgbImage im = random_image(r, 30, 20);
  std::vector<float> whole(static_cast<size_t>(kPixelDescriptorDim));
  pixel_descriptor(im, {0, 0, 30, 20}, whole.data());
  const std::vector<std::vector<RegionBox>> cases = {{}, {{5, 5, 0, 4}, {2, 2, 3, -1}}, {{40, 2, 5, 5}, {-9, -9, 4, 4}}};
  for (const auto& boxes : cases) {
    AdExample a;
    oracle_regions(im, boxes, 3, a);
    REQUIRE(a.regions == 1);
    CHECK(a.region_features == whole);
    CHECK((a.region_geometry == std::vector<float>{0.5f, 0.5f, 1.0f, 1.0f, 0.0f}));
  }
  // A box half outside is clamped; its confidence is relative to the largest usable box.
  AdExample a;
  oracle_regions(im, std::vector<RegionBox>{{-5, -5, 10, 10}, {10, 10, 10, 10}, {3, 3, 0, 0}}, 3, a);
  REQUIRE(a.regions == 2);
  std::multiset<float> conf = {a.region_geometry[4], a.region_geometry[9]};
  CHECK((conf == std::multiset<float>{0.25f, 1.0f}));
}

TEST_CASE("models/regions: grid regions are G x G cells covering the image") {
  Rng r = testing::test_rng();
  for (const auto& [W, H, G] : std::vector<std::array<int, 3>>{{64, 64, 7}, {50, 33, 7}, {5, 3, 7}, {17, 9, 1}}) {
    const RgbImage im = random_image(r, W, H);
    AdExample a;
    grid_regions(im, G, a);
    REQUIRE(a.regions == int64_t(G) * G);
    CHECK(a.region_dim == kPixelDescriptorDim);
    std::vector<int> covered(size_t(W) * size_t(H), 0);
    for (int64_t j = 0; j < a.regions; ++j) {
      const int row = int(j / G), col = int(j % G);
      const PixelBox want{col * W / G, row * H / G, ((col + 1) * W + G - 1) / G, ((row + 1) * H + G - 1) / G};
      const PixelBox got = region_box(a, j, W, H);
      CHECK(same_box(got, want));
      CHECK(!got.empty());
      CHECK(a.region_geometry[size_t(j * kGeometryDim + 4)] == 0.0f);
      for (int y = got.y0; y < got.y1; ++y)
        for (int x = got.x0; x < got.x1; ++x) ++covered[size_t(y) * size_t(W) + size_t(x)];
      std::vector<float> d(static_cast<size_t>(kPixelDescriptorDim));
      pixel_descriptor(im, want, d.data());
      CHECK(std::equal(d.begin(), d.end(), a.region_features.begin() + j * kPixelDescriptorDim));
    }
    CHECK(std::count(covered.begin(), covered.end(), 0) == 0);
  }
  AdExample a;
  CHECK_THROWS_AS(grid_regions(RgbImage(8, 8), 0, a), simad::Error);
}

TEST_CASE("models/regions: region sources parse by name and a bad name is reported") {
  CHECK(parse_region_source("oracle") == RegionSource::oracle);
  CHECK(parse_region_source("grid") == RegionSource::grid);
  CHECK(std::string(to_string(RegionSource::grid)) == "grid");
  try {
    parse_region_source("yolo");
    FAIL("no error");
  } catch (const simad::Error& e) {
    CHECK(std::string(e.what()).find("'yolo'") != std::string::npos);
  }
}

}  // namespace SIMAD_TEST_FILE_ID
