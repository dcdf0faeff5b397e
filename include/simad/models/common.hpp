// simad/models/common.hpp: the parts ION and ToTYEmb share besides the fusion head: the region
// encoder (MODELS.md "Region feature": the region's feature vector and its geometry, concatenated,
// projected to d) and the choice of which regions to keep (text-guided scores, the detector's
// confidence, or all of them: the grid baseline has no confidence to rank by).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/models/batch.hpp"
#include "simad/nn/linear.hpp"
#include "simad/ops/dispatch/activation.hpp"
#include "simad/ops/dispatch/concat.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "simad/ops/topk_gather.hpp"

namespace simad::models {

// How the kept regions are chosen.
enum class RegionRanking {
  text,        // by the model's text-guided score (ToTYEmb eq. 11, ION's SCA eq. 5-6)
  confidence,  // by the detector's confidence ("w/o text clue" = Trans+YOLO, ION "w/o SCA")
  all,         // keep every region in order (grid regions: Trans+VGG16 analogue)
};

inline const char* to_string(RegionRanking r) {
  switch (r) {
    case RegionRanking::text: return "text";
    case RegionRanking::confidence: return "confidence";
    case RegionRanking::all: return "all";
  }
  return "?";
}
inline RegionRanking parse_region_ranking(const std::string& s) {
  for (RegionRanking r : {RegionRanking::text, RegionRanking::confidence, RegionRanking::all})
    if (s == to_string(r)) return r;
  ::simad::detail::throw_error(::simad::detail::concat("unknown region ranking '", s, "' (expected text, confidence or all)"), SourceLocation::current());
}

// v_j = ReLU(W [features_j; geometry_j] + b): (B, R, Din + 5) -> (B, R, d). The inputs are fixed
// (cached detector or pixel features), so no input gradient is formed.
template <typename T>
class RegionEncoder {
 public:
  RegionEncoder() = default;
  RegionEncoder(train::ParamStore<T>& store, const std::string& prefix, int64_t region_dim, int64_t d)
      : din_(region_dim), d_(d), proj_(store, prefix, region_dim + kGeometryDim, d) {}
  void bind(const train::ParamStore<T>& store) { proj_.bind(store); }
  void init(Rng& rng) const { proj_.init(rng); }

  // v (B, R, d) from the regions' features (B, R, Din) and geometry (B, R, 5), on the parameters' device.
  void forward(const Tensor<T>& v, const Tensor<T>& features, const Tensor<T>& geometry) {
    SIMAD_CHECK(features.defined() && features.rank() == 3 && features.dim(2) == din_, "region encoder: the batch's region features have ",
                features.defined() ? features.dim(-1) : 0, " values, the model was built for ", din_,
                " (was it trained with another region source?)");
    const int64_t B = features.dim(0), R = features.dim(1);
    ensure_tensor(x_, {B, R, din_ + kGeometryDim}, v.device());
    ops::concat_forward(x_, {features, geometry});
    ensure_tensor(z_, {B, R, d_}, v.device());
    proj_.forward(z_, x_);
    ops::relu_forward(v, z_);
  }
  void backward(const Tensor<T>& dv) {
    ops::relu_backward(ops::ensure_zeros(dz_, z_.shape(), z_.device()), dv, z_);
    proj_.backward(Tensor<T>(), dz_);
  }

  // Pointer forms on host memory (a CPU encoder): v (B, R, d) from the batch's regions.
  void forward(T* v, const AdBatch<T>& b) {
    SIMAD_CHECK(b.Din == din_, "region encoder: the batch's region features have ", b.Din,
                " values, the model was built for ", din_, " (was it trained with another region source?)");
    forward(Tensor<T>::borrow(v, {b.B, b.R, d_}),
            Tensor<T>::borrow(const_cast<T*>(b.region_features.data()), {b.B, b.R, din_}),
            Tensor<T>::borrow(const_cast<T*>(b.region_geometry.data()), {b.B, b.R, kGeometryDim}));
  }
  void backward(const T* dv) { backward(Tensor<T>::borrow(const_cast<T*>(dv), z_.shape())); }

 private:
  int64_t din_ = 0, d_ = 0;
  nn::Linear<T> proj_;
  Tensor<T> x_, z_, dz_;
};

// idx (B, k): the kept regions. text: by scores (B, R); confidence: by geometry column 4; all: the
// first k real regions in order.
template <typename T>
void select_regions(int32_t* idx, RegionRanking ranking, const T* scores, const AdBatch<T>& b, int64_t k) {
  const int64_t B = b.B, R = b.R;
  if (ranking == RegionRanking::all) {
    for (int64_t i = 0; i < B; ++i) {
      int64_t t = 0;
      for (int64_t j = 0; j < R && t < k; ++j)
        if (b.region_mask[size_t(i * R + j)]) idx[i * k + t++] = int32_t(j);
      for (; t < k; ++t) idx[i * k + t] = -1;
    }
    return;
  }
  std::vector<T> conf;
  if (ranking == RegionRanking::confidence) {
    conf.resize(size_t(B * R));
    for (int64_t r = 0; r < B * R; ++r) conf[size_t(r)] = b.region_geometry[size_t(r * kGeometryDim + 4)];
    scores = conf.data();
  }
  ops::topk_select(idx, scores, b.region_mask.data(), B, R, k);
}

// The word mask (B, N) as weights (1 real, 0 padding): with ops::weighted_mean it gives the masked
// mean over words (ION's h_bar, the pre-trainer's mean; an ad without words pools to 0).
template <typename T>
std::vector<T> word_weights(const AdBatch<T>& b) {
  std::vector<T> w(b.word_mask.size());
  for (size_t i = 0; i < w.size(); ++i) w[i] = T(b.word_mask[i]);
  return w;
}

// A batch's arrays copied onto a model's device (the caller's AdBatch may go before backward()).
template <typename T>
struct StagedBatch {
  Tensor<int32_t> words, tags, keyword, labels;  // (B, N), (B, N) or undefined, (B N), (B)
  Tensor<uint8_t> word_mask;                      // (B, N)
  Tensor<T> word_weight, features, geometry;      // (B, N) the mask as 0/1, (B, R, Din), (B, R, 5)

  void stage(const AdBatch<T>& b, Device device, bool with_tags) {
    const int64_t B = b.B, N = b.N, R = b.R;
    weights_ = word_weights(b);
    put(words, b.words, {B, N}, device);
    if (with_tags) put(tags, b.tags, {B, N}, device);
    else tags = Tensor<int32_t>();
    put(keyword, b.keyword, {B * N}, device);
    put(labels, b.labels, {B}, device);
    put(word_mask, b.word_mask, {B, N}, device);
    put(word_weight, weights_, {B, N}, device);
    put(features, b.region_features, {B, R, b.Din}, device);
    put(geometry, b.region_geometry, {B, R, kGeometryDim}, device);
  }

  // Any host array into a tensor on `device` (reused when the shape repeats).
  template <typename U>
  static void put(Tensor<U>& dst, const std::vector<U>& src, const Shape& shape, Device device) {
    SIMAD_CHECK(int64_t(src.size()) == shape.numel(), "StagedBatch: ", src.size(), " values for shape ", shape);
    ensure_tensor(dst, shape, device);
    ops::copy(dst, Tensor<U>::borrow(const_cast<U*>(src.data()), shape));
  }

 private:
  std::vector<T> weights_;
};

}  // namespace simad::models
