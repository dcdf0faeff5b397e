// simad/models/detector_regions_cuda.hpp: models::RegionDetector's regions with the detector on the GPU (needs
// the CUDA kernels: link simad::kernels). A batch of pictures goes in, their regions come out:
//   auto det = models::RegionDetector::load("detector.cfg", "detector.weights");
//   const models::CudaRegionDetector gpu(det);
//   gpu.detection_regions(images, examples);       // examples[i]'s regions from images[i]
//   nn::RegionFeatures r = gpu.detection_region_features(images);   // r.features stays on the GPU
// Per batch: one letterboxing on the host, one network forward on the device (nn::CudaDarknetNetwork), the
// [yolo] maps decoded there (nn::cuda_yolo_candidates: only the kept candidates come back), NMS on the host,
// and the regions pooled from the hidden maps on the device (nn::cuda_region_features): the maps never
// leave the GPU. detection_regions() then copies the (B, k1, D) features back for the examples.
// The same regions as RegionDetector's within the convolutions' float rounding (their sums run in another
// order), unless a box's confidence or overlap lies that close to the threshold or the NMS limit.
#pragma once

#if !defined(SIMAD_HAVE_CUDA_KERNELS)
#error "simad/models/detector_regions_cuda.hpp needs simad's CUDA kernels (link simad::kernels)"
#endif

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/image/image.hpp"
#include "simad/image/letterbox.hpp"
#include "simad/models/batch.hpp"
#include "simad/models/detector_regions.hpp"
#include "simad/nn/darknet_cuda.hpp"
#include "simad/nn/region_features_cuda.hpp"
#include "simad/nn/yolo.hpp"

namespace simad::models {

class CudaRegionDetector {
 public:
  // math: the convolutions' arithmetic (fp32, or bf16 on tensor cores: cuda/kernels/conv2d.hpp).
  explicit CudaRegionDetector(std::shared_ptr<const RegionDetector> detector,
                              cuda::kernels::ConvMath math = cuda::kernels::ConvMath::fp32)
      : detector_(require(std::move(detector))), net_(detector_->network(), math) {}

  const RegionDetector& detector() const { return *detector_; }

  // The top k1 detections of each image as its regions; features on the GPU (see nn/region_features_cuda.hpp).
  nn::RegionFeatures detection_region_features(std::span<const image::Image> images,
                                               cudaStream_t stream = nullptr) const {
    std::vector<image::LetterboxGeometry> geometries;
    const nn::DarknetOutput out = net_.forward(detector_->input_batch(images, &geometries), false, stream);
    const io::darknet::Config& cfg = detector_->network().config();
    const RegionDetectorOptions& o = detector_->options();
    std::vector<std::vector<nn::Candidate>> candidates = nn::cuda_yolo_candidates(out, cfg, o.threshold, stream);
    std::vector<std::vector<nn::Detection>> detections(images.size());
    std::vector<std::pair<int, int>> sizes;
    const int classes = nn::yolo_classes(cfg);
    for (size_t b = 0; b < images.size(); ++b) {
      detections[b] = nn::detections_from_candidates(std::move(candidates[b]), classes, geometries[b], o.nms);
      sizes.emplace_back(images[b].width, images[b].height);
    }
    return nn::cuda_region_features(out.hidden, detections, sizes, o.k1, stream);
  }

  // The deepest hidden map of each image pooled to grid x grid regions; features on the GPU.
  nn::RegionFeatures grid_region_features(std::span<const image::Image> images, int grid,
                                          cudaStream_t stream = nullptr) const {
    SIMAD_CHECK(grid >= 1 && grid <= 64, "region detector: grid ", grid, " must be in [1, 64]");
    const nn::DarknetOutput out = net_.forward(detector_->input_batch(images, nullptr), false, stream);
    return nn::cuda_grid_regions(out.hidden, grid, stream);
  }

  // RegionDetector::detection_regions for a batch: examples[i]'s regions from images[i].
  void detection_regions(std::span<const image::Image> images, std::span<AdExample> examples,
                         cudaStream_t stream = nullptr) const {
    SIMAD_CHECK(images.size() == examples.size(), "region detector: ", images.size(), " images for ",
                examples.size(), " examples");
    to_examples(detection_region_features(images, stream), images, examples, stream);
  }

  // RegionDetector::grid_regions for a batch.
  void grid_regions(std::span<const image::Image> images, int grid, std::span<AdExample> examples,
                    cudaStream_t stream = nullptr) const {
    SIMAD_CHECK(images.size() == examples.size(), "region detector: ", images.size(), " images for ",
                examples.size(), " examples");
    to_examples(grid_region_features(images, grid, stream), images, examples, stream);
  }

 private:
  static std::shared_ptr<const RegionDetector> require(std::shared_ptr<const RegionDetector> d) {
    SIMAD_CHECK(d != nullptr, "CudaRegionDetector: no detector");
    return d;
  }

  void to_examples(nn::RegionFeatures r, std::span<const image::Image> images, std::span<AdExample> examples,
                   cudaStream_t stream) const {
    r.features = cuda::to_host(r.features, stream);
    for (size_t b = 0; b < images.size(); ++b) detector_->to_example(r, int64_t(b), images[b], examples[b]);
  }

  std::shared_ptr<const RegionDetector> detector_;
  nn::CudaDarknetNetwork net_;
};

}  // namespace simad::models
