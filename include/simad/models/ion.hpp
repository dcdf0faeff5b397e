// simad/models/ion.hpp: ION (ACL paper, section 3; MODELS.md "ION"), forward and backward.
//   H = Transformer(words)                                       4 layers, 4 heads
//   keyword head: p_i = softmax(W_k h_i)  over {other, keyword}    loss weight rho
//   KSG (eq. 1-4):  lambda_i = [p_i > 0.5] (hard) or p_i (soft);  s = sum_i lambda_i h_i / max(1, sum_i lambda_i)
//                   keyGate_i = sigmoid(W_w h_i + b_w + W_c s);   h'_i = keyGate_i * h_i;  h_bar = mean_i h'_i
//   SCA (eq. 5-6):  v_j = FFN_r([r_j; geometry_j]);  alpha_j = sigmoid(w_v . v_j + b_v + w_o . h_bar)
//                   keep the top k2 regions by alpha; kept v_j scaled by alpha_j ([choice], for gradient)
//   DFA (eq. 7-12): FusionHead (fused, bilinear W_f) over (H', kept V), then f = FFN_f(pooled), f /= ||f||
//   loss (eq. 14):  batch-hard triplet on f (margin gamma) + rho * keyword cross-entropy
// Ablations (config switches): use_ksg = false (h' = h), ranking = confidence ("w/o SCA"),
// fusion = concat ("w/o DFA"), text_only / image_only baselines, k2, rho, gamma, encoder size.
// Devices: every op goes through the Tensor dispatch (ops/dispatch), so the model runs where its
// parameters are: on the CPU, or on CUDA (float) after to(Device::cuda). A batch is staged onto the
// device in forward; the region selection (a sort of k1 scores per ad) runs on the host, the rest
// stays on the device.
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
#include "simad/ops/dispatch/keyword_gate.hpp"
#include "simad/ops/dispatch/l2norm.hpp"
#include "simad/ops/dispatch/softmax.hpp"
#include "simad/ops/dispatch/topk_gather.hpp"
#include "simad/ops/dispatch/triplet.hpp"
#include "simad/ops/dispatch/weighted_mean.hpp"
#include "simad/ops/topk_gather.hpp"
#include "simad/train/param_store.hpp"

namespace simad::models {

enum class KeywordGate { hard, soft };

struct IonConfig {
  nn::TransformerConfig encoder = ion_default_encoder();
  int64_t region_dim = 0;       // Din of the region features (the region source decides)
  int64_t k2 = 10;              // regions kept by SCA (of the k1 candidates the batch carries)
  int64_t embedding_dim = 128;  // f
  bool use_ksg = true;
  KeywordGate gate = KeywordGate::hard;
  RegionRanking ranking = RegionRanking::text;
  bool scale_kept = true;       // kept v_j *= alpha_j
  FusionMode fusion = FusionMode::fused;
  bool bilinear = true;         // DFA's W_f (false: ToTYEmb's identity)
  double rho = 0.05;            // keyword loss weight
  double margin = 0.2;          // gamma
  // The paper writes squared distances (eq. 14); Hermans et al. (batch-hard's authors) found them
  // prone to collapse (every embedding at one point, loss = margin) and use plain Euclidean ones.
  ops::TripletDistance distance = ops::TripletDistance::Squared;

