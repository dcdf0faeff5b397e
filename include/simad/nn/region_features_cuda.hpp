// simad/nn/region_features_cuda.hpp: nn/region_features.hpp's regions pooled on the GPU from hidden maps that
// stay there (a CudaDarknetNetwork forward's DarknetOutput::hidden; needs the CUDA kernels: link simad::kernels).
// The layout (which map and window each region pools, its geometry and mask) is worked out on the host from the
// detections, which come from the host's NMS anyway; only the windows (16 bytes a region) go to the device, and
// cuda/kernels/region_pool.hpp pools them. The result is nn::region_features's with `features` a Device::cuda
// tensor (B, K, D), for a model on the GPU; scale, geometry and mask stay on the host. The same values as the
// CPU form on the same maps (maxima: exact).
#pragma once

#if !defined(SIMAD_HAVE_CUDA_KERNELS)
#error "simad/nn/region_features_cuda.hpp needs simad's CUDA kernels (link simad::kernels)"
#endif

#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/cuda/kernels/region_pool.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/nn/region_features.hpp"

namespace simad::nn {

namespace detail {
inline RegionFeatures cuda_pool_regions(std::span<const Tensor<float>> hidden, RegionLayout layout,
                                        cudaStream_t stream) {
  RegionFeatures& r = layout.regions;
  r.features = Tensor<float>::empty({r.B, r.K, r.D}, Device::cuda);
  if (r.features.numel() > 0)  // padded regions stay 0
    SIMAD_CUDA_CHECK(cudaMemsetAsync(r.features.data(), 0, size_t(r.features.numel()) * sizeof(float), stream));
  for (size_t s = 0; s < hidden.size(); ++s) {
    const Tensor<float>& h = hidden[s];
    SIMAD_CHECK(h.device() == Device::cuda, "cuda region features: hidden map ", s, " is not on the GPU");
    const Tensor<int32_t> windows = cuda::to_device(layout.windows[s], stream);
    cuda::kernels::region_max_pool(r.features.data(), h.data(), windows.data(), r.B, r.K, r.D, h.dim(1), h.dim(2),
                                   h.dim(3), stream);
  }
  return std::move(r);
}
}  // namespace detail

// nn::region_features on the GPU: hidden[s] Device::cuda tensors (B, C_s, h_s, w_s).
inline RegionFeatures cuda_region_features(std::span<const Tensor<float>> hidden,
                                           std::span<const std::vector<Detection>> detections,
                                           std::span<const std::pair<int, int>> image_sizes, int64_t k1 = 20,
                                           cudaStream_t stream = nullptr) {
  return detail::cuda_pool_regions(hidden, detail::detection_layout(hidden, detections, image_sizes, k1), stream);
}

// nn::grid_regions on the GPU.
inline RegionFeatures cuda_grid_regions(std::span<const Tensor<float>> hidden, int64_t grid = 7,
                                        cudaStream_t stream = nullptr) {
  return detail::cuda_pool_regions(hidden, detail::grid_layout(hidden, grid), stream);
}

}  // namespace simad::nn
