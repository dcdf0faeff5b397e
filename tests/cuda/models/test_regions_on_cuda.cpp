// tests/cuda/models/test_regions_on_cuda.cpp: the image regions on the (emulated) GPU. nn::cuda_region_features
// and cuda_grid_regions against nn::region_features and grid_regions on the same hidden maps: exactly the same
// features (maxima), layout, geometry and mask, for detections on every scale, images without detections and
// more detections than k1. models::CudaRegionDetector against models::RegionDetector on the same pictures (a
// batch of sizes and channel counts): the same regions, features within the convolutions' float rounding.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/models/detector_regions.hpp"
#include "simad/models/detector_regions_cuda.hpp"
#include "simad/nn/region_features.hpp"
#include "simad/nn/region_features_cuda.hpp"
#include "cuda/kernels/device_buffer.hpp"
#include "models/tiny_detector.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace nn = simad::nn;
namespace models = simad::models;
namespace t = simad::testing;
using simad::Tensor;

void check_same_regions(const nn::RegionFeatures& gpu, const nn::RegionFeatures& cpu) {
  REQUIRE(gpu.features.device() == simad::Device::cuda);
  CHECK(gpu.B == cpu.B);
  CHECK(gpu.K == cpu.K);
  CHECK(gpu.D == cpu.D);
  CHECK(gpu.channels == cpu.channels);
  const Tensor<float> f = simad::cuda::to_host(gpu.features);
  CHECK(t::same_bits(std::vector<float>(f.data(), f.data() + f.numel()),
                     std::vector<float>(cpu.features.data(), cpu.features.data() + cpu.features.numel())));
  auto vec = [](const auto& x) { return std::vector(x.data(), x.data() + x.numel()); };
  CHECK(vec(gpu.scale) == vec(cpu.scale));
  CHECK(vec(gpu.mask) == vec(cpu.mask));
  CHECK(t::same_bits(vec(gpu.geometry), vec(cpu.geometry)));
}

}  // namespace

TEST_CASE("cuda/regions: pooled on the GPU from the same hidden maps, the CPU's regions exactly") {
  auto rng = t::test_rng();
  // Three scales of 13x13x40, 6x5x24 (the deepest) and 26x26x8, batch 3.
  const int64_t B = 3;
  const std::vector<std::vector<int64_t>> shapes{{40, 13, 13}, {24, 6, 5}, {8, 26, 26}};
  std::vector<Tensor<float>> hidden, hidden_gpu;
  for (const auto& s : shapes) {
    Tensor<float> h = Tensor<float>::empty({B, s[0], s[1], s[2]});
    const auto v = t::random_vector<float>(rng, size_t(h.numel()));
    std::copy(v.begin(), v.end(), h.data());
    hidden_gpu.push_back(simad::cuda::to_device(h));
    hidden.push_back(std::move(h));
  }
  // Image 0: 7 detections over every scale (k1 = 5 keeps the first 5); image 1: none; image 2: one.
  std::vector<std::vector<nn::Detection>> dets(3);
  for (int j = 0; j < 7; ++j) {
    nn::Detection d;
    d.scale = j % 3;
    d.row = int(rng.next_below(uint32_t(shapes[size_t(d.scale)][1])));
    d.col = int(rng.next_below(uint32_t(shapes[size_t(d.scale)][2])));
    d.box = nn::Box{float(rng.next_below(300)), float(rng.next_below(200)), 40.0f + float(j), 30.0f};
    d.confidence = 0.9f - 0.05f * float(j);
    dets[0].push_back(d);
  }
  dets[2].push_back(dets[0][4]);
  const std::vector<std::pair<int, int>> sizes{{320, 200}, {64, 64}, {100, 300}};
  const auto cpu = nn::region_features(hidden, dets, sizes, 5);
  const auto gpu = nn::cuda_region_features(hidden_gpu, dets, sizes, 5);
  check_same_regions(gpu, cpu);
  CHECK(cpu.mask(1, 0) == 1);  // the fallback region of the image without detections
  CHECK(cpu.scale(1, 0) == 1);
  for (const int64_t grid : {int64_t(1), int64_t(4), int64_t(7)}) {
    CAPTURE(grid);
    check_same_regions(nn::cuda_grid_regions(hidden_gpu, grid), nn::grid_regions(hidden, grid));
  }
  CHECK_THROWS_AS(nn::cuda_region_features(hidden, dets, sizes, 5), simad::Error);  // maps on the host
}

TEST_CASE("cuda/regions: CudaRegionDetector gives RegionDetector's regions for a batch of pictures") {
  auto rng = t::test_rng();
  models::RegionDetectorOptions o;
  o.threshold = 0.15f;  // random weights: a low threshold gives detections
  o.k1 = 6;
  for (const models::RegionFeatureKind kind : {models::RegionFeatureKind::map, models::RegionFeatureKind::map_pixels}) {
    o.features = kind;
    const auto det = std::make_shared<const models::RegionDetector>(t::tiny_detector(101, o));
    const models::CudaRegionDetector gpu(det);
    const std::vector<simad::image::Image> images{t::random_picture(rng, 90, 40, 3), t::random_picture(rng, 33, 70, 1),
                                                  t::random_picture(rng, 64, 64, 4)};
    std::vector<models::AdExample> got(3), want(3);
    for (auto& ex : got) ex.regions = 99, ex.region_features.assign(3, std::numeric_limits<float>::quiet_NaN());
    gpu.detection_regions(images, got);
    for (size_t b = 0; b < 3; ++b) det->detection_regions(images[b], want[b]);
    int64_t detections = 0;
    for (size_t b = 0; b < 3; ++b) {
      CAPTURE(b);
      REQUIRE(got[b].regions == want[b].regions);
      REQUIRE(got[b].region_dim == want[b].region_dim);
      t::check_close(got[b].region_features, want[b].region_features, 2e-4, 2e-4, "region features");
      t::check_close(got[b].region_geometry, want[b].region_geometry, 1e-5, 1e-4, "region geometry");
      for (int64_t j = 0; j < got[b].regions; ++j) detections += want[b].region_geometry[size_t(j * 5 + 4)] > 0;
    }
    CHECK(detections >= 3);  // the test saw detections, not only the fallback
    std::vector<models::AdExample> grid_got(3), grid_want(3);
    gpu.grid_regions(images, 3, grid_got);
    for (size_t b = 0; b < 3; ++b) {
      det->grid_regions(images[b], 3, grid_want[b]);
      REQUIRE(grid_got[b].regions == 9);
      t::check_close(grid_got[b].region_features, grid_want[b].region_features, 2e-4, 2e-4, "grid features");
      CHECK(grid_got[b].region_geometry == grid_want[b].region_geometry);
    }
  }
  std::vector<models::AdExample> one(1);
  const std::vector<simad::image::Image> none;
  CHECK_THROWS_AS(models::CudaRegionDetector(nullptr), simad::Error);
  const models::CudaRegionDetector gpu(std::make_shared<const models::RegionDetector>(t::tiny_detector(5, o)));
  CHECK_THROWS_AS(gpu.detection_regions(none, one), simad::Error);  // 0 images for 1 example
}

}  // namespace SIMAD_TEST_FILE_ID
