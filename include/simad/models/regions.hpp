// simad/models/regions.hpp: image regions described by pixel descriptors, without a detector.
// The regions come from SynthAds' ground-truth ("oracle") object boxes or from a G x G grid, and
// each is described by a cheap pixel descriptor instead of detector features (a trained detector's
// regions: models/detector_regions.hpp):
//
//   pixel_descriptor()  kPixelDescriptorDim = 181 floats per box:
//                         [0, 64)    4x4x4 RGB colour histogram, fractions of the box's pixels (sum 1)
//                         [64, 172)  6x6 thumbnail: mean R, G, B / 255 per cell, cells row-major,
//                                    channel innermost; cell i spans floor(i*w/6)..floor((i+1)*w/6)
//                                    of the box, at least one pixel
//                         [172, 180) 8-bin orientation histogram of the grey image's gradient,
//                                    orientation folded to [0, pi), weighted by magnitude, sum 1
//                                    (all 0 when the box has no gradient)
//                         180        mean gradient magnitude / 255
//   oracle_regions()    one region per ground-truth box, in an order shuffled from the ad's id
//   grid_regions()      G x G cells, confidence 0 (the Trans+VGG16 grid baseline of MODELS.md)
//
//   models::AdExample ex;
//   models::oracle_regions(image::load("ad.jpg"), boxes, ad_id, ex);  // fills ex.regions, region_*
//
// Geometry follows batch.hpp: (centre x / W, centre y / H, w / W, h / H, confidence).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/data/synthads/raster.hpp"
#include "simad/image/image.hpp"
#include "simad/models/batch.hpp"

