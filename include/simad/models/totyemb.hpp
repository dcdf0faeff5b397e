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
#include "simad/ops/activation.hpp"
#include "simad/ops/cross_entropy.hpp"
#include "simad/ops/softmax.hpp"
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
    encoder_.bind(store_), pointer_.bind(store_), pointer_u_.bind(store_), context_.bind(store_);
    regions_.bind(store_), rank_region_.bind(store_), rank_context_.bind(store_), head_.bind(store_);
    emb_.bind(store_), cls_.bind(store_);
  }

  void init(Rng& rng) {
    encoder_.init(rng), pointer_.init(rng), pointer_u_.init(rng), context_.init(rng), regions_.init(rng);
    rank_region_.init(rng), rank_context_.init(rng), head_.init(rng), emb_.init(rng), cls_.init(rng);
  }

  train::ParamStore<T>& store() { return store_; }
  nn::TransformerEncoder<T>& encoder() { return encoder_; }
  const TotyembConfig& config() const { return cfg_; }
  nlohmann::json config_json() const { return cfg_.to_json(); }
  int64_t embedding_dim() const { return cfg_.embedding_dim; }
  bool needs_pk_batches() const { return false; }

  LossTerms forward(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    run(b, training, drop);
    const int64_t B = b.B, C = cfg_.num_classes;
    labels_ = b.labels;
    for (int32_t l : labels_)
      SIMAD_CHECK(l >= -1 && l < C, "ToTYEmb: label ", l, " outside the model's ", C, " classes");
    probs_.resize(size_t(B * C));
    LossTerms loss;
    loss.main = double(ops::cross_entropy_forward(probs_.data(), logits_.data(), labels_.data(), B, C, -1));
    loss.total = loss.main;
    for (int64_t i = 0; i < B; ++i) {
      const T* p = probs_.data() + i * C;
      loss.correct += labels_[size_t(i)] >= 0 && std::max_element(p, p + C) - p == labels_[size_t(i)];
    }
    return loss;
  }

  void backward() {
    const int64_t B = B_, N = N_, R = R_, K = cfg_.K, d = d_, C = cfg_.num_classes, E = cfg_.embedding_dim;
    std::vector<T> dlogits(size_t(B * C), T(0)), dob(size_t(B * E), T(0));
    ops::cross_entropy_backward(dlogits.data(), T(1), probs_.data(), labels_.data(), B, C, -1);
    cls_.backward(dob.data(), dlogits.data());
    std::vector<T> dpooled(size_t(B * head_.pooled_dim()), T(0));
    emb_.backward(dpooled.data(), dob.data());
    std::vector<T> dH(size_t(B * N * d), T(0)), dsel(size_t(B * K * d), T(0));
    head_.backward(dH.data(), dsel.data(), dpooled.data());
    // Kept regions: sel = w * r[idx], w = n softmax(g kept).
    std::vector<T> dr(size_t(B * R * d), T(0)), dw(size_t(B * K), T(0));
    const bool scaled = cfg_.ranking == RegionRanking::text && cfg_.scale_kept;
    ops::topk_gather_backward(dr.data(), scaled ? dw.data() : nullptr, dsel.data(), r_.data(),
                              scaled ? w_.data() : nullptr, idx_.data(), B, R, K, d);
    std::vector<T> dc(size_t(B * d), T(0));
    if (cfg_.ranking == RegionRanking::text && scaled) {
      std::vector<T> dgz(size_t(B * R), T(0)), dgz_ctx(size_t(B), T(0));
      for (int64_t i = 0; i < B; ++i) {
        // w_t = n s_t, s = softmax over the kept g: dg_t = n s_t (dw_t - sum_u s_u dw_u).
        T n = 0, dot = 0;
        for (int64_t t = 0; t < K; ++t)
          if (idx_[size_t(i * K + t)] >= 0) ++n, dot += sm_[size_t(i * K + t)] * dw[size_t(i * K + t)];
        for (int64_t t = 0; t < K; ++t) {
          const int32_t j = idx_[size_t(i * K + t)];
          if (j < 0) continue;
          const T dg = n * sm_[size_t(i * K + t)] * (dw[size_t(i * K + t)] - dot);
          const T g = g_[size_t(i * R + j)];
          const T dz = dg * (T(1) - g * g);  // tanh'
          dgz[size_t(i * R + j)] += dz;
          dgz_ctx[size_t(i)] += dz;
        }
      }
      rank_region_.backward(dr.data(), dgz.data());
      rank_context_.backward(dc.data(), dgz_ctx.data());
    }
    regions_.backward(dr.data());
    // c = sum_i b_i u_i, b = softmax(w_u . u_i).
    const int64_t P = P_;
    std::vector<T> dU(size_t(B * P * d), T(0)), db(size_t(B * P), T(0)), dz(size_t(B * P), T(0));
    for (int64_t i = 0; i < B; ++i)
      for (int64_t t = 0; t < P; ++t) {
        const T bt = ctx_b_[size_t(i * P + t)];
        T dot = 0;
        for (int64_t c = 0; c < d; ++c) {
          dU[size_t((i * P + t) * d + c)] += bt * dc[size_t(i * d + c)];
          dot += dc[size_t(i * d + c)] * U_[size_t((i * P + t) * d + c)];
        }
        db[size_t(i * P + t)] = dot;
      }
    ops::softmax_backward(dz.data(), db.data(), ctx_b_.data(), B, P);
    context_.backward(dU.data(), dz.data());
    if (cfg_.use_pointer) {
      std::vector<T> dwp(size_t(B * P), T(0)), da(size_t(B * N), T(0)), de(size_t(B * N), T(0));
      ops::topk_gather_backward(dH.data(), cfg_.scale_pointer ? dwp.data() : nullptr, dU.data(), H_.data(),
                                cfg_.scale_pointer ? pw_.data() : nullptr, pidx_.data(), B, N, P, d);
      if (cfg_.scale_pointer) {
        for (int64_t s = 0; s < B * P; ++s)
          if (pidx_[size_t(s)] >= 0) da[size_t((s / P) * N + pidx_[size_t(s)])] += dwp[size_t(s)];
        ops::softmax_backward(de.data(), da.data(), pa_.data(), B, N);
        std::vector<T> dv(size_t(B * N * d), T(0)), dzv(size_t(B * N * d), T(0));
        pointer_u_.backward(dv.data(), de.data());
        ops::tanh_backward(dzv.data(), dv.data(), pv_.data(), B * N * d);
        pointer_.backward(dH.data(), dzv.data());
      }
    } else {
      for (size_t k = 0; k < dU.size(); ++k) dH[k] += dU[k];
    }
    encoder_.backward(nullptr, dH.data());
  }

  // out (B, embedding_dim) = o for each ad, in evaluation mode.
  void embed(const AdBatch<T>& b, T* out) {
    run(b, false, nullptr);
    std::copy(o_.begin(), o_.end(), out);
  }
  // After a forward: class logits (B, num_classes), kept regions (B, K) and their scores g (B, R).
  const std::vector<T>& logits() const { return logits_; }
  const std::vector<int32_t>& kept_regions() const { return idx_; }
  const std::vector<T>& region_scores() const { return g_; }

 private:
  void run(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    const int64_t B = b.B, N = b.N, R = b.R, K = cfg_.K, d = d_;
    B_ = B, N_ = N, R_ = R;
    H_.resize(size_t(B * N * d));
    encoder_.forward(H_.data(), b.words.data(), cfg_.encoder.pos_tag_count > 0 ? b.tags.data() : nullptr,
                     b.word_mask.data(), B, N, training, drop);
    // Pointer (eq. 6-8): U (B, P, d), its mask.
    std::vector<uint8_t> umask;
    if (cfg_.use_pointer) {
      const int64_t P = cfg_.kp;
      P_ = P;
      std::vector<T> z(size_t(B * N * d)), e(size_t(B * N));
      pv_.resize(size_t(B * N * d));
      pointer_.forward(z.data(), H_.data(), B * N);
      ops::tanh_forward(pv_.data(), z.data(), B * N * d);
      pointer_u_.forward(e.data(), pv_.data(), B * N);
      pa_.resize(size_t(B * N));
      ops::softmax_forward(pa_.data(), e.data(), b.word_mask.data(), B, N);
      pidx_.resize(size_t(B * P));
      ops::topk_select(pidx_.data(), pa_.data(), b.word_mask.data(), B, N, P);
      pw_.assign(size_t(B * P), T(1));
      for (int64_t s = 0; s < B * P; ++s)
        if (pidx_[size_t(s)] >= 0) pw_[size_t(s)] = pa_[size_t((s / P) * N + pidx_[size_t(s)])];
      U_.resize(size_t(B * P * d));
      ops::topk_gather_forward(U_.data(), H_.data(), cfg_.scale_pointer ? pw_.data() : nullptr, pidx_.data(), B, N,
                               P, d);
      umask.resize(size_t(B * P));
      ops::topk_slot_mask(umask.data(), pidx_.data(), B, P);
    } else {
      P_ = N;
      U_ = H_;
      umask = b.word_mask;
    }
    // Context (eq. 9-10).
    const int64_t P = P_;
    std::vector<T> zu(size_t(B * P));
    context_.forward(zu.data(), U_.data(), B * P);
    ctx_b_.resize(size_t(B * P));
    ops::softmax_forward(ctx_b_.data(), zu.data(), umask.data(), B, P);
    std::vector<T> c(size_t(B * d), T(0));
    for (int64_t i = 0; i < B; ++i)
      for (int64_t t = 0; t < P; ++t)
        for (int64_t k = 0; k < d; ++k) c[size_t(i * d + k)] += ctx_b_[size_t(i * P + t)] * U_[size_t((i * P + t) * d + k)];
    // Regions and text-guided ranking (eq. 11).
    r_.resize(size_t(B * R * d));
    regions_.forward(r_.data(), b);
    g_.assign(size_t(B * R), T(0));
    if (cfg_.ranking == RegionRanking::text) {
      std::vector<T> gr(static_cast<size_t>(B * R)), gc(static_cast<size_t>(B));
      rank_region_.forward(gr.data(), r_.data(), B * R);
      rank_context_.forward(gc.data(), c.data(), B);
      for (int64_t i = 0; i < B; ++i)
        for (int64_t j = 0; j < R; ++j) g_[size_t(i * R + j)] = std::tanh(gr[size_t(i * R + j)] + gc[size_t(i)]);
    }
    idx_.resize(size_t(B * K));
    select_regions(idx_.data(), cfg_.ranking, g_.data(), b, K);
    w_.assign(size_t(B * K), T(1));
    sm_.assign(size_t(B * K), T(0));
    if (cfg_.ranking == RegionRanking::text && cfg_.scale_kept)
      for (int64_t i = 0; i < B; ++i) {
        T mx = -std::numeric_limits<T>::infinity(), sum = 0, n = 0;
        for (int64_t t = 0; t < K; ++t)
          if (idx_[size_t(i * K + t)] >= 0) mx = std::max(mx, g_[size_t(i * R + idx_[size_t(i * K + t)])]), ++n;
        for (int64_t t = 0; t < K; ++t)
          if (idx_[size_t(i * K + t)] >= 0) sum += (sm_[size_t(i * K + t)] = std::exp(g_[size_t(i * R + idx_[size_t(i * K + t)])] - mx));
        for (int64_t t = 0; t < K; ++t)
          if (idx_[size_t(i * K + t)] >= 0) sm_[size_t(i * K + t)] /= sum, w_[size_t(i * K + t)] = n * sm_[size_t(i * K + t)];
      }
    std::vector<T> sel(size_t(B * K * d));
    ops::topk_gather_forward(sel.data(), r_.data(), w_.data(), idx_.data(), B, R, K, d);
    std::vector<uint8_t> kmask(size_t(B * K));
    ops::topk_slot_mask(kmask.data(), idx_.data(), B, K);
    // Fusion (eq. 12-18), embedding and classifier (eq. 19-20).
    std::vector<T> pooled(size_t(B * head_.pooled_dim()));
    head_.forward(pooled.data(), H_.data(), b.word_mask.data(), sel.data(), kmask.data(), B, N, K);
    o_.resize(size_t(B * cfg_.embedding_dim));
    emb_.forward(o_.data(), pooled.data(), B);
    logits_.resize(size_t(B * cfg_.num_classes));
    cls_.forward(logits_.data(), o_.data(), B);
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
  int64_t B_ = 0, N_ = 0, R_ = 0, P_ = 0;
  std::vector<T> H_, pv_, pa_, pw_, U_, ctx_b_, r_, g_, w_, sm_, o_, logits_, probs_;
  std::vector<int32_t> pidx_, idx_, labels_;
};

}  // namespace simad::models
