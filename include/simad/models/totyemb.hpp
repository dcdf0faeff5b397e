// simad/models/totyemb.hpp: ToTYEmb (thesis, section 3; MODELS.md "ToTYEmb"), forward and backward.
//   H = Transformer(words [+ POS tags])                                        eq. 1-2, 1 layer
//   pointer (eq. 6-8): v_t = tanh(W_w h_t + b_w); a = softmax_t(v_t . u_w); keep the top k_p words;
//                      u_i = a_{t_i} h_{t_i}                         (the scale is MODELS.md's [choice])
//   context (eq. 9-10): b = softmax_i(w_u . u_i);  c = sum_i b_i u_i
//   ranking (eq. 11):  g_j = tanh(w_c . c + w_r . r_j + b_g),  r_j = F_v([region_j; geometry_j]);
//                      keep the top K by g; kept r_j scaled by n * softmax over the kept g ([choice])
//   fusion (eq. 12-18): FusionHead (fused, W_f = I) over (H, kept R)
//   o = F_e(pooled) -> the embedding (eq. 19);  y = softmax(F_f(o)) (eq. 20);  loss = CE(y, category) (eq. 21)
// Ablations: use_pointer = false (c from every word), ranking = confidence ("w/o text clue" =
// Trans+YOLO) or all (grid regions = Trans+VGG16), fusion = text_only / image_only, K.
// Devices: every op goes through the Tensor dispatch (ops/dispatch): the model runs where its
// parameters are, the CPU or CUDA (float) after to(Device::cuda). The top-k selections (a sort of a few
// scores per ad) run on the host; everything else stays on the device.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/models/batch.hpp"
#include "simad/models/common.hpp"
#include "simad/models/fusion_head.hpp"
#include "simad/models/model_config.hpp"
#include "simad/nn/linear.hpp"
#include "simad/nn/transformer.hpp"
#include "simad/ops/dispatch/activation.hpp"
#include "simad/ops/dispatch/broadcast_add.hpp"
#include "simad/ops/dispatch/cross_entropy.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "simad/ops/dispatch/gemm.hpp"
#include "simad/ops/dispatch/softmax.hpp"
#include "simad/ops/dispatch/topk_gather.hpp"
#include "simad/ops/topk_gather.hpp"
#include "simad/train/param_store.hpp"

namespace simad::models {

struct TotyembConfig {
  nn::TransformerConfig encoder = totyemb_default_encoder();
  int64_t region_dim = 0;
  int64_t num_classes = 0;      // training categories
  int64_t kp = 5;               // pointer: words kept
  int64_t K = 5;                // regions kept
  int64_t embedding_dim = 128;  // o
  bool use_pointer = true;
  bool scale_pointer = true;    // u_i = a_{t_i} h_{t_i}
  RegionRanking ranking = RegionRanking::text;
  bool scale_kept = true;       // kept r_j *= n softmax(g)
  FusionMode fusion = FusionMode::fused;

  static nn::TransformerConfig totyemb_default_encoder() {
    nn::TransformerConfig e;
    e.d_model = 128, e.num_heads = 4, e.num_layers = 1, e.ffn_dim = 512;
    return e;
  }
  void validate() const {
    encoder.validate();
    SIMAD_CHECK(encoder.vocab_size > 0, "ToTYEmb config: vocab_size must be > 0");
    SIMAD_CHECK(region_dim >= 1 && num_classes >= 1 && kp >= 1 && K >= 1 && embedding_dim >= 1,
                "ToTYEmb config: region_dim=", region_dim, " num_classes=", num_classes, " kp=", kp, " K=", K,
                " embedding_dim=", embedding_dim, " must all be >= 1");
  }
  nlohmann::json to_json() const {
    return {{"kind", "totyemb"},       {"encoder", encoder_to_json(encoder)},
            {"region_dim", region_dim}, {"num_classes", num_classes},
            {"kp", kp},                 {"K", K},
            {"embedding_dim", embedding_dim}, {"use_pointer", use_pointer},
            {"scale_pointer", scale_pointer}, {"ranking", to_string(ranking)},
            {"scale_kept", scale_kept}, {"fusion", to_string(fusion)}};
  }
  static TotyembConfig from_json(const nlohmann::json& j) {
    TotyembConfig c;
    JsonReader r(j, "ToTYEmb config");
    r.expect_kind("totyemb");
    c.encoder = encoder_from_json(r.object("encoder"));
    r.get("region_dim", c.region_dim), r.get("num_classes", c.num_classes), r.get("kp", c.kp), r.get("K", c.K);
    r.get("embedding_dim", c.embedding_dim), r.get("use_pointer", c.use_pointer);
    r.get("scale_pointer", c.scale_pointer), r.get("scale_kept", c.scale_kept);
    std::string s;
    if (r.get("ranking", s)) c.ranking = parse_region_ranking(s);
    if (r.get("fusion", s)) c.fusion = parse_fusion_mode(s);
    c.validate();
    return c;
  }
};

template <typename T>
class Totyemb {
 public:
  using value_type = T;
  static constexpr const char* kind() { return "totyemb"; }