  static nn::TransformerConfig ion_default_encoder() {
    nn::TransformerConfig e;
    e.d_model = 128, e.num_heads = 4, e.num_layers = 4, e.ffn_dim = 512;
    return e;
  }
  void validate() const {
    encoder.validate();
    SIMAD_CHECK(encoder.vocab_size > 0, "ION config: vocab_size must be > 0");
    SIMAD_CHECK(region_dim >= 1 && k2 >= 1 && embedding_dim >= 1, "ION config: region_dim=", region_dim, " k2=", k2,
                " embedding_dim=", embedding_dim, " must all be >= 1");
    SIMAD_CHECK(rho >= 0 && margin >= 0, "ION config: rho and margin must be >= 0");
  }
  nlohmann::json to_json() const {
    return {{"kind", "ion"},
            {"encoder", encoder_to_json(encoder)},
            {"region_dim", region_dim},
            {"k2", k2},
            {"embedding_dim", embedding_dim},
            {"use_ksg", use_ksg},
            {"gate", gate == KeywordGate::hard ? "hard" : "soft"},
            {"ranking", to_string(ranking)},
            {"scale_kept", scale_kept},
            {"fusion", to_string(fusion)},
            {"bilinear", bilinear},
            {"rho", rho},
            {"margin", margin},
            {"distance", distance == ops::TripletDistance::Squared ? "squared" : "euclidean"}};
  }
  static IonConfig from_json(const nlohmann::json& j) {
    IonConfig c;
    JsonReader r(j, "ION config");
    r.expect_kind("ion");
    c.encoder = encoder_from_json(r.object("encoder"));
    r.get("region_dim", c.region_dim), r.get("k2", c.k2), r.get("embedding_dim", c.embedding_dim);
    r.get("use_ksg", c.use_ksg), r.get("scale_kept", c.scale_kept), r.get("bilinear", c.bilinear);
    r.get("rho", c.rho), r.get("margin", c.margin);
    std::string s;
    if (r.get("gate", s)) {
      SIMAD_CHECK(s == "hard" || s == "soft", "ION config: gate must be hard or soft, got '", s, "'");
      c.gate = s == "hard" ? KeywordGate::hard : KeywordGate::soft;
    }
    if (r.get("ranking", s)) c.ranking = parse_region_ranking(s);
    if (r.get("fusion", s)) c.fusion = parse_fusion_mode(s);
    if (r.get("distance", s)) {
      SIMAD_CHECK(s == "squared" || s == "euclidean", "ION config: distance must be squared or euclidean, got '", s, "'");
      c.distance = s == "squared" ? ops::TripletDistance::Squared : ops::TripletDistance::Euclidean;
    }
    c.validate();
    return c;
  }
};

template <typename T>
class Ion {
 public:
  using value_type = T;
  static constexpr const char* kind() { return "ion"; }

  explicit Ion(const IonConfig& cfg)
      : cfg_((cfg.validate(), cfg)), d_(cfg.encoder.d_model), encoder_(store_, "encoder.", cfg.encoder),
        keyword_(store_, "keyword.", d_, 2), gate_word_(store_, "ksg.word.", d_, d_),
        gate_ctx_(store_, "ksg.context.", d_, d_, false), regions_(store_, "regions.", cfg.region_dim, d_),
        sca_region_(store_, "sca.region.", d_, 1), sca_text_(store_, "sca.text.", d_, 1, false),
        head_(store_, "dfa.", d_, cfg.fusion, cfg.bilinear), out_(store_, "out.", head_.pooled_dim(), cfg.embedding_dim) {
    store_.allocate();
    bind();
  }

  void init(Rng& rng) {
    SIMAD_CHECK(device() == Device::cpu, "Ion: initialise on the CPU, then call to(device)");
    encoder_.init(rng), keyword_.init(rng), gate_word_.init(rng), gate_ctx_.init(rng), regions_.init(rng);
    sca_region_.init(rng), sca_text_.init(rng), head_.init(rng), out_.init(rng);
  }

  // Moves the parameters and gradients to `device` (Device::cuda needs simad::kernels; float only).
  void to(Device device) {
    store_.move_to(device, [](const Tensor<T>& dst, const Tensor<T>& src) { ops::copy(dst, src); });
    bind();
  }
  Device device() const { return store_.device(); }

  train::ParamStore<T>& store() { return store_; }
  const IonConfig& config() const { return cfg_; }
  nlohmann::json config_json() const { return cfg_.to_json(); }
  int64_t embedding_dim() const { return cfg_.embedding_dim; }
  bool needs_pk_batches() const { return true; }

