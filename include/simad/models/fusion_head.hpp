// simad/models/fusion_head.hpp: the last stage both models share, from the word vectors H (B, N, d)
// and the kept region vectors V (B, K, d) to one pooled vector per ad:
//   fused       ToTYEmb eq. 12-18 / ION eq. 7-11: (H~, V~) = fusion_attention(H, V, W_f);
//               h^_i = ReLU(F_text([h_i; h~_i])), v^_j = ReLU(F_image([v_j; v~_j]));
//               pooled = [maxpool_i h^_i ; maxpool_j v^_j]                                    (B, 2d)
//   concat      ION "w/o DFA": pooled = [maxpool_i h_i ; maxpool_j v_j]                       (B, 2d)
//   text_only   the text-only baseline: pooled = maxpool_i h_i                               (B, d)
//   image_only  the image-only baseline: pooled = maxpool_j v_j                              (B, d)
// W_f (ION's bilinear DFA weight, d x d) exists when `bilinear`; without it the fusion is ToTYEmb's
// W_f = I. Max-pools are masked (ops/masked_max.hpp: an ad with no word, or no region, pools to 0).
// The layers' Linear + ReLU is MODELS.md's [choice] for F_text / F_image and ION's FFN_h / FFN_v.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/nn/linear.hpp"
#include "simad/ops/activation.hpp"
#include "simad/ops/concat.hpp"
#include "simad/ops/fusion_attention.hpp"
#include "simad/ops/masked_max.hpp"
#include "simad/train/param_store.hpp"

namespace simad::models {

enum class FusionMode { fused, concat, text_only, image_only };

inline const char* to_string(FusionMode m) {
  switch (m) {
    case FusionMode::fused: return "fused";
    case FusionMode::concat: return "concat";
    case FusionMode::text_only: return "text_only";
    case FusionMode::image_only: return "image_only";
  }
  return "?";
}
inline FusionMode parse_fusion_mode(const std::string& s) {
  for (FusionMode m : {FusionMode::fused, FusionMode::concat, FusionMode::text_only, FusionMode::image_only})
    if (s == to_string(m)) return m;
  ::simad::detail::throw_error(::simad::detail::concat("unknown fusion mode '", s, "' (expected fused, concat, text_only or image_only)"), SourceLocation::current());
}

template <typename T>
class FusionHead {
 public:
  FusionHead(train::ParamStore<T>& store, const std::string& prefix, int64_t d, FusionMode mode, bool bilinear)
      : prefix_(prefix), d_(d), mode_(mode), bilinear_(bilinear && mode == FusionMode::fused) {
    if (mode_ == FusionMode::fused) {
      text_ = nn::Linear<T>(store, prefix + "text.", 2 * d, d);
      image_ = nn::Linear<T>(store, prefix + "image.", 2 * d, d);
      if (bilinear_) store.add(prefix + "W_f", {d, d});
    }
  }

  void bind(const train::ParamStore<T>& store) {
    if (mode_ != FusionMode::fused) return;
    text_.bind(store), image_.bind(store);
    if (bilinear_) wf_ = store.param(prefix_ + "W_f"), dwf_ = store.grad(prefix_ + "W_f");
  }

  // W_f starts at the identity plus small noise: the fusion begins as ToTYEmb's dot-product
  // attention and learns its bilinear form from there.
  void init(Rng& rng) const {
    if (mode_ != FusionMode::fused) return;
    text_.init(rng), image_.init(rng);
    if (bilinear_) {
      rng.fill_uniform(wf_.span(), -0.01, 0.01);
      for (int64_t i = 0; i < d_; ++i) wf_.data()[i * d_ + i] += T(1);
    }
  }

  int64_t pooled_dim() const {
    return mode_ == FusionMode::fused || mode_ == FusionMode::concat ? 2 * d_ : d_;
  }
  FusionMode mode() const { return mode_; }

  // pooled (B, pooled_dim()) from H (B, N, d) and V (B, K, d) with their masks (1 = real).
  void forward(T* pooled, const T* H, const uint8_t* hmask, const T* V, const uint8_t* vmask, int64_t B, int64_t N,
               int64_t K) {
    B_ = B, N_ = N, K_ = K;
    const int64_t d = d_;
    hmask_.assign(hmask, hmask + B * N), vmask_.assign(vmask, vmask + B * K);
    H_.assign(H, H + B * N * d), V_.assign(V, V + B * K * d);
    std::vector<T> ph(size_t(B * d)), pv(size_t(B * d));
    argh_.resize(size_t(B * d)), argv_.resize(size_t(B * d));
    const T* hp = H_.data();  // what the max-pools see
    const T* vp = V_.data();
    if (mode_ == FusionMode::fused) {
      Ht_.resize(size_t(B * N * d)), Vt_.resize(size_t(B * K * d));
      A_.resize(size_t(B * N * K)), P_.resize(size_t(B * N * K));
      ops::fusion_attention_forward(Ht_.data(), Vt_.data(), A_.data(), P_.data(), H_.data(), V_.data(),
                                    bilinear_ ? wf_.data() : nullptr, hmask, vmask, B, N, K, d);
      side_forward(text_, zh_, ah_, H_.data(), Ht_.data(), B * N);
      side_forward(image_, zv_, av_, V_.data(), Vt_.data(), B * K);
      hp = ah_.data(), vp = av_.data();
    }
    if (mode_ != FusionMode::image_only) ops::masked_max_forward(ph.data(), argh_.data(), hp, hmask, B, N, d);
    if (mode_ != FusionMode::text_only) ops::masked_max_forward(pv.data(), argv_.data(), vp, vmask, B, K, d);
    if (mode_ == FusionMode::text_only) std::copy(ph.begin(), ph.end(), pooled);
    else if (mode_ == FusionMode::image_only) std::copy(pv.begin(), pv.end(), pooled);
    else {
      const std::array<const T*, 2> parts = {ph.data(), pv.data()};
      const std::array<int64_t, 2> sizes = {d, d};
      ops::concat_forward<T>(pooled, parts, sizes, B);
    }
  }