  explicit Totyemb(const TotyembConfig& cfg)
      : cfg_((cfg.validate(), cfg)), d_(cfg.encoder.d_model), encoder_(store_, "encoder.", cfg.encoder),
        pointer_(store_, "pointer.word.", d_, d_), pointer_u_(store_, "pointer.u.", d_, 1, false),
        context_(store_, "context.u.", d_, 1, false), regions_(store_, "regions.", cfg.region_dim, d_),
        rank_region_(store_, "rank.region.", d_, 1), rank_context_(store_, "rank.context.", d_, 1, false),
        head_(store_, "fusion.", d_, cfg.fusion, false), emb_(store_, "embedding.", head_.pooled_dim(), cfg.embedding_dim),
        cls_(store_, "classifier.", cfg.embedding_dim, cfg.num_classes) {
    store_.allocate();
    bind();
  }

  void init(Rng& rng) {
    SIMAD_CHECK(device() == Device::cpu, "ToTYEmb: initialise on the CPU, then call to(device)");
    encoder_.init(rng), pointer_.init(rng), pointer_u_.init(rng), context_.init(rng), regions_.init(rng);
    rank_region_.init(rng), rank_context_.init(rng), head_.init(rng), emb_.init(rng), cls_.init(rng);
  }

  // Moves the parameters and gradients to `device` (Device::cuda needs simad::kernels; float only).
  void to(Device device) {
    store_.move_to(device, [](const Tensor<T>& dst, const Tensor<T>& src) { ops::copy(dst, src); });
    bind();
  }
  Device device() const { return store_.device(); }

  train::ParamStore<T>& store() { return store_; }
  nn::TransformerEncoder<T>& encoder() { return encoder_; }
  const TotyembConfig& config() const { return cfg_; }
  nlohmann::json config_json() const { return cfg_.to_json(); }
  int64_t embedding_dim() const { return cfg_.embedding_dim; }
  bool needs_pk_batches() const { return false; }

  LossTerms forward(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    const int64_t B = b.B, C = cfg_.num_classes;
    for (int32_t l : b.labels)
      SIMAD_CHECK(l >= -1 && l < C, "ToTYEmb: label ", l, " outside the model's ", C, " classes");
    run(b, training, drop);
    ensure_tensor(probs_, {B, C}, device());
    LossTerms loss;
    loss.main = double(ops::cross_entropy_forward(probs_, logits_, db_.labels, -1));
    loss.total = loss.main;
    std::vector<T> probs(static_cast<size_t>(B * C));
    ops::copy(Tensor<T>::borrow(probs.data(), {B, C}), probs_);
    for (int64_t i = 0; i < B; ++i) {
      const T* p = probs.data() + i * C;
      loss.correct += b.labels[size_t(i)] >= 0 && std::max_element(p, p + C) - p == b.labels[size_t(i)];
    }
    return loss;
  }