  // Forward with the loss (labels of the batch = its training classes). Caches for backward().
  LossTerms forward(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    run(b, training, drop);
    LossTerms loss;
    const Device dev = device();
    ensure_tensor(pos_, {b.B}, dev), ensure_tensor(neg_, {b.B}, dev);
    const T tri = ops::batch_hard_triplet_forward(pos_, neg_, &loss.skipped_anchors, f_, db_.labels, T(cfg_.margin),
                                                  cfg_.distance);
    kw_loss_ = ops::cross_entropy_forward(kw_probs_, kw_logits_, db_.keyword, -1);
    loss.main = double(tri);
    loss.keyword = double(kw_loss_);
    loss.total = loss.main + cfg_.rho * loss.keyword;
    return loss;
  }

  // Gradients of the last forward's total loss, accumulated into the store.
  void backward() {
    const int64_t B = B_, N = N_, R = R_, K = cfg_.k2, d = d_, E = cfg_.embedding_dim;
    // f = normalise(out(pooled)); triplet on f.
    ops::batch_hard_triplet_backward(zeroed(df_, {B, E}), T(1), f_, pos_, neg_, T(cfg_.margin), cfg_.distance);
    ops::l2norm_backward(zeroed(df0_, {B, E}), df_, f_, fnorm_);
    out_.backward(zeroed(dpooled_, {B, head_.pooled_dim()}), df0_);
    head_.backward(zeroed(dHg_, {B, N, d}), zeroed(dsel_, {B, K, d}), dpooled_);
    // Kept regions: v_sel = w * v[idx].
    const bool scaled = cfg_.ranking == RegionRanking::text && cfg_.scale_kept;
    ops::topk_gather_backward(zeroed(dv_, {B, R, d}), scaled ? zeroed(dw_, {B, K}) : Tensor<T>(), dsel_, v_,
                              scaled ? w_ : Tensor<T>(), idx_);
    zeroed(dhbar_, {B, d});
    if (scaled) {  // w_t = alpha_{idx_t}, alpha = sigmoid(a_j + a_text), a_j = w_v . v_j + b_v, a_text = w_o . h_bar
      ops::topk_gather_backward(zeroed(dalpha_, {B, R, 1}), Tensor<T>(), dw_.reshape({B, K, 1}), alpha_.reshape({B, R, 1}),
                                Tensor<T>(), idx_);
      ops::sigmoid_backward(zeroed(dza_, {B, R, 1}), dalpha_, alpha_.reshape({B, R, 1}));
      ops::broadcast_add_backward(Tensor<T>(), zeroed(dat_, {B, 1}), dza_);
      sca_region_.backward(dv_, dza_);
      sca_text_.backward(dhbar_, dat_);
    }
    regions_.backward(dv_);
    // h_bar = masked mean of h'.
    ops::weighted_mean_backward(dHg_, Tensor<T>(), dhbar_, Hg_, db_.word_weight, hbar_, hden_);
    Tensor<T> dH = dHg_;
    if (cfg_.use_ksg) ksg_backward(dH = zeroed(dH_, {B, N, d}), dHg_);
    // Keyword head: rho * CE (+ the soft gate's path through lambda).
    ops::cross_entropy_backward(zeroed(dlogits_, {B * N, 2}), T(cfg_.rho), kw_probs_, db_.keyword, -1);
    if (cfg_.use_ksg && cfg_.gate == KeywordGate::soft)
      ops::keyword_gate_backward(dlogits_, dlambda_, kw_probs_, db_.word_mask);
    keyword_.backward(dH, dlogits_);
    encoder_.backward(Tensor<T>(), dH);
  }

  // out (B, embedding_dim) = f for each ad, in evaluation mode (host memory).
  void embed(const AdBatch<T>& b, T* out) {
    run(b, false, nullptr);
    ops::copy(Tensor<T>::borrow(out, f_.shape()), f_);
  }

