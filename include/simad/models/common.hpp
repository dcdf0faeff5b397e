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
#include "simad/ops/activation.hpp"
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

  void forward(T* v, const AdBatch<T>& b) {
    SIMAD_CHECK(b.Din == din_, "region encoder: the batch's region features have ", b.Din,
                " values, the model was built for ", din_, " (was it trained with another region source?)");
    const int64_t rows = b.B * b.R, w = din_ + kGeometryDim;
    std::vector<T> x(size_t(rows * w));
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(b.region_features.data() + r * din_, din_, x.data() + r * w);
      std::copy_n(b.region_geometry.data() + r * kGeometryDim, kGeometryDim, x.data() + r * w + din_);
    }
    z_.resize(size_t(rows * d_));
    proj_.forward(z_.data(), x.data(), rows);
    ops::relu_forward(v, z_.data(), rows * d_);
  }
  void backward(const T* dv) {
    std::vector<T> dz(z_.size(), T(0));
    ops::relu_backward(dz.data(), dv, z_.data(), int64_t(z_.size()));
    proj_.backward(nullptr, dz.data());
  }

 private:
  int64_t din_ = 0, d_ = 0;
  nn::Linear<T> proj_;
  std::vector<T> z_;
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

// out (B, d) = mean of x (B, N, d) over each set's real positions (mask 1); count (B) receives the
// number of them. A set with none gets zeros (ION's h_bar of an empty text, the pre-trainer's mean).
template <typename T>
void masked_mean_forward(T* out, std::vector<int64_t>& count, const T* x, const uint8_t* mask, int64_t B, int64_t N,
                         int64_t d) {
  count.assign(size_t(B), 0);
  std::fill(out, out + B * d, T(0));
  for (int64_t i = 0; i < B; ++i) {
    T* y = out + i * d;
    for (int64_t t = 0; t < N; ++t)
      if (mask[i * N + t]) {
        ++count[size_t(i)];
        for (int64_t c = 0; c < d; ++c) y[c] += x[(i * N + t) * d + c];
      }
    if (count[size_t(i)])
      for (int64_t c = 0; c < d; ++c) y[c] /= T(count[size_t(i)]);
  }
}

// dx (B, N, d) += dout / count at the real positions, from the forward's count.
template <typename T>
void masked_mean_backward(T* dx, const T* dout, const std::vector<int64_t>& count, const uint8_t* mask, int64_t B,
                          int64_t N, int64_t d) {
  for (int64_t i = 0; i < B; ++i) {
    if (!count[size_t(i)]) continue;
    const T n = T(count[size_t(i)]);
    for (int64_t t = 0; t < N; ++t)
      if (mask[i * N + t])
        for (int64_t c = 0; c < d; ++c) dx[(i * N + t) * d + c] += dout[i * d + c] / n;
  }
}

}  // namespace simad::models