  // dH (B, N, d) and dV (B, K, d) += the gradients of the last forward for dpooled; dW_f and the
  // layers' gradients accumulate in the store.
  void backward(T* dH, T* dV, const T* dpooled) {
    const int64_t B = B_, N = N_, K = K_, d = d_;
    std::vector<T> dph(size_t(B * d), T(0)), dpv(size_t(B * d), T(0));
    if (mode_ == FusionMode::text_only) std::copy(dpooled, dpooled + B * d, dph.begin());
    else if (mode_ == FusionMode::image_only) std::copy(dpooled, dpooled + B * d, dpv.begin());
    else {
      const std::array<T*, 2> parts = {dph.data(), dpv.data()};
      const std::array<int64_t, 2> sizes = {d, d};
      ops::concat_backward<T>(parts, dpooled, sizes, B);
    }
    if (mode_ != FusionMode::fused) {
      if (mode_ != FusionMode::image_only) ops::masked_max_backward(dH, dph.data(), argh_.data(), B, N, d);
      if (mode_ != FusionMode::text_only) ops::masked_max_backward(dV, dpv.data(), argv_.data(), B, K, d);
      return;
    }
    std::vector<T> dHt(size_t(B * N * d), T(0)), dVt(size_t(B * K * d), T(0));
    side_backward(text_, zh_, dph.data(), argh_.data(), dH, dHt.data(), B, N);
    side_backward(image_, zv_, dpv.data(), argv_.data(), dV, dVt.data(), B, K);
    ops::fusion_attention_backward(dH, dV, bilinear_ ? dwf_.data() : nullptr, dHt.data(), dVt.data(), H_.data(),
                                   V_.data(), bilinear_ ? wf_.data() : nullptr, A_.data(), P_.data(), B, N, K, d);
  }

 private:
  // act = ReLU(layer([x; x~])) over `rows` rows.
  void side_forward(nn::Linear<T>& layer, std::vector<T>& z, std::vector<T>& act, const T* x, const T* xt,
                    int64_t rows) {
    const int64_t d = d_;
    std::vector<T> cat(size_t(rows * 2 * d));
    const std::array<const T*, 2> parts = {x, xt};
    const std::array<int64_t, 2> sizes = {d, d};
    ops::concat_forward<T>(cat.data(), parts, sizes, rows);
    z.resize(size_t(rows * d)), act.resize(size_t(rows * d));
    layer.forward(z.data(), cat.data(), rows);
    ops::relu_forward(act.data(), z.data(), rows * d);
  }
  // From the pooled gradient back through the max-pool, the ReLU and the layer into dx (direct
  // part) and dxt (the attended part).
  void side_backward(nn::Linear<T>& layer, const std::vector<T>& z, const T* dpool, const int32_t* arg, T* dx, T* dxt,
                     int64_t B, int64_t S) {
    const int64_t d = d_, rows = B * S;
    std::vector<T> dact(size_t(rows * d), T(0)), dz(size_t(rows * d), T(0)), dcat(size_t(rows * 2 * d), T(0));
    ops::masked_max_backward(dact.data(), dpool, arg, B, S, d);
    ops::relu_backward(dz.data(), dact.data(), z.data(), rows * d);
    layer.backward(dcat.data(), dz.data());
    const std::array<T*, 2> parts = {dx, dxt};
    const std::array<int64_t, 2> sizes = {d, d};
    ops::concat_backward<T>(parts, dcat.data(), sizes, rows);
  }

  std::string prefix_;
  int64_t d_ = 0;
  FusionMode mode_ = FusionMode::fused;
  bool bilinear_ = false;
  nn::Linear<T> text_, image_;
  Tensor<T> wf_, dwf_;
  int64_t B_ = 0, N_ = 0, K_ = 0;
  std::vector<uint8_t> hmask_, vmask_;
  std::vector<T> H_, V_, Ht_, Vt_, A_, P_, zh_, ah_, zv_, av_;
  std::vector<int32_t> argh_, argv_;
};

}  // namespace simad::models