  void backward() {
    const int64_t B = B_, N = N_, R = R_, K = cfg_.K, d = d_, C = cfg_.num_classes, E = cfg_.embedding_dim;
    ops::cross_entropy_backward(zeroed(dlogits_, {B, C}), T(1), probs_, db_.labels, -1);
    cls_.backward(zeroed(dob_, {B, E}), dlogits_);
    emb_.backward(zeroed(dpooled_, {B, head_.pooled_dim()}), dob_);
    head_.backward(zeroed(dH_, {B, N, d}), zeroed(dsel_, {B, K, d}), dpooled_);
    // Kept regions: sel = w * r[idx], w = n softmax(g kept).
    const bool scaled = cfg_.ranking == RegionRanking::text && cfg_.scale_kept;
    ops::topk_gather_backward(zeroed(dr_, {B, R, d}), scaled ? zeroed(dw_, {B, K}) : Tensor<T>(), dsel_, r_,
                              scaled ? w_ : Tensor<T>(), idx_);
    zeroed(dc_, {B, d});
    if (scaled) {
      ops::mul_backward(zeroed(dsm_, {B, K}), Tensor<T>(), dw_, sm_, nrep_);          // w = n sm
      ops::softmax_backward(zeroed(dgk_, {B, K}), dsm_, sm_);                         // sm = softmax(gk)
      ops::topk_gather_backward(zeroed(dg_, {B, R, 1}), Tensor<T>(), dgk_.reshape({B, K, 1}), g_.reshape({B, R, 1}),
                                Tensor<T>(), idx_);                                   // gk = g[idx]
      ops::tanh_backward(zeroed(dgz_, {B, R, 1}), dg_, g_.reshape({B, R, 1}));         // g = tanh(gz)
      ops::broadcast_add_backward(Tensor<T>(), zeroed(dgc_, {B, 1}), dgz_);           // gz = gr + gc
      rank_region_.backward(dr_, dgz_);
      rank_context_.backward(dc_, dgc_);
    }
    regions_.backward(dr_);
    // c (B, 1, d) = b (B, 1, P) U (B, P, d), b = softmax(w_u . u_i) over the kept words.
    const int64_t P = P_;
    ops::batched_matmul(zeroed(dU_, {B, P, d}), ctx_b_.reshape({B, 1, P}), dc_.reshape({B, 1, d}), true, false, T(1));
    ops::batched_matmul(zeroed(db_ctx_, {B, 1, P}), dc_.reshape({B, 1, d}), U_, false, true);
    ops::softmax_backward(zeroed(dzu_, {B, P}), db_ctx_.reshape({B, P}), ctx_b_);
    context_.backward(dU_, dzu_);
    if (cfg_.use_pointer) {
      ops::topk_gather_backward(dH_, cfg_.scale_pointer ? zeroed(dwp_, {B, P}) : Tensor<T>(), dU_, H_,
                                cfg_.scale_pointer ? pw_ : Tensor<T>(), pidx_);
      if (cfg_.scale_pointer) {  // pw = a[pidx], a = softmax(e), e = u_w . tanh(W_w h + b_w)
        ops::topk_gather_backward(zeroed(da_, {B, N, 1}), Tensor<T>(), dwp_.reshape({B, P, 1}), pa_.reshape({B, N, 1}),
                                  Tensor<T>(), pidx_);
        ops::softmax_backward(zeroed(de_, {B, N}), da_.reshape({B, N}), pa_);
        pointer_u_.backward(zeroed(dpv_, {B, N, d}), de_);
        ops::tanh_backward(zeroed(dz_, {B, N, d}), dpv_, pv_);
        pointer_.backward(dH_, dz_);
      }
    } else {
      ops::axpy(dH_, T(1), dU_);
    }
    encoder_.backward(Tensor<T>(), dH_);
  }

  // out (B, embedding_dim) = o for each ad, in evaluation mode (host memory).
  void embed(const AdBatch<T>& b, T* out) {
    run(b, false, nullptr);
    ops::copy(Tensor<T>::borrow(out, o_.shape()), o_);
  }
  // After a forward, on the host: class logits (B, num_classes), kept regions (B, K) and their scores g (B, R).
  const std::vector<T>& logits() {
    logits_host_.resize(size_t(logits_.numel()));
    ops::copy(Tensor<T>::borrow(logits_host_.data(), logits_.shape()), logits_);
    return logits_host_;
  }
  const std::vector<int32_t>& kept_regions() const { return idx_host_; }
  const std::vector<T>& region_scores() const { return g_host_; }