  // After a forward: the kept regions (B, k2; -1 = empty slot) and their SCA scores alpha (B, R), on the host.
  const std::vector<int32_t>& kept_regions() const { return idx_host_; }
  const std::vector<T>& region_scores() const { return alpha_host_; }

 private:
  void bind() {
    encoder_.bind(store_), keyword_.bind(store_), gate_word_.bind(store_), gate_ctx_.bind(store_);
    regions_.bind(store_), sca_region_.bind(store_), sca_text_.bind(store_), head_.bind(store_), out_.bind(store_);
  }

  const Tensor<T>& zeroed(Tensor<T>& t, const Shape& s) { return ops::ensure_zeros(t, s, device()); }

  void run(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    const int64_t B = b.B, N = b.N, R = b.R, K = cfg_.k2, d = d_, E = cfg_.embedding_dim;
    const Device dev = device();
    B_ = B, N_ = N, R_ = R;
    db_.stage(b, dev, cfg_.encoder.pos_tag_count > 0);
    ensure_tensor(H_, {B, N, d}, dev);
    encoder_.forward(H_, db_.words, db_.tags, db_.word_mask, training, drop);
    ensure_tensor(kw_logits_, {B * N, 2}, dev), ensure_tensor(kw_probs_, {B * N, 2}, dev);
    keyword_.forward(kw_logits_, H_);
    ops::softmax_forward(kw_probs_, kw_logits_);  // p_i for KSG
    if (cfg_.use_ksg) ksg_forward();
    else Hg_ = H_;  // h' = h (the same tensor: nothing writes either afterwards)
    // h_bar = mean of h' over the words.
    ensure_tensor(hbar_, {B, d}, dev), ensure_tensor(hden_, {B}, dev);
    ops::weighted_mean_forward(hbar_, hden_, Hg_, db_.word_weight);
    // Regions and SCA.
    ensure_tensor(v_, {B, R, d}, dev);
    regions_.forward(v_, db_.features, db_.geometry);
    ensure_tensor(alpha_, {B, R}, dev);
    alpha_host_.assign(size_t(B * R), T(0));
    if (cfg_.ranking == RegionRanking::text) {
      ensure_tensor(a_, {B, R, 1}, dev), ensure_tensor(at_, {B, 1}, dev), ensure_tensor(za_, {B, R, 1}, dev);
      sca_region_.forward(a_, v_);
      sca_text_.forward(at_, hbar_);
      ops::broadcast_add_forward(za_, a_, at_);
      ops::sigmoid_forward(alpha_.reshape({B, R, 1}), za_);
      ops::copy(Tensor<T>::borrow(alpha_host_.data(), {B, R}), alpha_);
    } else {
      ops::fill(alpha_, T(0));
    }
    // The selection on the host, then the gather on the device.
    idx_host_.resize(size_t(B * K));
    select_regions(idx_host_.data(), cfg_.ranking, alpha_host_.data(), b, K);
    w_host_.assign(size_t(B * K), T(1));
    for (int64_t s = 0; s < B * K; ++s)
      if (idx_host_[size_t(s)] >= 0 && cfg_.ranking == RegionRanking::text && cfg_.scale_kept)
        w_host_[size_t(s)] = alpha_host_[size_t((s / K) * R + idx_host_[size_t(s)])];
    kmask_host_.resize(size_t(B * K));
    ops::topk_slot_mask(kmask_host_.data(), idx_host_.data(), B, K);
    db_.put(idx_, idx_host_, {B, K}, dev);
    db_.put(w_, w_host_, {B, K}, dev);
    db_.put(kmask_, kmask_host_, {B, K}, dev);
    ensure_tensor(sel_, {B, K, d}, dev);
    ops::topk_gather_forward(sel_, v_, w_, idx_);
    // DFA and the embedding.
    ensure_tensor(pooled_, {B, head_.pooled_dim()}, dev);
    head_.forward(pooled_, Hg_, db_.word_mask, sel_, kmask_);
    ensure_tensor(f0_, {B, E}, dev), ensure_tensor(f_, {B, E}, dev), ensure_tensor(fnorm_, {B}, dev);
    out_.forward(f0_, pooled_);
    ops::l2norm_forward(f_, fnorm_, f0_);
  }

