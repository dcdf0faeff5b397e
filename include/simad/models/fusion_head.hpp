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
// Every op goes through the Tensor dispatch: the head runs where its parameters are (CPU, or CUDA
// after store.move_to and bind); the pointer forms take host memory (a CPU head).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/nn/linear.hpp"
#include "simad/ops/dispatch/activation.hpp"
#include "simad/ops/dispatch/concat.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "simad/ops/dispatch/fusion_attention.hpp"
#include "simad/ops/dispatch/masked_max.hpp"
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

  // pooled (B, pooled_dim()) from H (B, N, d) and V (B, K, d) with their masks (B, N) / (B, K) (1 = real).
  void forward(const Tensor<T>& pooled, const Tensor<T>& H, const Tensor<uint8_t>& hmask, const Tensor<T>& V,
               const Tensor<uint8_t>& vmask) {
    SIMAD_CHECK(H.defined() && V.defined() && H.rank() == 3 && V.rank() == 3 && H.dim(2) == d_ && V.dim(2) == d_ &&
                    H.dim(0) == V.dim(0),
                "FusionHead '", prefix_, "': H must be (B, N, d=", d_, ") and V (B, K, d)");
    const int64_t B = H.dim(0), N = H.dim(1), K = V.dim(1), d = d_;
    B_ = B, N_ = N, K_ = K;
    dev_ = H.device();
    check_shape(pooled, {B, pooled_dim()}, "FusionHead: pooled");
    keep(hmask_, hmask), keep(vmask_, vmask), keep(H_, H), keep(V_, V);
    ensure_tensor(ph_, {B, d}, dev_), ensure_tensor(pv_, {B, d}, dev_);
    ensure_tensor(argh_, {B, d}, dev_), ensure_tensor(argv_, {B, d}, dev_);
    Tensor<T> hp = H_, vp = V_;  // what the max-pools see
    if (mode_ == FusionMode::fused) {
      ensure_tensor(Ht_, {B, N, d}, dev_), ensure_tensor(Vt_, {B, K, d}, dev_);
      ensure_tensor(A_, {B, N, K}, dev_), ensure_tensor(P_, {B, N, K}, dev_);
      ops::fusion_attention_forward(Ht_, Vt_, A_, P_, H_, V_, bilinear_ ? wf_ : Tensor<T>(), &hmask_, &vmask_);
      side_forward(text_, text_side_, H_, Ht_);
      side_forward(image_, image_side_, V_, Vt_);
      hp = text_side_.act, vp = image_side_.act;
    }
    if (mode_ != FusionMode::image_only) ops::masked_max_forward(ph_, argh_, hp, hmask_);
    if (mode_ != FusionMode::text_only) ops::masked_max_forward(pv_, argv_, vp, vmask_);
    if (mode_ == FusionMode::text_only) ops::copy(pooled, ph_);
    else if (mode_ == FusionMode::image_only) ops::copy(pooled, pv_);
    else ops::concat_forward(pooled, {ph_, pv_});
  }

  // dH (B, N, d) and dV (B, K, d) += the gradients of the last forward for dpooled (either may be
  // undefined); dW_f and the layers' gradients accumulate in the store.
  void backward(const Tensor<T>& dH, const Tensor<T>& dV, const Tensor<T>& dpooled) {
    const int64_t B = B_, N = N_, K = K_, d = d_;
    zeroed(dph_, {B, d}), zeroed(dpv_, {B, d});
    if (mode_ == FusionMode::text_only) ops::copy(dph_, dpooled);
    else if (mode_ == FusionMode::image_only) ops::copy(dpv_, dpooled);
    else ops::concat_backward({dph_, dpv_}, dpooled);
    if (mode_ != FusionMode::fused) {
      if (mode_ != FusionMode::image_only) ops::masked_max_backward(dH, dph_, argh_);
      if (mode_ != FusionMode::text_only) ops::masked_max_backward(dV, dpv_, argv_);
      return;
    }
    // The fused path needs both input gradients as targets of the layers' direct parts.
    const Tensor<T> dh = dH.defined() ? dH : zeroed(dh_spare_, {B, N, d});
    const Tensor<T> dv = dV.defined() ? dV : zeroed(dv_spare_, {B, K, d});
    zeroed(dHt_, {B, N, d}), zeroed(dVt_, {B, K, d});
    side_backward(text_, text_side_, dph_, argh_, dh, dHt_);
    side_backward(image_, image_side_, dpv_, argv_, dv, dVt_);
    ops::fusion_attention_backward(dh, dv, bilinear_ ? dwf_ : Tensor<T>(), dHt_, dVt_, H_, V_,
                                   bilinear_ ? wf_ : Tensor<T>(), A_, P_);
  }

  // Pointer forms on host memory (a CPU head): pooled (B, pooled_dim()), H (B, N, d), hmask (B, N),
  // V (B, K, d), vmask (B, K); dH / dV may be nullptr.
  void forward(T* pooled, const T* H, const uint8_t* hmask, const T* V, const uint8_t* vmask, int64_t B, int64_t N,
               int64_t K) {
    forward(Tensor<T>::borrow(pooled, {B, pooled_dim()}), Tensor<T>::borrow(const_cast<T*>(H), {B, N, d_}),
            Tensor<uint8_t>::borrow(const_cast<uint8_t*>(hmask), {B, N}), Tensor<T>::borrow(const_cast<T*>(V), {B, K, d_}),
            Tensor<uint8_t>::borrow(const_cast<uint8_t*>(vmask), {B, K}));
  }
  void backward(T* dH, T* dV, const T* dpooled) {
    backward(dH ? Tensor<T>::borrow(dH, {B_, N_, d_}) : Tensor<T>(), dV ? Tensor<T>::borrow(dV, {B_, K_, d_}) : Tensor<T>(),
             Tensor<T>::borrow(const_cast<T*>(dpooled), {B_, pooled_dim()}));
  }

 private:
  // A copy of the forward's input into the cache (the caller may reuse its buffer before backward).
  template <typename U>
  void keep(Tensor<U>& cache, const Tensor<U>& t) {
    ensure_tensor(cache, t.shape(), dev_);
    ops::copy(cache, t);
  }
  const Tensor<T>& zeroed(Tensor<T>& t, const Shape& s) { return ops::ensure_zeros(t, s, dev_); }

  // One side's layer input, pre-activation and output, and its backward scratch (each side keeps its
  // own: text (B, N, .) and image (B, K, .) shapes differ, so sharing would reallocate every step).
  struct Side {
    Tensor<T> cat, z, act, dact, dz, dcat;
  };

  // act = ReLU(layer([x; x~])) over the rows of x (B, S, d).
  void side_forward(nn::Linear<T>& layer, Side& side, const Tensor<T>& x, const Tensor<T>& xt) {
    const int64_t B = x.dim(0), S = x.dim(1), d = d_;
    ensure_tensor(side.cat, {B, S, 2 * d}, dev_);
    ops::concat_forward(side.cat, {x, xt});
    ensure_tensor(side.z, {B, S, d}, dev_), ensure_tensor(side.act, {B, S, d}, dev_);
    layer.forward(side.z, side.cat);
    ops::relu_forward(side.act, side.z);
  }
  // From the pooled gradient back through the max-pool, the ReLU and the layer into dx (direct
  // part) and dxt (the attended part).
  void side_backward(nn::Linear<T>& layer, Side& side, const Tensor<T>& dpool, const Tensor<int32_t>& arg,
                     const Tensor<T>& dx, const Tensor<T>& dxt) {
    const Shape s = side.z.shape();
    zeroed(side.dact, s), zeroed(side.dz, s), zeroed(side.dcat, side.cat.shape());
    ops::masked_max_backward(side.dact, dpool, arg);
    ops::relu_backward(side.dz, side.dact, side.z);
    layer.backward(side.dcat, side.dz);
    ops::concat_backward({dx, dxt}, side.dcat);
  }

  std::string prefix_;
  int64_t d_ = 0;
  FusionMode mode_ = FusionMode::fused;
  bool bilinear_ = false;
  nn::Linear<T> text_, image_;
  Tensor<T> wf_, dwf_;
  int64_t B_ = 0, N_ = 0, K_ = 0;
  Device dev_ = Device::cpu;
  Tensor<uint8_t> hmask_, vmask_;
  Tensor<T> H_, V_, Ht_, Vt_, A_, P_, ph_, pv_;
  Side text_side_, image_side_;
  Tensor<int32_t> argh_, argv_;
  // Scratch.
  Tensor<T> dph_, dpv_, dHt_, dVt_, dh_spare_, dv_spare_;
};

}  // namespace simad::models
