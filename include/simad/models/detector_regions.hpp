// simad/models/detector_regions.hpp: an ad's image regions from a trained YOLOv3 detector, as
// MODELS.md's "Shared parts" specifies them (the papers' frozen, pretrained detector):
//
//   auto det = models::RegionDetector::load("configs/synthads-detector.cfg",
//                                           "configs/synthads-detector.weights");
//   models::AdExample ex;
//   det->detection_regions(image::load("ad.jpg"), ex);   // top k1 detections
//   det->grid_regions(image::load("ad.jpg"), 7, ex);      // the Trans+VGG16 grid baseline
//
// detection_regions(): the picture is letterboxed to the network's input, detections above the
// confidence threshold (objectness x best class probability, 0.3 as ToTYEmb) are non-max-suppressed
// (IoU 0.45) and the top k1 (20, as ION) by confidence are kept, in that order. Region j's feature
// is the detector's hidden map of its scale (the input of the 1x1 prediction conv) at the cell of
// the box centre, zero-padded to the widest scale (feature_dim()); its geometry is the box's centre
// and size over the picture's width and height, and the confidence. No detection: one region, the
// global max-pool of the deepest hidden map, whole-picture box, confidence 0 (never an empty set).
// grid_regions(): the deepest hidden map max-pooled to a G x G grid, confidence 0.
// Features (RegionDetectorOptions::features): the hidden map as above (MODELS.md), the pixel
// descriptor of the box (models/regions.hpp; a grid cell's box is its share of the picture), or both
// concatenated. A detector trained for 2 classes (SynthAds' product / distractor) need not keep the
// look of the product in its map: docs/models.md measures which serves the ad models.
// Both are nn::region_features / nn::grid_regions on one forward pass (nn/region_features.hpp).
//
// The detector is const and thread-safe: the dataset loader calls it from several threads, each
// image on one thread (simad's pool runs nested parallel_for calls inline).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/hash.hpp"
#include "simad/image/decode.hpp"
#include "simad/image/image.hpp"
#include "simad/image/letterbox.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/io/darknet_weights.hpp"
#include "simad/models/batch.hpp"
#include "simad/models/regions.hpp"
#include "simad/nn/darknet.hpp"
#include "simad/nn/region_features.hpp"
#include "simad/nn/yolo.hpp"

namespace simad::models {

// What describes a region.
enum class RegionFeatureKind {
  map,         // the detector's hidden map at the box's cell (MODELS.md)
  pixels,      // the pixel descriptor of the box (models/regions.hpp), as the oracle regions
  map_pixels,  // both, concatenated (map first)
};

inline const char* to_string(RegionFeatureKind k) {
  switch (k) {
    case RegionFeatureKind::map: return "map";
    case RegionFeatureKind::pixels: return "pixels";
    case RegionFeatureKind::map_pixels: return "map+pixels";
  }
  return "?";
}
inline RegionFeatureKind parse_region_feature_kind(const std::string& s) {
  for (RegionFeatureKind k : {RegionFeatureKind::map, RegionFeatureKind::pixels, RegionFeatureKind::map_pixels})
    if (s == to_string(k)) return k;
  ::simad::detail::throw_error(
      ::simad::detail::concat("unknown region features '", s, "' (expected map, pixels or map+pixels)"),
      ::simad::SourceLocation::current());
}

struct RegionDetectorOptions {
  float threshold = 0.3f;  // confidence kept (MODELS.md, from ToTYEmb)
  float nms = 0.45f;       // IoU of non-max suppression
  int64_t k1 = 20;         // detections kept (ION)
  RegionFeatureKind features = RegionFeatureKind::map;
};

class RegionDetector {
 public:
  // fingerprint: what identifies this detector's regions in caches and saved models (load() makes
  // it from the cfg's and the weights' bytes and the options).
  RegionDetector(io::darknet::Config cfg, const io::darknet::Weights& weights, std::string fingerprint,
                 RegionDetectorOptions options = {})
      : net_(std::move(cfg), weights), fingerprint_(std::move(fingerprint)), options_(options) {
    SIMAD_CHECK(options_.k1 >= 1, "region detector: k1 must be >= 1, got ", options_.k1);
    SIMAD_CHECK(options_.threshold >= 0.0f && options_.threshold < 1.0f && options_.nms > 0.0f && options_.nms <= 1.0f,
                "region detector: threshold ", options_.threshold, " must be in [0, 1) and nms ", options_.nms,
                " in (0, 1]");
    SIMAD_CHECK(!net_.config().yolo_layers().empty(), "region detector: the cfg '", net_.config().source,
                "' has no [yolo] layer");
    SIMAD_CHECK(net_.input_channels() == 3, "region detector: the cfg '", net_.config().source, "' takes ",
                net_.input_channels(), " channels, expected 3 (RGB)");
  }

