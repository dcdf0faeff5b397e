// simad/data/synthads/raster.hpp: the small rasteriser that paints SynthAds images. Shapes are
// signed-distance functions in their own unit square [-1, 1]^2; a pixel's coverage is
// clamp(0.5 - distance_in_pixels, 0, 1), which anti-aliases edges at one pixel's width without
// supersampling. Everything is integer-seeded and order-fixed, so the same inputs give the same bytes.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "simad/data/synthads/catalogue.hpp"

namespace simad::data::synthads {

// 8-bit RGB, rows top to bottom, pixels interleaved (what stb_image_write takes).
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;
  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), pixels(size_t(w) * size_t(h) * 3, 0) {}
  uint8_t* at(int x, int y) { return pixels.data() + (size_t(y) * size_t(width) + size_t(x)) * 3; }
  const uint8_t* at(int x, int y) const { return pixels.data() + (size_t(y) * size_t(width) + size_t(x)) * 3; }
};

// Inclusive-exclusive pixel box [x0, x1) x [y0, y1); empty when x0 >= x1.
struct PixelBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool empty() const { return x0 >= x1 || y0 >= y1; }
  int area() const { return empty() ? 0 : (x1 - x0) * (y1 - y0); }
};

namespace detail {

// Stateless 32-bit hash (lowbias32): per-pixel noise without any generator state.
inline uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

struct Vec2 {
  double x, y;
};

// Regular or star polygons in the unit square, built once.
inline std::vector<Vec2> regular_polygon(int sides, double radius, double phase) {
  std::vector<Vec2> v;
  for (int i = 0; i < sides; ++i) {
    const double a = phase + 2.0 * M_PI * i / sides;
    v.push_back({radius * std::cos(a), radius * std::sin(a)});
  }
  return v;
}
inline std::vector<Vec2> star_polygon(int points, double outer, double inner) {
  std::vector<Vec2> v;
  for (int i = 0; i < 2 * points; ++i) {
    const double a = -M_PI / 2 + M_PI * i / points;
    const double r = i % 2 == 0 ? outer : inner;
    v.push_back({r * std::cos(a), r * std::sin(a)});
  }
  return v;
}

// Signed distance to a simple polygon: nearest edge, negative inside (even-odd rule).
inline double polygon_sdf(const std::vector<Vec2>& poly, double px, double py) {
  double best = 1e30;
  bool inside = false;
  for (size_t i = 0, j = poly.size() - 1; i < poly.size(); j = i++) {
    const Vec2 a = poly[j], b = poly[i];
    const double ex = b.x - a.x, ey = b.y - a.y, wx = px - a.x, wy = py - a.y;
    const double t = std::clamp((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0);
    const double dx = wx - ex * t, dy = wy - ey * t;
    best = std::min(best, dx * dx + dy * dy);
    if ((a.y > py) != (b.y > py) && px < (b.x - a.x) * (py - a.y) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside ? -std::sqrt(best) : std::sqrt(best);
}

inline double box_sdf(double px, double py, double hx, double hy) {
  const double qx = std::abs(px) - hx, qy = std::abs(py) - hy;
  const double ox = std::max(qx, 0.0), oy = std::max(qy, 0.0);
  return std::sqrt(ox * ox + oy * oy) + std::min(std::max(qx, qy), 0.0);
}

}  // namespace detail

// Signed distance from (x, y) to the shape, in unit coordinates (negative inside). Exact for the
// circle, ring, boxes, capsule and polygons; the ellipse uses the usual first-order estimate.
inline double shape_distance(Shape shape, double x, double y) {
  using namespace detail;
  switch (shape) {
    case Shape::circle: return std::hypot(x, y) - 0.95;
    case Shape::rounded_square: return box_sdf(x, y, 0.75, 0.75) - 0.2;
    case Shape::ring: return std::abs(std::hypot(x, y) - 0.7) - 0.25;
    case Shape::ellipse: {
      const double a = 0.6, b = 0.95, k = std::hypot(x / a, y / b);
      return (k - 1.0) * std::min(a, b);
    }
    case Shape::cross: return std::min(box_sdf(x, y, 0.95, 0.32), box_sdf(x, y, 0.32, 0.95));
    case Shape::capsule: {
      const double cx = std::clamp(x, -0.55, 0.55);
      return std::hypot(x - cx, y) - 0.4;
    }
    case Shape::square: return box_sdf(x, y, 0.95, 0.95);
    case Shape::hexagon: {
      static const std::vector<Vec2> p = regular_polygon(6, 0.98, 0.0);
      return polygon_sdf(p, x, y);
    }
    case Shape::diamond: {
      static const std::vector<Vec2> p = regular_polygon(4, 0.98, 0.0);
      return polygon_sdf(p, x, y);
    }
    case Shape::triangle: {
      static const std::vector<Vec2> p = {{0.0, -0.95}, {0.95, 0.85}, {-0.95, 0.85}};
      return polygon_sdf(p, x, y);
    }
    case Shape::pentagon: {
      static const std::vector<Vec2> p = regular_polygon(5, 0.98, -M_PI / 2);
      return polygon_sdf(p, x, y);
    }
    case Shape::star: {
      static const std::vector<Vec2> p = star_polygon(5, 0.98, 0.42);
      return polygon_sdf(p, x, y);
    }
  }
  return 1.0;
}

// Whether the pattern shows its secondary colour at unit coordinates (x, y).
inline bool pattern_secondary(Pattern pattern, double x, double y) {
  auto band = [](double t, double period) { return int(std::floor((t + 4.0) / period)) % 2 == 1; };
  switch (pattern) {
    case Pattern::solid: return false;
    case Pattern::stripes_horizontal: return band(y, 0.4);
    case Pattern::stripes_vertical: return band(x, 0.4);
    case Pattern::stripes_diagonal: return band((x + y) * 0.7071, 0.4);
    case Pattern::checker: return band(x, 0.5) != band(y, 0.5);
    case Pattern::dots: {
      const double fx = x / 0.5 - std::floor(x / 0.5) - 0.5, fy = y / 0.5 - std::floor(y / 0.5) - 0.5;
      return fx * fx + fy * fy < 0.09;
    }
  }
  return false;
}

// Paints an axis-aligned object of half-width hw and half-height hh (pixels) centred at (cx, cy),
// clipped to the image. Returns the box of the pixels it touched (coverage > 0), which is what
// a ground-truth box must cover. With `touched_mask` (width x height bytes) it also ORs `bit` into
// every touched pixel's byte, so tests can check boxes against pixels.
inline PixelBox draw_object(RgbImage& img, const Signature& look, double cx, double cy, double hw, double hh,
                            uint8_t* touched_mask = nullptr, uint8_t bit = 0) {
  PixelBox touched{img.width, img.height, 0, 0};
  const int x0 = std::max(0, int(std::floor(cx - hw - 1))), x1 = std::min(img.width, int(std::ceil(cx + hw + 1)));
  const int y0 = std::max(0, int(std::floor(cy - hh - 1))), y1 = std::min(img.height, int(std::ceil(cy + hh + 1)));
  const double scale = std::min(hw, hh);  // unit distance -> pixels (exact for equal half-sizes)
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      const double u = (x + 0.5 - cx) / hw, v = (y + 0.5 - cy) / hh;
      const double coverage = std::clamp(0.5 - shape_distance(look.shape, u, v) * scale, 0.0, 1.0);
      if (coverage <= 0.0) continue;
      const Colour c = pattern_secondary(look.pattern, u, v) ? look.secondary : look.primary;
      uint8_t* p = img.at(x, y);
      p[0] = uint8_t(std::lround(p[0] + (c.r - p[0]) * coverage));
      p[1] = uint8_t(std::lround(p[1] + (c.g - p[1]) * coverage));
      p[2] = uint8_t(std::lround(p[2] + (c.b - p[2]) * coverage));
      if (touched_mask) touched_mask[size_t(y) * size_t(img.width) + size_t(x)] |= bit;
      touched.x0 = std::min(touched.x0, x);
      touched.y0 = std::min(touched.y0, y);
      touched.x1 = std::max(touched.x1, x + 1);
      touched.y1 = std::max(touched.y1, y + 1);
    }
  }
  if (touched.empty()) touched = {};
  return touched;
}

// Background: a linear gradient between two colours at an angle, an optional low-contrast texture
// (stripes or checks) and per-pixel noise of amplitude `noise` (0..255), all from `seed`.
struct Background {
  Colour from, to;
  double angle = 0.0;        // radians
  int texture = 0;           // 0 none, 1 stripes, 2 checks
  double texture_period = 24.0, texture_contrast = 0.08;
  int noise = 10;
  uint32_t seed = 0;
};

inline void paint_background(RgbImage& img, const Background& bg) {
  const double ca = std::cos(bg.angle), sa = std::sin(bg.angle);
  const double span = std::abs(ca) * img.width + std::abs(sa) * img.height;
  const double offset = std::min(0.0, ca * img.width) + std::min(0.0, sa * img.height);
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      const double t = std::clamp((ca * x + sa * y - offset) / span, 0.0, 1.0);
      double shade = 1.0;
      if (bg.texture == 1) shade += int(std::floor((x + y) / bg.texture_period)) % 2 ? bg.texture_contrast : 0.0;
      if (bg.texture == 2)
        shade += (int(x / bg.texture_period) + int(y / bg.texture_period)) % 2 ? bg.texture_contrast : 0.0;
      const uint32_t h = detail::hash32(bg.seed ^ detail::hash32(uint32_t(y) * 65537u + uint32_t(x)));
      const int n = bg.noise > 0 ? int(h % uint32_t(2 * bg.noise + 1)) - bg.noise : 0;
      uint8_t* p = img.at(x, y);
      const std::array<double, 3> c = {bg.from.r + (bg.to.r - bg.from.r) * t, bg.from.g + (bg.to.g - bg.from.g) * t,
                                       bg.from.b + (bg.to.b - bg.from.b) * t};
      for (int k = 0; k < 3; ++k) p[k] = uint8_t(std::clamp(std::lround(c[size_t(k)] * shade) + n, 0L, 255L));
    }
  }
}

}  // namespace simad::data::synthads
