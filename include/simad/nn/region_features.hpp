// simad/nn/region_features.hpp: the image regions the ad models see (MODELS.md, "Shared parts").
//
// region_features(): for each image, its top k1 detections by confidence; region j's feature is
// the detector's hidden map of the detecting scale (the input of that scale's 1x1 prediction conv:
// 1024/512/256 channels for yolov3, 512/256 for yolov3-tiny) at the cell where the box was
// predicted (the cell holding its centre), zero-padded to the widest scale (D channels; the
// models project each scale with its own Linear over its first channels[scale] entries). Geometry:
// centre x, y and size w, h divided by the image width/height and clamped to [0, 1], and the
// confidence. An image without detections gets exactly one region: the global max-pool of the
// deepest hidden map (fewest cells), a whole-image box with confidence 0, so no set is ever empty.
//
// grid_regions(): the deepest hidden map max-pooled to a G x G grid (7 x 7 = 49 regions, the
// Trans+VGG16 baseline), cell i spanning rows floor(i * H / G) .. ceil((i + 1) * H / G) (the
// adaptive pooling of PyTorch); geometry is the cell's box, confidence 0.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/nn/yolo.hpp"

namespace simad::nn {

struct RegionFeatures {
  int64_t B = 0, K = 0, D = 0;
  Tensor<float> features;        // (B, K, D): zero beyond channels[scale] and in padded regions
  Tensor<int32_t> scale;         // (B, K): index of the hidden map the feature comes from; -1 = padding
  Tensor<float> geometry;        // (B, K, 5): x, y, w, h, confidence (normalised as above)
  Tensor<uint8_t> mask;          // (B, K): 1 = a real region
  std::vector<int64_t> channels; // per scale: channels of its hidden map
};

namespace detail {
inline RegionFeatures empty_regions(std::span<const Tensor<float>> hidden, int64_t B, int64_t K) {
  RegionFeatures r;
  r.B = B, r.K = K;
  for (const Tensor<float>& h : hidden) {
    SIMAD_CHECK(h.rank() == 4 && h.dim(0) == B, "region features: hidden map ", h.shape(), " is not (", B,
                ", C, H, W)");
    r.channels.push_back(h.dim(1));
    r.D = std::max(r.D, h.dim(1));
  }
  r.features = Tensor<float>::zeros({B, K, r.D});
  r.scale = Tensor<int32_t>::full({B, K}, -1);
  r.geometry = Tensor<float>::zeros({B, K, 5});
  r.mask = Tensor<uint8_t>::zeros({B, K});
  return r;
}

// The hidden map with the fewest cells (the deepest; the first such on ties).
inline size_t deepest(std::span<const Tensor<float>> hidden) {
  SIMAD_CHECK(!hidden.empty(), "region features: no hidden maps");
  size_t best = 0;
  for (size_t s = 1; s < hidden.size(); ++s)
    if (hidden[s].dim(2) * hidden[s].dim(3) < hidden[best].dim(2) * hidden[best].dim(3)) best = s;
  return best;
}

// Max of map (C, H, W) over rows [y0, y1) x cols [x0, x1), per channel, into dst (C).
inline void max_over(float* dst, const float* map, int64_t C, int64_t H, int64_t W, int64_t y0, int64_t y1, int64_t x0,
                     int64_t x1) {
  for (int64_t c = 0; c < C; ++c) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x) m = std::max(m, map[(c * H + y) * W + x]);
    dst[c] = m;
  }
}
}  // namespace detail

