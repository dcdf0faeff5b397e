// simad/models/text_pretrain.hpp: ToTYEmb's text pre-training (thesis 3.1; MODELS.md "ToTYEmb" 9).
// The encoder reads each word with its POS tag as an extra input embedding; 15% of the real
// positions have their tag replaced by [MASK], and the encoder must predict it back (a) while the
// masked mean of H predicts the ad's coarse industry (b), where the ad has one:
//   loss = CE(tag head(h_t), tag_t over masked t) + industry_weight * CE(industry head(mean_t h_t), industry)
// It satisfies the trainer's model interface (train::train runs it like the models); afterwards
// copy_encoder_to() puts the encoder's weights into a ToTYEmb (same "encoder." names and shapes).
// Masks are drawn from the trainer's dropout stream (so a resumed run masks the same positions);
// evaluation (no stream) uses a fixed stream, so validation losses compare across epochs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/models/batch.hpp"
#include "simad/models/common.hpp"
#include "simad/models/model_config.hpp"
#include "simad/nn/linear.hpp"
#include "simad/nn/transformer.hpp"
#include "simad/ops/cross_entropy.hpp"
#include "simad/ops/weighted_mean.hpp"
#include "simad/text/vocab.hpp"
#include "simad/train/param_store.hpp"

namespace simad::models {

struct TextPretrainConfig {
  nn::TransformerConfig encoder;  // pos_tag_count > 0: the tags are an input
  int64_t num_industries = 0;     // 0: no industry objective
  double mask_rate = 0.15;
  double industry_weight = 1.0;

  void validate() const {
    encoder.validate();
    SIMAD_CHECK(encoder.vocab_size > 0 && encoder.pos_tag_count > text::Vocab::kMask,
                "text pre-training: needs a word vocabulary and a POS-tag vocabulary (pos_tag_count > 4)");
    SIMAD_CHECK(mask_rate > 0 && mask_rate < 1 && num_industries >= 0 && industry_weight >= 0,
                "text pre-training: mask_rate in (0, 1), num_industries and industry_weight >= 0");
  }
  nlohmann::json to_json() const {
    return {{"kind", "text_pretrain"}, {"encoder", encoder_to_json(encoder)}, {"num_industries", num_industries},
            {"mask_rate", mask_rate}, {"industry_weight", industry_weight}};
  }
};

template <typename T>
class TextPretrainer {
 public:
  using value_type = T;
  static constexpr const char* kind() { return "text_pretrain"; }

  explicit TextPretrainer(const TextPretrainConfig& cfg)
      : cfg_((cfg.validate(), cfg)), d_(cfg.encoder.d_model), encoder_(store_, "encoder.", cfg.encoder),
        tag_head_(store_, "pretrain.tag.", d_, cfg.encoder.pos_tag_count),
        industry_head_(store_, "pretrain.industry.", d_, std::max<int64_t>(cfg.num_industries, 1)) {
    store_.allocate();
    encoder_.bind(store_), tag_head_.bind(store_), industry_head_.bind(store_);
  }

  void init(Rng& rng) { encoder_.init(rng), tag_head_.init(rng), industry_head_.init(rng); }
  train::ParamStore<T>& store() { return store_; }
  nlohmann::json config_json() const { return cfg_.to_json(); }
  int64_t embedding_dim() const { return d_; }
  bool needs_pk_batches() const { return false; }