  static std::shared_ptr<const RegionDetector> load(const std::filesystem::path& cfg_path,
                                                    const std::filesystem::path& weights_path,
                                                    RegionDetectorOptions options = {}) {
    const std::vector<uint8_t> cfg_bytes = image::read_bytes(cfg_path);
    const std::vector<uint8_t> weight_bytes = image::read_bytes(weights_path);
    io::darknet::Config cfg = io::darknet::parse_cfg(
        std::string_view(reinterpret_cast<const char*>(cfg_bytes.data()), cfg_bytes.size()), cfg_path.string());
    const io::darknet::Weights weights = io::darknet::parse_weights(weight_bytes, cfg, weights_path.string());
    uint64_t h = fnv1a(std::string_view(reinterpret_cast<const char*>(cfg_bytes.data()), cfg_bytes.size()));
    h = fnv1a(std::string_view(reinterpret_cast<const char*>(weight_bytes.data()), weight_bytes.size()), h);
    char opts[96];
    std::snprintf(opts, sizeof opts, "threshold=%.9g nms=%.9g k1=%lld features=%s", double(options.threshold),
                  double(options.nms), static_cast<long long>(options.k1), to_string(options.features));
    h = fnv1a(opts, h);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return std::make_shared<const RegionDetector>(std::move(cfg), weights, hex, options);
  }

  const std::string& fingerprint() const { return fingerprint_; }
  const RegionDetectorOptions& options() const { return options_; }
  const nn::DarknetNetwork& network() const { return net_; }

  // Width of a region feature: the hidden map's part (the most channels of any scale), the pixel
  // descriptor's, or both.
  int64_t feature_dim() const {
    switch (options_.features) {
      case RegionFeatureKind::map: return map_dim();
      case RegionFeatureKind::pixels: return kPixelDescriptorDim;
      case RegionFeatureKind::map_pixels: return map_dim() + kPixelDescriptorDim;
    }
    return 0;
  }

  int64_t map_dim() const {
    const std::vector<int64_t> channels = net_.hidden_channels();
    return channels.empty() ? 0 : *std::max_element(channels.begin(), channels.end());
  }

  // The top k1 detections of `im` as regions (replaces ex's regions).
  void detection_regions(const image::Image& im, AdExample& ex) const {
    image::LetterboxGeometry geometry;
    const nn::DarknetNetwork::Output out = forward(im, &geometry);
    const std::vector<std::vector<nn::Detection>> dets{
        nn::detect(out.yolo, net_.config(), 0, geometry, nn::DetectOptions{options_.threshold, options_.nms})};
    const std::pair<int, int> size{im.width, im.height};
    to_example(nn::region_features(out.hidden, dets, std::span(&size, 1), options_.k1), 0, im, ex);
  }

  // The deepest hidden map of `im` pooled to grid x grid regions (replaces ex's regions).
  void grid_regions(const image::Image& im, int grid, AdExample& ex) const {
    SIMAD_CHECK(grid >= 1 && grid <= 64, "region detector: grid ", grid, " must be in [1, 64]");
    const nn::DarknetNetwork::Output out = forward(im, nullptr);
    to_example(nn::grid_regions(out.hidden, grid), 0, im, ex);
  }