// hidden[s]: (B, C_s, h_s, w_s) from DarknetNetwork::Output::hidden; detections[b] sorted by
// confidence (nn::detect does that); image_sizes[b] = (width, height) of the original picture.
inline RegionFeatures region_features(std::span<const Tensor<float>> hidden,
                                      std::span<const std::vector<Detection>> detections,
                                      std::span<const std::pair<int, int>> image_sizes, int64_t k1 = 20) {
  const auto B = int64_t(detections.size());
  SIMAD_CHECK(k1 >= 1, "region features: k1 must be >= 1, got ", k1);
  SIMAD_CHECK(int64_t(image_sizes.size()) == B, "region features: ", image_sizes.size(), " image sizes for ", B,
              " images");
  RegionFeatures r = detail::empty_regions(hidden, B, k1);
  const size_t deep = detail::deepest(hidden);
  for (int64_t b = 0; b < B; ++b) {
    const float iw = float(image_sizes[size_t(b)].first), ih = float(image_sizes[size_t(b)].second);
    SIMAD_CHECK(iw >= 1 && ih >= 1, "region features: image ", b, " has no size");
    const std::vector<Detection>& dets = detections[size_t(b)];
    const int64_t n = std::min<int64_t>(k1, int64_t(dets.size()));
    for (int64_t j = 0; j < n; ++j) {
      const Detection& d = dets[size_t(j)];
      SIMAD_CHECK(d.scale >= 0 && size_t(d.scale) < hidden.size(), "region features: detection of scale ", d.scale,
                  " but there are ", hidden.size(), " hidden maps");
      const Tensor<float>& h = hidden[size_t(d.scale)];
      const int64_t C = h.dim(1), H = h.dim(2), W = h.dim(3);
      SIMAD_CHECK(d.row >= 0 && d.row < H && d.col >= 0 && d.col < W, "region features: cell (", d.row, ", ", d.col,
                  ") outside the ", H, "x", W, " map of scale ", d.scale);
      const float* map = h.data() + b * C * H * W;
      float* f = r.features.data() + (b * k1 + j) * r.D;
      for (int64_t c = 0; c < C; ++c) f[c] = map[(c * H + d.row) * W + d.col];
      r.scale(b, j) = d.scale;
      float* g = r.geometry.data() + (b * k1 + j) * 5;
      g[0] = std::clamp(d.box.x / iw, 0.0f, 1.0f);
      g[1] = std::clamp(d.box.y / ih, 0.0f, 1.0f);
      g[2] = std::clamp(d.box.w / iw, 0.0f, 1.0f);
      g[3] = std::clamp(d.box.h / ih, 0.0f, 1.0f);
      g[4] = d.confidence;
      r.mask(b, j) = 1;
    }
    if (n == 0) {  // no detection: one region, the global max-pool of the deepest map
      const Tensor<float>& h = hidden[deep];
      const int64_t C = h.dim(1), H = h.dim(2), W = h.dim(3);
      detail::max_over(r.features.data() + b * k1 * r.D, h.data() + b * C * H * W, C, H, W, 0, H, 0, W);
      r.scale(b, 0) = int32_t(deep);
      float* g = r.geometry.data() + b * k1 * 5;
      g[0] = 0.5f, g[1] = 0.5f, g[2] = 1.0f, g[3] = 1.0f, g[4] = 0.0f;
      r.mask(b, 0) = 1;
    }
  }
  return r;
}

// The deepest hidden map max-pooled to grid x grid regions per image (all real, confidence 0).
inline RegionFeatures grid_regions(std::span<const Tensor<float>> hidden, int64_t grid = 7) {
  SIMAD_CHECK(grid >= 1, "grid regions: grid must be >= 1, got ", grid);
  const size_t deep = detail::deepest(hidden);
  const Tensor<float>& h = hidden[deep];
  const int64_t B = h.dim(0), C = h.dim(1), H = h.dim(2), W = h.dim(3), K = grid * grid;
  RegionFeatures r = detail::empty_regions(hidden, B, K);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gy = 0; gy < grid; ++gy)
      for (int64_t gx = 0; gx < grid; ++gx) {
        const int64_t y0 = gy * H / grid, y1 = ((gy + 1) * H + grid - 1) / grid;
        const int64_t x0 = gx * W / grid, x1 = ((gx + 1) * W + grid - 1) / grid;
        const int64_t k = gy * grid + gx;
        detail::max_over(r.features.data() + (b * K + k) * r.D, h.data() + b * C * H * W, C, H, W, y0, y1, x0, x1);
        r.scale(b, k) = int32_t(deep);
        float* g = r.geometry.data() + (b * K + k) * 5;
        g[0] = (float(gx) + 0.5f) / float(grid), g[1] = (float(gy) + 0.5f) / float(grid);
        g[2] = 1.0f / float(grid), g[3] = 1.0f / float(grid), g[4] = 0.0f;
        r.mask(b, k) = 1;
      }
  return r;
}

}  // namespace simad::nn