  // KSG (eq. 1-4) on H_ -> Hg_: lambda from the keyword probabilities, s = their weighted mean of H,
  // gate = sigmoid(W_w h + b_w + W_c s), h' = gate * h.
  void ksg_forward() {
    const int64_t B = B_, N = N_, d = d_;
    const Device dev = device();
    ensure_tensor(lambda_, {B, N}, dev), ensure_tensor(s_, {B, d}, dev), ensure_tensor(sden_, {B}, dev);
    ops::keyword_gate_forward(lambda_, kw_probs_, db_.word_mask, cfg_.gate == KeywordGate::hard);
    ops::weighted_mean_forward(s_, sden_, H_, lambda_);
    ensure_tensor(zw_, {B, N, d}, dev), ensure_tensor(zc_, {B, d}, dev), ensure_tensor(z_, {B, N, d}, dev);
    gate_word_.forward(zw_, H_);
    gate_ctx_.forward(zc_, s_);
    ops::broadcast_add_forward(z_, zw_, zc_);
    ensure_tensor(gate_, {B, N, d}, dev), ensure_tensor(Hg_own_, {B, N, d}, dev);
    ops::sigmoid_forward(gate_, z_);
    ops::mul_forward(Hg_own_, gate_, H_);
    Hg_ = Hg_own_;
  }

  // dH += d/dH of h' = gate(h, s(h)) * h, given dHg = d loss / d h'; dlambda_ (soft gate) receives
  // the gradient of lambda.
  void ksg_backward(const Tensor<T>& dH, const Tensor<T>& dHg) {
    const int64_t B = B_, N = N_, d = d_;
    ops::mul_backward(dH, zeroed(dgate_, {B, N, d}), dHg, H_, gate_);
    ops::sigmoid_backward(zeroed(dz_, {B, N, d}), dgate_, gate_);
    ops::broadcast_add_backward(Tensor<T>(), zeroed(dzc_, {B, d}), dz_);
    gate_word_.backward(dH, dz_);
    gate_ctx_.backward(zeroed(ds_, {B, d}), dzc_);
    const bool soft = cfg_.gate == KeywordGate::soft;
    ops::weighted_mean_backward(dH, soft ? zeroed(dlambda_, {B, N}) : Tensor<T>(), ds_, H_, lambda_, s_, sden_);
  }

  IonConfig cfg_;
  int64_t d_;
  train::ParamStore<T> store_;
  nn::TransformerEncoder<T> encoder_;
  nn::Linear<T> keyword_, gate_word_, gate_ctx_;
  RegionEncoder<T> regions_;
  nn::Linear<T> sca_region_, sca_text_;
  FusionHead<T> head_;
  nn::Linear<T> out_;
  // Cache of the last forward (on the model's device) and its host side.
  int64_t B_ = 0, N_ = 0, R_ = 0;
  StagedBatch<T> db_;
  Tensor<T> H_, Hg_, Hg_own_, kw_logits_, kw_probs_, lambda_, s_, sden_, zw_, zc_, z_, gate_, hbar_, hden_, v_, a_, at_,
      za_, alpha_, w_, sel_, pooled_, f0_, f_, fnorm_;
  Tensor<int32_t> idx_, pos_, neg_;
  Tensor<uint8_t> kmask_;
  std::vector<int32_t> idx_host_;
  std::vector<T> alpha_host_, w_host_;
  std::vector<uint8_t> kmask_host_;
  T kw_loss_ = 0;
  // Backward scratch.
  Tensor<T> df_, df0_, dpooled_, dHg_, dsel_, dv_, dw_, dhbar_, dalpha_, dza_, dat_, dH_, dlogits_, dgate_, dz_, dzc_,
      ds_, dlambda_;
};

}  // namespace simad::models