 // The network's input for a batch of pictures (each checked, made RGB and letterboxed), and how each was
  // letterboxed (for the detections' boxes). Also what CudaRegionDetector (models/detector_regions_cuda.hpp) feeds.
  Tensor<float> input_batch(std::span<const image::Image> images,
                            std::vector<image::LetterboxGeometry>* geometries) const {
    std::vector<image::Image> pictures;
    pictures.reserve(images.size());
    for (const image::Image& im : images) {
      SIMAD_CHECK(im.width >= 1 && im.height >= 1 && im.channels >= 1 && im.channels <= 4, "region detector: image ",
                  im.width, "x", im.height, "x", im.channels, " is not a 1-4 channel picture");
      pictures.push_back(rgb(im));
    }
    return image::letterbox_batch(std::span<const image::Image>(pictures), net_.input_width(), net_.input_height(),
                                  image::ResizeMode::letterbox, geometries);
  }

  // Image b's real regions of r (they come first; padding after them) with this detector's features, as ex's
  // regions. r.features must be on the host.
  void to_example(const nn::RegionFeatures& r, int64_t b, const image::Image& im, AdExample& ex) const {
    SIMAD_CHECK(b >= 0 && b < r.B && r.features.device() == Device::cpu, "region detector: image ", b, " of ", r.B,
                " regions, or features not on the host");
    const bool map = options_.features != RegionFeatureKind::pixels;
    const bool pixels = options_.features != RegionFeatureKind::map;
    RgbImage rgb8;
    if (pixels) rgb8 = to_rgb8(im);
    const int64_t D = feature_dim();
    ex.regions = 0;
    ex.region_dim = D;
    ex.region_features.clear();
    ex.region_geometry.clear();
    for (int64_t k = 0; k < r.K; ++k) {
      if (!r.mask(b, k)) continue;
      const float* g = r.geometry.data() + (b * r.K + k) * kGeometryDim;
      const size_t at = ex.region_features.size();
      ex.region_features.resize(at + size_t(D), 0.0f);
      if (map) std::copy_n(r.features.data() + (b * r.K + k) * r.D, r.D, ex.region_features.data() + at);
      if (pixels) {
        // The box in pixels, widened to whole pixels (clamp_box keeps at least one).
        const double W = rgb8.width, H = rgb8.height;
        const PixelBox box{int(std::floor((g[0] - g[2] / 2) * W)), int(std::floor((g[1] - g[3] / 2) * H)),
                           int(std::ceil((g[0] + g[2] / 2) * W)), int(std::ceil((g[1] + g[3] / 2) * H))};
        pixel_descriptor(rgb8, box, ex.region_features.data() + at + (map ? r.D : 0));
      }
      ex.region_geometry.insert(ex.region_geometry.end(), g, g + kGeometryDim);
      ++ex.regions;
    }
  }

 private:
  nn::DarknetNetwork::Output forward(const image::Image& im, image::LetterboxGeometry* geometry) const {
    std::vector<image::LetterboxGeometry> geometries;
    const Tensor<float> input = input_batch(std::span(&im, 1), &geometries);
    if (geometry) *geometry = geometries.at(0);
    return net_.forward(input);
  }

  // Grey (+ alpha) replicated to RGB, alpha dropped: the detector was trained on RGB.
  static image::Image rgb(const image::Image& im) {
    if (im.channels == 3) return im;
    image::Image out(im.width, im.height, 3);
    const size_t plane = size_t(im.width) * size_t(im.height);
    for (size_t c = 0; c < 3; ++c) {
      const size_t from = im.channels >= 3 ? c : 0;
      std::copy_n(im.data.begin() + std::ptrdiff_t(from * plane), plane, out.data.begin() + std::ptrdiff_t(c * plane));
    }
    return out;
  }

  nn::DarknetNetwork net_;
  std::string fingerprint_;
  RegionDetectorOptions options_;
};

}  // namespace simad::models