namespace simad::models {

using data::synthads::PixelBox;
using data::synthads::RgbImage;

inline constexpr int64_t kColourBins = 64;        // 4 levels per channel
inline constexpr int64_t kThumbnailSide = 6;      // 6 x 6 cells
inline constexpr int64_t kThumbnailValues = kThumbnailSide * kThumbnailSide * 3;
inline constexpr int64_t kOrientationBins = 8;
inline constexpr int64_t kPixelDescriptorDim = kColourBins + kThumbnailValues + kOrientationBins + 1;  // 181
static_assert(kPixelDescriptorDim == 181);

// Where each part of the descriptor starts.
inline constexpr int64_t kThumbnailOffset = kColourBins;
inline constexpr int64_t kOrientationOffset = kThumbnailOffset + kThumbnailValues;
inline constexpr int64_t kMagnitudeOffset = kOrientationOffset + kOrientationBins;

// A ground-truth object box as JSONL rows give it: top-left pixel and size.
struct RegionBox {
  int x = 0, y = 0, w = 0, h = 0;
};

enum class RegionSource {
  oracle,         // ground-truth object boxes (SynthAds), a stand-in for a detector
  grid,           // G x G cells
  detector,       // a trained detector's top detections, its hidden map as features (detector_regions.hpp)
  detector_grid,  // the detector's deepest hidden map pooled to G x G cells
};

// Whether the source needs a RegionDetector (models/detector_regions.hpp).
inline bool uses_detector(RegionSource s) { return s == RegionSource::detector || s == RegionSource::detector_grid; }

inline const char* to_string(RegionSource s) {
  switch (s) {
    case RegionSource::oracle: return "oracle";
    case RegionSource::grid: return "grid";
    case RegionSource::detector: return "detector";
    case RegionSource::detector_grid: return "detector-grid";
  }
  return "?";
}
inline RegionSource parse_region_source(const std::string& s) {
  for (RegionSource r : {RegionSource::oracle, RegionSource::grid, RegionSource::detector, RegionSource::detector_grid})
    if (s == to_string(r)) return r;
  // throw_error rather than fail(): clang sees that a [[noreturn]] function ends the path.
  ::simad::detail::throw_error(::simad::detail::concat("unknown region source '", s,
                                                       "' (expected oracle, grid, detector or detector-grid)"),
                               ::simad::SourceLocation::current());
}

// 8-bit RGB from a decoded image (planar floats in [0, 1], 1-4 channels): grey (and grey + alpha)
// replicated, alpha dropped, values rounded to the nearest byte (a decoded byte b comes back as b),
// out-of-range values clamped, NaN read as 0.
inline RgbImage to_rgb8(const image::Image& im) {
  SIMAD_CHECK(im.width >= 1 && im.height >= 1, "to_rgb8: empty image ", im.width, "x", im.height);
  SIMAD_CHECK(im.channels >= 1 && im.channels <= 4, "to_rgb8: ", im.channels, " channels (expected 1 to 4)");
  SIMAD_CHECK(im.data.size() == size_t(im.width) * size_t(im.height) * size_t(im.channels),
              "to_rgb8: the image holds ", im.data.size(), " values, expected ", im.width, "x", im.height, "x",
              im.channels);
  RgbImage out(im.width, im.height);
  const size_t plane = size_t(im.width) * size_t(im.height);
  const bool colour = im.channels >= 3;
  for (size_t c = 0; c < 3; ++c) {
    const float* src = im.data.data() + (colour ? c : 0) * plane;
    for (size_t i = 0; i < plane; ++i) {
      const float v = src[i];
      out.pixels[i * 3 + c] = std::isnan(v) ? uint8_t(0) : uint8_t(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
    }
  }
  return out;
}

// The box clamped to the image; a box with no pixel left becomes the 1-pixel box at its top-left
// corner clamped into the image (the pixel nearest to it), so every box has pixels to describe.
inline PixelBox clamp_box(const PixelBox& b, int width, int height) {
  SIMAD_CHECK(width >= 1 && height >= 1, "clamp_box: empty image ", width, "x", height);
  const PixelBox c{std::clamp(b.x0, 0, width), std::clamp(b.y0, 0, height), std::clamp(b.x1, 0, width),
                   std::clamp(b.y1, 0, height)};
  if (!c.empty()) return c;
  const int x = std::clamp(b.x0, 0, width - 1), y = std::clamp(b.y0, 0, height - 1);
  return {x, y, x + 1, y + 1};
}

// Writes the kPixelDescriptorDim floats of `box` (clamped, see clamp_box) of an interleaved 8-bit
// RGB image to out. Accumulates in integers and doubles: the result does not depend on the box's
// size beyond float rounding.
inline void pixel_descriptor(const uint8_t* rgb, int width, int height, const PixelBox& box, float* out) {
  SIMAD_CHECK(rgb != nullptr && out != nullptr, "pixel_descriptor: null pointer");
  const PixelBox b = clamp_box(box, width, height);
  const int w = b.x1 - b.x0, h = b.y1 - b.y0;
  const double n = double(w) * double(h);
  auto pixel = [&](int x, int y) { return rgb + (size_t(y) * size_t(width) + size_t(x)) * 3; };

  // Colour histogram: the top two bits of each channel.
  std::array<int64_t, kColourBins> hist{};
  for (int y = b.y0; y < b.y1; ++y)
    for (int x = b.x0; x < b.x1; ++x) {
      const uint8_t* p = pixel(x, y);
      ++hist[size_t((p[0] >> 6) * 16 + (p[1] >> 6) * 4 + (p[2] >> 6))];
    }
  for (int64_t k = 0; k < kColourBins; ++k) out[k] = float(double(hist[size_t(k)]) / n);

  // Thumbnail. A box narrower than 6 pixels repeats pixels across cells rather than leaving a
  // cell empty (its mean would be undefined).
  auto cell = [](int start, int size, int i) {
    const int s = int(int64_t(i) * size / kThumbnailSide), e = int(int64_t(i + 1) * size / kThumbnailSide);
    return std::pair<int, int>{start + s, start + std::max(e, s + 1)};
  };
  for (int cy = 0; cy < int(kThumbnailSide); ++cy) {
    const auto [ys, ye] = cell(b.y0, h, cy);
    for (int cx = 0; cx < int(kThumbnailSide); ++cx) {
      const auto [xs, xe] = cell(b.x0, w, cx);
      int64_t sum[3] = {0, 0, 0};
      for (int y = ys; y < ye; ++y)
        for (int x = xs; x < xe; ++x)
          for (int c = 0; c < 3; ++c) sum[c] += pixel(x, y)[c];
      const double count = double(xe - xs) * double(ye - ys) * 255.0;
      for (int c = 0; c < 3; ++c) out[kThumbnailOffset + (cy * kThumbnailSide + cx) * 3 + c] = float(double(sum[c]) / count);
    }
  }

  // Gradient of the grey image (BT.601 luma) by central differences, neighbours clamped to the box:
  // the descriptor sees only the box's own pixels, as a crop would.
  std::vector<double> grey(size_t(w) * size_t(h));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = pixel(b.x0 + x, b.y0 + y);
      grey[size_t(y) * size_t(w) + size_t(x)] = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    }
  std::array<double, kOrientationBins> orient{};
  double total = 0.0;
  constexpr double kBinWidth = std::numbers::pi / double(kOrientationBins);
  for (int y = 0; y < h; ++y) {
    const double* row = grey.data() + size_t(y) * size_t(w);
    const double* up = grey.data() + size_t(std::max(y - 1, 0)) * size_t(w);
    const double* down = grey.data() + size_t(std::min(y + 1, h - 1)) * size_t(w);
    for (int x = 0; x < w; ++x) {
      const double gx = 0.5 * (row[std::min(x + 1, w - 1)] - row[std::max(x - 1, 0)]);
      const double gy = 0.5 * (down[x] - up[x]);
      const double m = std::sqrt(gx * gx + gy * gy);
      if (m == 0.0) continue;
      double theta = std::atan2(gy, gx);  // (-pi, pi]; an edge's orientation has no sign
      if (theta < 0.0) theta += std::numbers::pi;
      if (theta >= std::numbers::pi) theta -= std::numbers::pi;
      orient[size_t(std::min<int64_t>(kOrientationBins - 1, int64_t(theta / kBinWidth)))] += m;
      total += m;
    }
  }
  for (int64_t k = 0; k < kOrientationBins; ++k)
    out[kOrientationOffset + k] = total > 0.0 ? float(orient[size_t(k)] / total) : 0.0f;
  out[kMagnitudeOffset] = float(total / n / 255.0);
}

inline void pixel_descriptor(const RgbImage& image, const PixelBox& box, float* out) {
  SIMAD_CHECK(image.pixels.size() == size_t(image.width) * size_t(image.height) * 3,
              "pixel_descriptor: inconsistent RgbImage ", image.width, "x", image.height);
  pixel_descriptor(image.pixels.data(), image.width, image.height, box, out);
}

namespace detail {

// Appends one region (descriptor + geometry of the clamped box) to out.
inline void append_region(const RgbImage& image, const PixelBox& box, float confidence, AdExample& out) {
  const PixelBox b = clamp_box(box, image.width, image.height);
  const size_t at = out.region_features.size();
  out.region_features.resize(at + size_t(kPixelDescriptorDim));
  pixel_descriptor(image, b, out.region_features.data() + at);
  const double W = image.width, H = image.height;
  out.region_geometry.insert(out.region_geometry.end(),
                             {float((b.x0 + b.x1) * 0.5 / W), float((b.y0 + b.y1) * 0.5 / H), float((b.x1 - b.x0) / W),
                              float((b.y1 - b.y0) / H), confidence});
  ++out.regions;
}

inline void reset_regions(AdExample& out) {
  out.regions = 0;
  out.region_dim = kPixelDescriptorDim;
  out.region_features.clear();
  out.region_geometry.clear();
}

// The Rng stream of the oracle order (any fixed constant: it only has to differ from other uses).
inline constexpr uint64_t kOracleOrderStream = 0x0AC1E0u;

}  // namespace detail

// One region per usable ground-truth box (at least one pixel inside the image; empty boxes are
// skipped). The order is a Fisher-Yates shuffle seeded by ad_id: deterministic, and the product
// (SynthAds writes it first) lands anywhere, so no model can learn "region 0 is the product".
//
// Confidence: the box's area (inside the image) divided by the largest box's area in this ad. A
// generic detector is most confident on large, complete objects, and this stand-in ranks the same
// way. SynthAds' distractors are larger than the product, so ranking regions by this confidence
// buries the product: exactly the handicap of the papers' "w/o text clue" baseline (Trans+YOLO,
// ION w/o SCA), which keeps the detector's most confident boxes whatever the text says.
//
// An ad with no usable box gets exactly one region, the whole image with confidence 0 (never an
// empty set, as MODELS.md's "No detection" asks).
inline void oracle_regions(const RgbImage& image, std::span<const RegionBox> boxes, int64_t ad_id, AdExample& out) {
  detail::reset_regions(out);
  std::vector<PixelBox> usable;
  for (const RegionBox& r : boxes) {
    if (r.w <= 0 || r.h <= 0) continue;
    // In 64 bits: x + w may not fit an int.
    auto clamp64 = [](int64_t v, int size) { return int(std::clamp<int64_t>(v, 0, size)); };
    const PixelBox c{clamp64(r.x, image.width), clamp64(r.y, image.height), clamp64(int64_t(r.x) + r.w, image.width),
                     clamp64(int64_t(r.y) + r.h, image.height)};
    if (!c.empty()) usable.push_back(c);
  }
  if (usable.empty()) {
    detail::append_region(image, PixelBox{0, 0, image.width, image.height}, 0.0f, out);
    return;
  }
  Rng rng(uint64_t(ad_id), detail::kOracleOrderStream);
  for (size_t i = usable.size() - 1; i > 0; --i) std::swap(usable[i], usable[rng.next_below(uint32_t(i + 1))]);
  int64_t largest = 0;
  for (const PixelBox& b : usable) largest = std::max<int64_t>(largest, int64_t(b.area()));
  for (const PixelBox& b : usable) detail::append_region(image, b, float(double(b.area()) / double(largest)), out);
}

inline void oracle_regions(const image::Image& image, std::span<const RegionBox> boxes, int64_t ad_id,
                           AdExample& out) {
  oracle_regions(to_rgb8(image), boxes, ad_id, out);
}

// G x G cells in row-major order; cell i spans floor(i * W / G) .. ceil((i + 1) * W / G) (columns,
// likewise rows; neighbours may share a pixel, no cell is empty), confidence 0.
inline void grid_regions(const RgbImage& image, int grid, AdExample& out) {
  SIMAD_CHECK(grid >= 1 && grid <= 64, "grid_regions: grid ", grid, " must be in [1, 64]");
  SIMAD_CHECK(image.width >= 1 && image.height >= 1, "grid_regions: empty image ", image.width, "x", image.height);
  detail::reset_regions(out);
  auto lo = [grid](int size, int i) { return int(int64_t(i) * size / grid); };
  auto hi = [grid](int size, int i) { return int((int64_t(i + 1) * size + grid - 1) / grid); };
  for (int r = 0; r < grid; ++r)
    for (int c = 0; c < grid; ++c)
      detail::append_region(image, PixelBox{lo(image.width, c), lo(image.height, r), hi(image.width, c), hi(image.height, r)},
                            0.0f, out);
}

inline void grid_regions(const image::Image& image, int grid, AdExample& out) { grid_regions(to_rgb8(image), grid, out); }

// The regions `source` gives (grid: `grid` x `grid` cells; boxes and ad_id matter only for oracle).
// The detector's sources are RegionDetector's (models/detector_regions.hpp), not this function's.
inline void image_regions(const RgbImage& image, RegionSource source, int grid, std::span<const RegionBox> boxes,
                          int64_t ad_id, AdExample& out) {
  SIMAD_CHECK(!uses_detector(source), "image_regions: the ", to_string(source),
              " source needs a RegionDetector (models/detector_regions.hpp)");
  if (source == RegionSource::grid) grid_regions(image, grid, out);
  else oracle_regions(image, boxes, ad_id, out);
}

}  // namespace simad::models