 private:
  void bind() {
    encoder_.bind(store_), pointer_.bind(store_), pointer_u_.bind(store_), context_.bind(store_);
    regions_.bind(store_), rank_region_.bind(store_), rank_context_.bind(store_), head_.bind(store_);
    emb_.bind(store_), cls_.bind(store_);
  }

  const Tensor<T>& zeroed(Tensor<T>& t, const Shape& s) { return ops::ensure_zeros(t, s, device()); }

  void run(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    const int64_t B = b.B, N = b.N, R = b.R, K = cfg_.K, d = d_;
    const Device dev = device();
    B_ = B, N_ = N, R_ = R;
    db_.stage(b, dev, cfg_.encoder.pos_tag_count > 0);
    ensure_tensor(H_, {B, N, d}, dev);
    encoder_.forward(H_, db_.words, db_.tags, db_.word_mask, training, drop);
    // Pointer (eq. 6-8): U (B, P, d) and its mask.
    if (cfg_.use_pointer) {
      const int64_t P = cfg_.kp;
      P_ = P;
      ensure_tensor(pz_, {B, N, d}, dev), ensure_tensor(pv_, {B, N, d}, dev), ensure_tensor(pe_, {B, N, 1}, dev);
      pointer_.forward(pz_, H_);
      ops::tanh_forward(pv_, pz_);
      pointer_u_.forward(pe_, pv_);
      ensure_tensor(pa_, {B, N}, dev);
      ops::softmax_forward(pa_, pe_.reshape({B, N}), &db_.word_mask);
      std::vector<T> pa(static_cast<size_t>(B * N));
      ops::copy(Tensor<T>::borrow(pa.data(), {B, N}), pa_);
      pidx_host_.resize(size_t(B * P)), umask_host_.resize(size_t(B * P));
      ops::topk_select(pidx_host_.data(), pa.data(), b.word_mask.data(), B, N, P);
      ops::topk_slot_mask(umask_host_.data(), pidx_host_.data(), B, P);
      db_.put(pidx_, pidx_host_, {B, P}, dev);
      db_.put(umask_, umask_host_, {B, P}, dev);
      if (cfg_.scale_pointer) {  // u_i = a_{t_i} h_{t_i}
        ensure_tensor(pw_, {B, P}, dev);
        ops::topk_gather_forward(pw_.reshape({B, P, 1}), pa_.reshape({B, N, 1}), Tensor<T>(), pidx_);
      }
      ensure_tensor(Uown_, {B, P, d}, dev);
      ops::topk_gather_forward(Uown_, H_, cfg_.scale_pointer ? pw_ : Tensor<T>(), pidx_);
      U_ = Uown_;
    } else {
      P_ = N;
      U_ = H_;
      umask_ = db_.word_mask;
    }
    // Context (eq. 9-10): c = sum_i b_i u_i.
    const int64_t P = P_;
    ensure_tensor(zu_, {B, P, 1}, dev), ensure_tensor(ctx_b_, {B, P}, dev), ensure_tensor(c_, {B, d}, dev);
    context_.forward(zu_, U_);
    ops::softmax_forward(ctx_b_, zu_.reshape({B, P}), &umask_);
    ops::batched_matmul(c_.reshape({B, 1, d}), ctx_b_.reshape({B, 1, P}), U_);
    // Regions and text-guided ranking (eq. 11).
    ensure_tensor(r_, {B, R, d}, dev), ensure_tensor(g_, {B, R}, dev);
    regions_.forward(r_, db_.features, db_.geometry);
    g_host_.assign(size_t(B * R), T(0));
    if (cfg_.ranking == RegionRanking::text) {
      ensure_tensor(gr_, {B, R, 1}, dev), ensure_tensor(gc_, {B, 1}, dev), ensure_tensor(gz_, {B, R, 1}, dev);
      rank_region_.forward(gr_, r_);
      rank_context_.forward(gc_, c_);
      ops::broadcast_add_forward(gz_, gr_, gc_);
      ops::tanh_forward(g_.reshape({B, R, 1}), gz_);
      ops::copy(Tensor<T>::borrow(g_host_.data(), {B, R}), g_);
    } else {
      ops::fill(g_, T(0));
    }
    idx_host_.resize(size_t(B * K)), kmask_host_.resize(size_t(B * K));
    select_regions(idx_host_.data(), cfg_.ranking, g_host_.data(), b, K);
    ops::topk_slot_mask(kmask_host_.data(), idx_host_.data(), B, K);
    db_.put(idx_, idx_host_, {B, K}, dev);
    db_.put(kmask_, kmask_host_, {B, K}, dev);
    ensure_tensor(w_, {B, K}, dev);
    if (cfg_.ranking == RegionRanking::text && cfg_.scale_kept) {
      // w_t = n softmax over the kept g (n = the kept count, so the weights average 1).
      nrep_host_.assign(size_t(B * K), T(0));
      for (int64_t i = 0; i < B; ++i) {
        T n = 0;
        for (int64_t t = 0; t < K; ++t) n += kmask_host_[size_t(i * K + t)] ? T(1) : T(0);
        for (int64_t t = 0; t < K; ++t) nrep_host_[size_t(i * K + t)] = n;
      }
      db_.put(nrep_, nrep_host_, {B, K}, dev);
      ensure_tensor(gk_, {B, K}, dev), ensure_tensor(sm_, {B, K}, dev);
      ops::topk_gather_forward(gk_.reshape({B, K, 1}), g_.reshape({B, R, 1}), Tensor<T>(), idx_);
      ops::softmax_forward(sm_, gk_, &kmask_);
      ops::mul_forward(w_, sm_, nrep_);
    } else {
      ops::fill(w_, T(1));
    }
    ensure_tensor(sel_, {B, K, d}, dev);
    ops::topk_gather_forward(sel_, r_, w_, idx_);
    // Fusion (eq. 12-18), embedding and classifier (eq. 19-20).
    ensure_tensor(pooled_, {B, head_.pooled_dim()}, dev);
    head_.forward(pooled_, H_, db_.word_mask, sel_, kmask_);
    ensure_tensor(o_, {B, cfg_.embedding_dim}, dev), ensure_tensor(logits_, {B, cfg_.num_classes}, dev);
    emb_.forward(o_, pooled_);
    cls_.forward(logits_, o_);
  }

