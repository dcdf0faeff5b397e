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
#include "simad/ops/cross_entropy.hpp"
#include "simad/ops/l2norm.hpp"
#include "simad/ops/softmax.hpp"
#include "simad/ops/topk_gather.hpp"
#include "simad/ops/triplet.hpp"
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
    encoder_.bind(store_), keyword_.bind(store_), gate_word_.bind(store_), gate_ctx_.bind(store_);
    regions_.bind(store_), sca_region_.bind(store_), sca_text_.bind(store_), head_.bind(store_), out_.bind(store_);
  }

  void init(Rng& rng) {
    encoder_.init(rng), keyword_.init(rng), gate_word_.init(rng), gate_ctx_.init(rng), regions_.init(rng);
    sca_region_.init(rng), sca_text_.init(rng), head_.init(rng), out_.init(rng);
  }

  train::ParamStore<T>& store() { return store_; }
  const IonConfig& config() const { return cfg_; }
  nlohmann::json config_json() const { return cfg_.to_json(); }
  int64_t embedding_dim() const { return cfg_.embedding_dim; }
  bool needs_pk_batches() const { return true; }

  // Forward with the loss (labels of the batch = its training classes). Caches for backward().
  LossTerms forward(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    run(b, training, drop);
    const int64_t B = b.B, N = b.N, E = cfg_.embedding_dim;
    LossTerms loss;
    labels_ = b.labels;
    T tri = 0;
    pos_.resize(size_t(B)), neg_.resize(size_t(B));
    ops::batch_hard_triplet_forward(&tri, pos_.data(), neg_.data(), &loss.skipped_anchors, f_.data(), labels_.data(),
                                    B, E, T(cfg_.margin), cfg_.distance);
    keywords_ = b.keyword;
    kw_loss_ = ops::cross_entropy_forward(kw_probs_.data(), kw_logits_.data(), keywords_.data(), B * N, 2, -1);
    loss.main = double(tri);
    loss.keyword = double(kw_loss_);
    loss.total = loss.main + cfg_.rho * loss.keyword;
    return loss;
  }

  // Gradients of the last forward's total loss, accumulated into the store.
  void backward() {
    const int64_t B = B_, N = N_, R = R_, K = cfg_.k2, d = d_, E = cfg_.embedding_dim;
    // f = normalise(out(pooled)); triplet on f.
    std::vector<T> df(size_t(B * E), T(0)), df0(size_t(B * E), T(0));
    ops::batch_hard_triplet_backward(df.data(), T(1), f_.data(), pos_.data(), neg_.data(), B, E, T(cfg_.margin),
                                     cfg_.distance);
    ops::l2norm_backward(df0.data(), df.data(), f_.data(), fnorm_.data(), B, E);
    std::vector<T> dpooled(size_t(B * head_.pooled_dim()), T(0));
    out_.backward(dpooled.data(), df0.data());
    std::vector<T> dHg(size_t(B * N * d), T(0)), dsel(size_t(B * K * d), T(0));
    head_.backward(dHg.data(), dsel.data(), dpooled.data());
    // Kept regions: v_sel = w * v[idx].
    std::vector<T> dv(size_t(B * R * d), T(0)), dw(size_t(B * K), T(0));
    const bool scaled = cfg_.ranking == RegionRanking::text && cfg_.scale_kept;
    ops::topk_gather_backward(dv.data(), scaled ? dw.data() : nullptr, dsel.data(), v_.data(),
                              scaled ? w_.data() : nullptr, idx_.data(), B, R, K, d);
    std::vector<T> dhbar(size_t(B * d), T(0));
    if (scaled) {  // alpha_j = sigmoid(a_j), a_j = w_v . v_j + b_v + w_o . h_bar
      std::vector<T> da(size_t(B * R), T(0)), da_text(size_t(B), T(0));
      for (int64_t i = 0; i < B; ++i)
        for (int64_t t = 0; t < K; ++t) {
          const int32_t j = idx_[size_t(i * K + t)];
          if (j < 0) continue;
          const T al = alpha_[size_t(i * R + j)];
          const T g = dw[size_t(i * K + t)] * al * (T(1) - al);
          da[size_t(i * R + j)] += g;
          da_text[size_t(i)] += g;
        }
      sca_region_.backward(dv.data(), da.data());
      sca_text_.backward(dhbar.data(), da_text.data());
    }
    regions_.backward(dv.data());
    // h_bar = masked mean of h'.
    masked_mean_backward(dHg.data(), dhbar.data(), count_, mask_.data(), B, N, d);
    std::vector<T> dH(size_t(B * N * d), T(0));
    if (cfg_.use_ksg) ksg_backward(dH, dHg);
    else dH = dHg;
    // Keyword head: rho * CE.
    std::vector<T> dlogits(size_t(B * N * 2), T(0));
    ops::cross_entropy_backward(dlogits.data(), T(cfg_.rho), kw_probs_.data(), keywords_.data(), B * N, 2, -1);
    if (cfg_.use_ksg && cfg_.gate == KeywordGate::soft) add_soft_gate_grad(dlogits);
    keyword_.backward(dH.data(), dlogits.data());
    encoder_.backward(nullptr, dH.data());
  }

  // out (B, embedding_dim) = f for each ad, in evaluation mode.
  void embed(const AdBatch<T>& b, T* out) {
    run(b, false, nullptr);
    std::copy(f_.begin(), f_.end(), out);
  }

  // After a forward: the kept regions (B, k2; -1 = empty slot) and their SCA scores alpha (B, R).
  const std::vector<int32_t>& kept_regions() const { return idx_; }
  const std::vector<T>& region_scores() const { return alpha_; }

 private:
  void run(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    const int64_t B = b.B, N = b.N, R = b.R, K = cfg_.k2, d = d_, E = cfg_.embedding_dim;
    B_ = B, N_ = N, R_ = R;
    mask_ = b.word_mask;
    H_.resize(size_t(B * N * d));
    encoder_.forward(H_.data(), b.words.data(), cfg_.encoder.pos_tag_count > 0 ? b.tags.data() : nullptr,
                     b.word_mask.data(), B, N, training, drop);
    kw_logits_.resize(size_t(B * N * 2)), kw_probs_.resize(size_t(B * N * 2));
    keyword_.forward(kw_logits_.data(), H_.data(), B * N);
    ops::softmax_forward(kw_probs_.data(), kw_logits_.data(), nullptr, B * N, 2);  // p_i for KSG
    Hg_ = H_;
    if (cfg_.use_ksg) ksg_forward();
    // h_bar = mean of h' over the words.
    hbar_.resize(size_t(B * d));
    masked_mean_forward(hbar_.data(), count_, Hg_.data(), mask_.data(), B, N, d);
    // Regions and SCA.
    v_.resize(size_t(B * R * d));
    regions_.forward(v_.data(), b);
    alpha_.assign(size_t(B * R), T(0));
    idx_.resize(size_t(B * K));
    if (cfg_.ranking == RegionRanking::text) {
      std::vector<T> a(static_cast<size_t>(B * R)), at(static_cast<size_t>(B));
      sca_region_.forward(a.data(), v_.data(), B * R);
      sca_text_.forward(at.data(), hbar_.data(), B);
      for (int64_t i = 0; i < B; ++i)
        for (int64_t j = 0; j < R; ++j)
          alpha_[size_t(i * R + j)] = ops::detail::activation_sigmoid(a[size_t(i * R + j)] + at[size_t(i)]);
    }
    select_regions(idx_.data(), cfg_.ranking, alpha_.data(), b, K);
    w_.assign(size_t(B * K), T(1));
    for (int64_t s = 0; s < B * K; ++s)
      if (idx_[size_t(s)] >= 0 && cfg_.ranking == RegionRanking::text && cfg_.scale_kept)
        w_[size_t(s)] = alpha_[size_t((s / K) * R + idx_[size_t(s)])];
    std::vector<T> sel(size_t(B * K * d));
    ops::topk_gather_forward(sel.data(), v_.data(), w_.data(), idx_.data(), B, R, K, d);
    std::vector<uint8_t> kmask(size_t(B * K));
    ops::topk_slot_mask(kmask.data(), idx_.data(), B, K);
    // DFA and the embedding.
    std::vector<T> pooled(size_t(B * head_.pooled_dim()));
    head_.forward(pooled.data(), Hg_.data(), mask_.data(), sel.data(), kmask.data(), B, N, K);
    f0_.resize(size_t(B * E)), f_.resize(size_t(B * E)), fnorm_.resize(size_t(B));
    out_.forward(f0_.data(), pooled.data(), B);
    ops::l2norm_forward(f_.data(), fnorm_.data(), f0_.data(), B, E);
  }

  // KSG (eq. 1-4) on H_ -> Hg_.
  void ksg_forward() {
    const int64_t B = B_, N = N_, d = d_;
    lambda_.assign(size_t(B * N), T(0));
    s_.assign(size_t(B * d), T(0));
    den_.assign(size_t(B), T(1));
    for (int64_t i = 0; i < B; ++i) {
      T L = 0;
      for (int64_t t = 0; t < N; ++t) {
        if (!mask_[size_t(i * N + t)]) continue;
        const T p = kw_probs_[size_t((i * N + t) * 2 + 1)];
        const T l = cfg_.gate == KeywordGate::hard ? (p > T(0.5) ? T(1) : T(0)) : p;
        lambda_[size_t(i * N + t)] = l;
        L += l;
        for (int64_t c = 0; c < d; ++c) s_[size_t(i * d + c)] += l * H_[size_t((i * N + t) * d + c)];
      }
      den_[size_t(i)] = std::max(T(1), L);
      for (int64_t c = 0; c < d; ++c) s_[size_t(i * d + c)] /= den_[size_t(i)];
    }
    std::vector<T> zw(size_t(B * N * d)), zc(size_t(B * d));
    gate_word_.forward(zw.data(), H_.data(), B * N);
    gate_ctx_.forward(zc.data(), s_.data(), B);
    gate_.resize(size_t(B * N * d));
    for (int64_t i = 0; i < B; ++i)
      for (int64_t t = 0; t < N; ++t)
        for (int64_t c = 0; c < d; ++c) {
          const size_t k = size_t((i * N + t) * d + c);
          gate_[k] = ops::detail::activation_sigmoid(zw[k] + zc[size_t(i * d + c)]);
          Hg_[k] = gate_[k] * H_[k];
        }
  }

  // dH += d/dH of h' = gate(h, s(h)) * h, given dHg = d loss / d h'.
  void ksg_backward(std::vector<T>& dH, const std::vector<T>& dHg) {
    const int64_t B = B_, N = N_, d = d_;
    std::vector<T> dz(size_t(B * N * d)), dzc(size_t(B * d), T(0));
    for (int64_t i = 0; i < B; ++i)
      for (int64_t t = 0; t < N; ++t)
        for (int64_t c = 0; c < d; ++c) {
          const size_t k = size_t((i * N + t) * d + c);
          dH[k] += dHg[k] * gate_[k];
          dz[k] = dHg[k] * H_[k] * gate_[k] * (T(1) - gate_[k]);
          dzc[size_t(i * d + c)] += dz[k];
        }
    gate_word_.backward(dH.data(), dz.data());
    ds_.assign(size_t(B * d), T(0));
    gate_ctx_.backward(ds_.data(), dzc.data());
    // s = sum lambda_i h_i / den.
    for (int64_t i = 0; i < B; ++i)
      for (int64_t t = 0; t < N; ++t) {
        const T l = lambda_[size_t(i * N + t)];
        if (l == T(0)) continue;
        for (int64_t c = 0; c < d; ++c) dH[size_t((i * N + t) * d + c)] += l * ds_[size_t(i * d + c)] / den_[size_t(i)];
      }
  }

  // Soft gate: lambda_i = p_i(keyword) also carries gradient into the keyword logits.
  void add_soft_gate_grad(std::vector<T>& dlogits) const {
    const int64_t B = B_, N = N_, d = d_;
    for (int64_t i = 0; i < B; ++i) {
      T L = 0;
      for (int64_t t = 0; t < N; ++t) L += lambda_[size_t(i * N + t)];
      for (int64_t t = 0; t < N; ++t) {
        if (!mask_[size_t(i * N + t)]) continue;
        // ds/dlambda_t = (h_t - s) / L when L > 1 (den = L), h_t when L <= 1 (den = 1).
        T dl = 0;
        for (int64_t c = 0; c < d; ++c) {
          const T h = H_[size_t((i * N + t) * d + c)], s = s_[size_t(i * d + c)];
          dl += ds_[size_t(i * d + c)] * (L > T(1) ? (h - s) / L : h);
        }
        const T p = kw_probs_[size_t((i * N + t) * 2 + 1)];
        const T g = dl * p * (T(1) - p);  // d p1 / d logit1 = p(1-p), / d logit0 = -p(1-p)
        dlogits[size_t((i * N + t) * 2 + 1)] += g;
        dlogits[size_t((i * N + t) * 2)] -= g;
      }
    }
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
  // Cache of the last forward.
  int64_t B_ = 0, N_ = 0, R_ = 0;
  std::vector<uint8_t> mask_;
  std::vector<T> H_, Hg_, kw_logits_, kw_probs_, lambda_, s_, ds_, den_, gate_, hbar_, v_, alpha_, w_, f0_, f_, fnorm_;
  std::vector<int64_t> count_;
  std::vector<int32_t> idx_, labels_, pos_, neg_, keywords_;
  T kw_loss_ = 0;
};

}  // namespace simad::models
