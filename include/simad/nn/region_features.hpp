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
//
// Both are a layout worked out on the host (which map and window each region pools, its geometry and mask:
// detail::detection_layout, grid_layout) and ops::region_max_pool over each hidden map, so the GPU form
// (nn/region_features_cuda.hpp) pools the same windows from maps that stay on the device.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/nn/yolo.hpp"
#include "simad/ops/region_pool.hpp"

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

// The regions but their features (RegionFeatures::features left undefined), and per hidden map s the (B, K, 4)
// windows (y0, y1, x0, x1) that ops::region_max_pool reads from it (y0 = -1: the region is another map's).
struct RegionLayout {
  RegionFeatures regions;
  std::vector<Tensor<int32_t>> windows;

  // Region (b, k) pools rows [y0, y1) x columns [x0, x1) of hidden map s.
  void pool_from(size_t s, int64_t b, int64_t k, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
    int32_t* w = windows[s].data() + (b * regions.K + k) * 4;
    w[0] = int32_t(y0), w[1] = int32_t(y1), w[2] = int32_t(x0), w[3] = int32_t(x1);
    regions.scale(b, k) = int32_t(s);
    regions.mask(b, k) = 1;
  }
};

// Only the hidden maps' shapes are read: they may be on any device.
inline RegionLayout empty_layout(std::span<const Tensor<float>> hidden, int64_t B, int64_t K) {
  RegionLayout l;
  RegionFeatures& r = l.regions;
  r.B = B, r.K = K;
  for (const Tensor<float>& h : hidden) {
    SIMAD_CHECK(h.rank() == 4 && h.dim(0) == B, "region features: hidden map ", h.shape(), " is not (", B,
                ", C, H, W)");
    r.channels.push_back(h.dim(1));
    r.D = std::max(r.D, h.dim(1));
    l.windows.push_back(Tensor<int32_t>::full({B, K, 4}, -1));
  }
  r.scale = Tensor<int32_t>::full({B, K}, -1);
  r.geometry = Tensor<float>::zeros({B, K, 5});
  r.mask = Tensor<uint8_t>::zeros({B, K});
  return l;
}

// The hidden map with the fewest cells (the deepest; the first such on ties).
inline size_t deepest(std::span<const Tensor<float>> hidden) {
  SIMAD_CHECK(!hidden.empty(), "region features: no hidden maps");
  size_t best = 0;
  for (size_t s = 1; s < hidden.size(); ++s)
    if (hidden[s].dim(2) * hidden[s].dim(3) < hidden[best].dim(2) * hidden[best].dim(3)) best = s;
  return best;
}

// hidden[s]: (B, C_s, h_s, w_s) from DarknetNetwork::Output::hidden; detections[b] sorted by confidence
// (nn::detect does that); image_sizes[b] = (width, height) of the original picture.
inline RegionLayout detection_layout(std::span<const Tensor<float>> hidden,
                                     std::span<const std::vector<Detection>> detections,
                                     std::span<const std::pair<int, int>> image_sizes, int64_t k1) {
  const auto B = int64_t(detections.size());
  SIMAD_CHECK(k1 >= 1, "region features: k1 must be >= 1, got ", k1);
  SIMAD_CHECK(int64_t(image_sizes.size()) == B, "region features: ", image_sizes.size(), " image sizes for ", B,
              " images");
  RegionLayout l = empty_layout(hidden, B, k1);
  const size_t deep = deepest(hidden);
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
      SIMAD_CHECK(d.row >= 0 && d.row < h.dim(2) && d.col >= 0 && d.col < h.dim(3), "region features: cell (", d.row,
                  ", ", d.col, ") outside the ", h.dim(2), "x", h.dim(3), " map of scale ", d.scale);
      l.pool_from(size_t(d.scale), b, j, d.row, d.row + 1, d.col, d.col + 1);  // the map at the cell
      float* g = l.regions.geometry.data() + (b * k1 + j) * 5;
      g[0] = std::clamp(d.box.x / iw, 0.0f, 1.0f);
      g[1] = std::clamp(d.box.y / ih, 0.0f, 1.0f);
      g[2] = std::clamp(d.box.w / iw, 0.0f, 1.0f);
      g[3] = std::clamp(d.box.h / ih, 0.0f, 1.0f);
      g[4] = d.confidence;
    }
    if (n == 0) {  // no detection: one region, the global max-pool of the deepest map
      l.pool_from(deep, b, 0, 0, hidden[deep].dim(2), 0, hidden[deep].dim(3));
      float* g = l.regions.geometry.data() + b * k1 * 5;
      g[0] = 0.5f, g[1] = 0.5f, g[2] = 1.0f, g[3] = 1.0f, g[4] = 0.0f;
    }
  }
  return l;
}

inline RegionLayout grid_layout(std::span<const Tensor<float>> hidden, int64_t grid) {
  SIMAD_CHECK(grid >= 1, "grid regions: grid must be >= 1, got ", grid);
  const size_t deep = deepest(hidden);
  const int64_t B = hidden[deep].dim(0), H = hidden[deep].dim(2), W = hidden[deep].dim(3), K = grid * grid;
  RegionLayout l = empty_layout(hidden, B, K);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gy = 0; gy < grid; ++gy)
      for (int64_t gx = 0; gx < grid; ++gx) {
        const int64_t k = gy * grid + gx;
        l.pool_from(deep, b, k, gy * H / grid, ((gy + 1) * H + grid - 1) / grid, gx * W / grid,
                    ((gx + 1) * W + grid - 1) / grid);
        float* g = l.regions.geometry.data() + (b * K + k) * 5;
        g[0] = (float(gx) + 0.5f) / float(grid), g[1] = (float(gy) + 0.5f) / float(grid);
        g[2] = 1.0f / float(grid), g[3] = 1.0f / float(grid), g[4] = 0.0f;
      }
  return l;
}

// The layout's features pooled from the hidden maps on the CPU.
inline RegionFeatures pool_regions(std::span<const Tensor<float>> hidden, RegionLayout layout) {
  RegionFeatures& r = layout.regions;
  r.features = Tensor<float>::zeros({r.B, r.K, r.D});  // padded regions stay 0
  for (size_t s = 0; s < hidden.size(); ++s) {
    const Tensor<float>& h = hidden[s];
    ops::region_max_pool(r.features.data(), h.data(), layout.windows[s].data(), r.B, r.K, r.D, h.dim(1), h.dim(2),
                         h.dim(3));
  }
  return std::move(r);
}

}  // namespace detail

inline RegionFeatures region_features(std::span<const Tensor<float>> hidden,
                                      std::span<const std::vector<Detection>> detections,
                                      std::span<const std::pair<int, int>> image_sizes, int64_t k1 = 20) {
  return detail::pool_regions(hidden, detail::detection_layout(hidden, detections, image_sizes, k1));
}

// The deepest hidden map max-pooled to grid x grid regions per image (all real, confidence 0).
inline RegionFeatures grid_regions(std::span<const Tensor<float>> hidden, int64_t grid = 7) {
  return detail::pool_regions(hidden, detail::grid_layout(hidden, grid));
}

}  // namespace simad::nn