  TotyembConfig cfg_;
  int64_t d_;
  train::ParamStore<T> store_;
  nn::TransformerEncoder<T> encoder_;
  nn::Linear<T> pointer_, pointer_u_, context_;
  RegionEncoder<T> regions_;
  nn::Linear<T> rank_region_, rank_context_;
  FusionHead<T> head_;
  nn::Linear<T> emb_, cls_;
  // Cache of the last forward (on the model's device) and its host side.
  int64_t B_ = 0, N_ = 0, R_ = 0, P_ = 0;
  StagedBatch<T> db_;
  Tensor<T> H_, pz_, pv_, pe_, pa_, pw_, Uown_, U_, zu_, ctx_b_, c_, r_, gr_, gc_, gz_, g_, gk_, sm_, nrep_, w_, sel_,
      pooled_, o_, logits_, probs_;
  Tensor<int32_t> pidx_, idx_;
  Tensor<uint8_t> umask_, kmask_;
  std::vector<int32_t> pidx_host_, idx_host_;
  std::vector<uint8_t> umask_host_, kmask_host_;
  std::vector<T> g_host_, nrep_host_, logits_host_;
  // Backward scratch.
  Tensor<T> dlogits_, dob_, dpooled_, dH_, dsel_, dr_, dw_, dc_, dsm_, dgk_, dg_, dgz_, dgc_, dU_, db_ctx_, dzu_, dwp_,
      da_, de_, dpv_, dz_;
};

}  // namespace simad::models