  LossTerms forward(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    const int64_t B = b.B, N = b.N, d = d_, M = B * N, tags = cfg_.encoder.pos_tag_count;
    B_ = B, N_ = N;
    // Mask: position i is masked when its draw < mask_rate.
    const Rng fixed(0x7E47u, 0x9A5Cu);
    const Rng& rng = drop && drop->rng ? *drop->rng : fixed;
    const uint64_t base = drop && drop->rng ? drop->offset : 0;
    if (drop && drop->rng) drop->offset += uint64_t(M);
    std::vector<int32_t> input = b.tags;
    targets_.assign(size_t(M), -1);
    for (int64_t i = 0; i < M; ++i)
      if (b.word_mask[size_t(i)] && rng.uniform_at(base + uint64_t(i)) < cfg_.mask_rate) {
        targets_[size_t(i)] = b.tags[size_t(i)];
        input[size_t(i)] = text::Vocab::kMask;
      }
    H_.resize(size_t(M * d));
    encoder_.forward(H_.data(), b.words.data(), input.data(), b.word_mask.data(), B, N, training, drop);
    logits_.resize(size_t(M * tags)), probs_.resize(size_t(M * tags));
    tag_head_.forward(logits_.data(), H_.data(), M);
    LossTerms loss;
    loss.main = double(ops::cross_entropy_forward(probs_.data(), logits_.data(), targets_.data(), M, tags, -1));
    // Industry from the masked mean of H.
    mean_.resize(size_t(B * d)), den_.resize(size_t(B));
    weights_ = word_weights(b);
    ops::weighted_mean_forward(mean_.data(), den_.data(), H_.data(), weights_.data(), B, N, d);
    industries_.assign(size_t(B), -1);
    if (cfg_.num_industries > 0)
      for (int64_t i = 0; i < B; ++i)
        if (b.industries[size_t(i)] >= 0 && b.industries[size_t(i)] < cfg_.num_industries &&
            std::any_of(weights_.begin() + i * N, weights_.begin() + (i + 1) * N, [](T w) { return w != T(0); }))
          industries_[size_t(i)] = b.industries[size_t(i)];
    const int64_t I = industry_head_.out_features();
    ilogits_.resize(size_t(B * I)), iprobs_.resize(size_t(B * I));
    industry_head_.forward(ilogits_.data(), mean_.data(), B);
    const double industry = double(ops::cross_entropy_forward(iprobs_.data(), ilogits_.data(), industries_.data(), B, I, -1));
    loss.total = loss.main + cfg_.industry_weight * industry;
    return loss;
  }

  void backward() {
    const int64_t B = B_, N = N_, d = d_, M = B * N, tags = cfg_.encoder.pos_tag_count;
    const int64_t I = industry_head_.out_features();
    std::vector<T> dlogits(size_t(M * tags), T(0)), dH(size_t(M * d), T(0)), dil(size_t(B * I), T(0)),
        dmean(size_t(B * d), T(0));
    ops::cross_entropy_backward(dlogits.data(), T(1), probs_.data(), targets_.data(), M, tags, -1);
    tag_head_.backward(dH.data(), dlogits.data());
    ops::cross_entropy_backward(dil.data(), T(cfg_.industry_weight), iprobs_.data(), industries_.data(), B, I, -1);
    industry_head_.backward(dmean.data(), dil.data());
    ops::weighted_mean_backward(dH.data(), static_cast<T*>(nullptr), dmean.data(), H_.data(), weights_.data(),
                                mean_.data(), den_.data(), B, N, d);
    encoder_.backward(nullptr, dH.data());
  }

  // out (B, d): the masked mean of H with every tag visible (evaluation mode).
  void embed(const AdBatch<T>& b, T* out) {
    const int64_t B = b.B, N = b.N, d = d_;
    std::vector<T> H(size_t(B * N * d));
    encoder_.forward(H.data(), b.words.data(), b.tags.data(), b.word_mask.data(), B, N, false, nullptr);
    const std::vector<T> w = word_weights(b);
    std::vector<T> den(static_cast<size_t>(B));
    ops::weighted_mean_forward(out, den.data(), H.data(), w.data(), B, N, d);
  }

  // Copies every "encoder." slice into `dst` (a ToTYEmb's store); shapes must agree.
  void copy_encoder_to(const train::ParamStore<T>& dst) const {
    int64_t copied = 0;
    for (const train::ParamSlice& s : store_) {
      if (s.name.rfind("encoder.", 0) != 0) continue;
      SIMAD_CHECK(dst.contains(s.name), "text pre-training: the target model has no parameter '", s.name, "'");
      const Tensor<T> to = dst.param(s.name);
      SIMAD_CHECK(to.shape() == s.shape, "text pre-training: '", s.name, "' is ", s.shape, " here but ", to.shape(),
                  " in the target model");
      const Tensor<T> from = store_.param(s.name);
      std::copy(from.data(), from.data() + s.numel, to.data());
      ++copied;
    }
    SIMAD_CHECK(copied > 0, "text pre-training: no encoder parameter to copy");
  }

 private:
  TextPretrainConfig cfg_;
  int64_t d_;
  train::ParamStore<T> store_;
  nn::TransformerEncoder<T> encoder_;
  nn::Linear<T> tag_head_, industry_head_;
  int64_t B_ = 0, N_ = 0;
  std::vector<T> H_, logits_, probs_, mean_, ilogits_, iprobs_;
  std::vector<int32_t> targets_, industries_;
  std::vector<T> weights_, den_;  // the word mask as weights, the mean's divisors
};

}  // namespace simad::models
