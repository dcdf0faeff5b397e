// simad/nn/transformer.hpp: the Transformer encoder of both models' text side (MODELS.md "Shared
// parts"): word embedding (+ optional POS-tag embedding, ToTYEmb's pre-training input) + sinusoidal
// positions, then L post-norm encoder layers ("Attention Is All You Need", section 3.1), forward and
// backward, parameters in a flat train::ParamStore.
//
// One layer, on rows x (B N, d), post-norm exactly as PyTorch's nn.TransformerEncoderLayer with
// norm_first=False:
//   qkv = x W_in^T + b_in;  a = attention(qkv, mask);  x1 = norm1(x + dropout1(a W_o^T + b_o))
//   out = norm2(x1 + dropout2(linear2(dropout(act(linear1(x1))))))        act = ReLU or GELU (exact erf)
// Dropout is the residual dropout of the paper (dropout1, dropout2) and the FFN's (dropout); PyTorch's
// extra dropout on the attention weights is not applied (the attention op is fused: no weight matrix
// exists to drop). In evaluation (training = false) every dropout is the identity, as in PyTorch.
// Padding: mask (B, N), 1 = token, 0 = padding (PyTorch's src_key_padding_mask is its negation).
// Padded keys get no attention weight; padded rows are still computed (they attend to the real
// tokens, like PyTorch's reference path; its "fast path" in eval mode writes zeros there instead) and
// a caller must ignore them (the models mask every pooling and loss).
//
// Parameter names (PyTorch's, so a state_dict of nn.TransformerEncoder saved as safetensors loads
// with io::safetensors::load(path, store)); with prefix P and layer l:
//   P layers.l.self_attn.in_proj_weight (3d, d)   rows: W_q | W_k | W_v      P layers.l.self_attn.in_proj_bias (3d)
//   P layers.l.self_attn.out_proj.weight (d, d)   P layers.l.self_attn.out_proj.bias (d)
//   P layers.l.linear1.weight (F, d)  .bias (F)   P layers.l.linear2.weight (d, F)  .bias (d)
//   P layers.l.norm1.weight (d) .bias (d)         P layers.l.norm2.weight (d) .bias (d)
//   P embedding.word.weight (V, d)                P embedding.pos_tag.weight (tags, d)   (simad's own)
// Embedding: x_i = s (E_word[w_i] + E_tag[t_i]) + PE_i, s = sqrt(d) when scale_embedding (paper 3.4),
// then dropout.
//
// Usage: construct the modules on a ParamStore (declares the slices), store.allocate(), bind(store)
// (takes views of the slices), init(rng) or load weights; forward() caches what backward() needs;
// backward() ACCUMULATES into the store's gradients and into dinp.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/nn/positional_encoding.hpp"
#include "simad/ops/activation.hpp"
#include "simad/ops/attention.hpp"
#include "simad/ops/dropout.hpp"
#include "simad/ops/embedding.hpp"
#include "simad/ops/layernorm.hpp"
#include "simad/ops/linear.hpp"
#include "simad/train/param_store.hpp"

namespace simad::nn {

enum class FfnActivation { relu, gelu };

struct TransformerConfig {
  int64_t d_model = 128;
  int64_t num_heads = 4;
  int64_t ffn_dim = 512;
  int64_t num_layers = 1;
  FfnActivation activation = FfnActivation::relu;
  double dropout = 0.1;           // in [0, 1)
  double layernorm_eps = 1e-5;    // PyTorch's default
  int64_t vocab_size = 0;         // word embedding rows; 0: no embedding (forward_vectors only)
  int64_t pos_tag_count = 0;      // POS-tag embedding rows; 0: none
  bool scale_embedding = true;    // multiply the embeddings by sqrt(d_model)

  void validate() const {
    SIMAD_CHECK(d_model >= 1 && num_heads >= 1 && d_model % num_heads == 0, "TransformerConfig: num_heads=",
                num_heads, " must divide d_model=", d_model);
    SIMAD_CHECK(ffn_dim >= 1 && num_layers >= 0, "TransformerConfig: ffn_dim=", ffn_dim, " num_layers=", num_layers);
    SIMAD_CHECK(dropout >= 0.0 && dropout < 1.0, "TransformerConfig: dropout must lie in [0, 1), got ", dropout);
    SIMAD_CHECK(layernorm_eps > 0.0, "TransformerConfig: layernorm_eps must be > 0");
    SIMAD_CHECK(vocab_size >= 0 && pos_tag_count >= 0, "TransformerConfig: negative vocabulary size");
  }
};

// Where dropout draws its randomness: the generator and the next unused stream position. Each
// forward in training mode consumes positions and advances offset (ops/dropout.hpp: masks are a
// pure function of (rng, position), so they do not depend on the thread count).
struct DropoutStream {
  const Rng* rng = nullptr;
  uint64_t offset = 0;
};

// ------------------------------------------------------------------------------------------------
// One encoder layer

template <typename T>
class TransformerEncoderLayer {
 public:
  TransformerEncoderLayer(train::ParamStore<T>& store, const std::string& prefix, const TransformerConfig& cfg)
      : cfg_(cfg), prefix_(prefix) {
    cfg_.validate();
    const int64_t d = cfg_.d_model, F = cfg_.ffn_dim;
    const std::pair<const char*, Shape> slices[kNumParams] = {
        {"self_attn.in_proj_weight", {3 * d, d}}, {"self_attn.in_proj_bias", {3 * d}},
        {"self_attn.out_proj.weight", {d, d}},    {"self_attn.out_proj.bias", {d}},
        {"linear1.weight", {F, d}},               {"linear1.bias", {F}},
        {"linear2.weight", {d, F}},               {"linear2.bias", {d}},
        {"norm1.weight", {d}},                    {"norm1.bias", {d}},
        {"norm2.weight", {d}},                    {"norm2.bias", {d}}};
    for (int k = 0; k < kNumParams; ++k) store.add(prefix + slices[k].first, slices[k].second);
  }

  // Takes views of the layer's slices (after store.allocate()); they stay valid if the store moves.
  void bind(const train::ParamStore<T>& store) {
    for (int k = 0; k < kNumParams; ++k) {
      const std::string name = prefix_ + kNames[k];
      p_[k] = store.param(name);
      g_[k] = store.grad(name);
    }
    bound_ = true;
  }

  // PyTorch's initialisation: in_proj Xavier-uniform, attention biases 0, out_proj and linear1/2
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt 5, and their biases alike),
  // layer norms weight 1, bias 0.
  void init(Rng& rng) const {
    check_bound();
    const double d = double(cfg_.d_model), F = double(cfg_.ffn_dim);
    const double xavier = std::sqrt(6.0 / (d + 3.0 * d));
    rng.fill_uniform(p_[kInW].span(), -xavier, xavier);
    p_[kInB].fill(T(0));
    rng.fill_uniform(p_[kOutW].span(), -1.0 / std::sqrt(d), 1.0 / std::sqrt(d));
    p_[kOutB].fill(T(0));
    rng.fill_uniform(p_[kL1W].span(), -1.0 / std::sqrt(d), 1.0 / std::sqrt(d));
    rng.fill_uniform(p_[kL1B].span(), -1.0 / std::sqrt(d), 1.0 / std::sqrt(d));
    rng.fill_uniform(p_[kL2W].span(), -1.0 / std::sqrt(F), 1.0 / std::sqrt(F));
    rng.fill_uniform(p_[kL2B].span(), -1.0 / std::sqrt(F), 1.0 / std::sqrt(F));
    for (int k : {kN1W, kN2W}) p_[k].fill(T(1));
    for (int k : {kN1B, kN2B}) p_[k].fill(T(0));
  }

  // out (B, N, d) = the layer applied to inp (B, N, d); out may alias inp. Caches for backward().
  // drop is required when training with dropout > 0.
  void forward(T* out, const T* inp, const uint8_t* mask, int64_t B, int64_t N, bool training,
               DropoutStream* drop = nullptr) {
    check_bound();
    SIMAD_CHECK(B >= 0 && N >= 0, "TransformerEncoderLayer '", prefix_, "': negative size B=", B, " N=", N);
    const int64_t d = cfg_.d_model, F = cfg_.ffn_dim, M = B * N;
    const T p = training ? T(cfg_.dropout) : T(0);
    SIMAD_CHECK(p == T(0) || (drop && drop->rng), "TransformerEncoderLayer '", prefix_,
                "': training with dropout needs a DropoutStream");
    B_ = B, N_ = N, p_drop_ = p;
    auto sized = [](std::vector<T>& v, int64_t n) { v.resize(size_t(n)); };
    sized(inp_, M * d), sized(qkv_, M * 3 * d), sized(att_, M * d), sized(lse_, B * cfg_.num_heads * N);
    sized(proj_, M * d), sized(r1_, M * d), sized(x1_, M * d), sized(h_, M * F), sized(act_, M * F);
    sized(f_, M * d), sized(r2_, M * d), sized(mean1_, M), sized(rstd1_, M), sized(mean2_, M), sized(rstd2_, M);
    keep1_.resize(size_t(M * d)), keep_act_.resize(size_t(M * F)), keep2_.resize(size_t(M * d));
    mask_.assign(mask ? mask : nullptr, mask ? mask + M : nullptr);
    if (M == 0) return;
    std::copy(inp, inp + M * d, inp_.data());
    const uint8_t* m = mask_.empty() ? nullptr : mask_.data();
    // Self-attention block.
    ops::linear_forward(qkv_.data(), inp_.data(), p_[kInW].data(), p_[kInB].data(), M, d, 3 * d);
    ops::attention_forward(att_.data(), lse_.data(), qkv_.data(), m, B, N, d, cfg_.num_heads);
    ops::linear_forward(proj_.data(), att_.data(), p_[kOutW].data(), p_[kOutB].data(), M, d, d);
    dropout(proj_.data(), keep1_.data(), M * d, drop);
    for (int64_t i = 0; i < M * d; ++i) r1_[size_t(i)] = inp_[size_t(i)] + proj_[size_t(i)];
    ops::layernorm_forward(x1_.data(), mean1_.data(), rstd1_.data(), r1_.data(), p_[kN1W].data(), p_[kN1B].data(), M,
                           d, T(cfg_.layernorm_eps));
    // Feed-forward block.
    ops::linear_forward(h_.data(), x1_.data(), p_[kL1W].data(), p_[kL1B].data(), M, d, F);
    if (cfg_.activation == FfnActivation::relu) ops::relu_forward(act_.data(), h_.data(), M * F);
    else ops::gelu_forward(act_.data(), h_.data(), M * F);
    dropout(act_.data(), keep_act_.data(), M * F, drop);
    ops::linear_forward(f_.data(), act_.data(), p_[kL2W].data(), p_[kL2B].data(), M, F, d);
    dropout(f_.data(), keep2_.data(), M * d, drop);
    for (int64_t i = 0; i < M * d; ++i) r2_[size_t(i)] = x1_[size_t(i)] + f_[size_t(i)];
    ops::layernorm_forward(out, mean2_.data(), rstd2_.data(), r2_.data(), p_[kN2W].data(), p_[kN2B].data(), M, d,
                           T(cfg_.layernorm_eps));
  }

  // dinp (B, N, d) += d(loss)/d(inp) and the parameter gradients += theirs, for the last forward.
  // dinp may be nullptr (parameter gradients only).
  void backward(T* dinp, const T* dout) {
    check_bound();
    const int64_t d = cfg_.d_model, F = cfg_.ffn_dim, M = B_ * N_;
    if (M == 0) return;
    SIMAD_CHECK(dout != nullptr, "TransformerEncoderLayer '", prefix_, "': null dout");
    const uint8_t* m = mask_.empty() ? nullptr : mask_.data();
    std::vector<T> dr2(size_t(M * d), T(0)), df(size_t(M * d), T(0)), dact(size_t(M * F), T(0));
    std::vector<T> dh(size_t(M * F), T(0));
    // out = norm2(r2), r2 = x1 + dropout2(f)
    ops::layernorm_backward(dr2.data(), g_[kN2W].data(), g_[kN2B].data(), dout, r2_.data(), p_[kN2W].data(),
                            mean2_.data(), rstd2_.data(), M, d);
    ops::dropout_backward(df.data(), dr2.data(), keep(keep2_), M * d, p_drop_);
    ops::linear_backward(dact.data(), g_[kL2W].data(), g_[kL2B].data(), df.data(), act_.data(), p_[kL2W].data(), M, F,
                         d);
    std::vector<T> dact_pre(size_t(M * F), T(0));  // before the FFN dropout
    ops::dropout_backward(dact_pre.data(), dact.data(), keep(keep_act_), M * F, p_drop_);
    if (cfg_.activation == FfnActivation::relu) ops::relu_backward(dh.data(), dact_pre.data(), h_.data(), M * F);
    else ops::gelu_backward(dh.data(), dact_pre.data(), h_.data(), M * F);
    std::vector<T>& dx1 = dr2;  // the residual carries dr2 into x1; linear1 adds its part
    ops::linear_backward(dx1.data(), g_[kL1W].data(), g_[kL1B].data(), dh.data(), x1_.data(), p_[kL1W].data(), M, d, F);
    // x1 = norm1(r1), r1 = inp + dropout1(proj)
    std::vector<T> dr1(size_t(M * d), T(0)), dproj(size_t(M * d), T(0)), datt(size_t(M * d), T(0));
    ops::layernorm_backward(dr1.data(), g_[kN1W].data(), g_[kN1B].data(), dx1.data(), r1_.data(), p_[kN1W].data(),
                            mean1_.data(), rstd1_.data(), M, d);
    if (dinp)
      for (int64_t i = 0; i < M * d; ++i) dinp[i] += dr1[size_t(i)];
    ops::dropout_backward(dproj.data(), dr1.data(), keep(keep1_), M * d, p_drop_);
    ops::linear_backward(datt.data(), g_[kOutW].data(), g_[kOutB].data(), dproj.data(), att_.data(), p_[kOutW].data(),
                         M, d, d);
    std::vector<T> dqkv(size_t(M * 3 * d), T(0));
    ops::attention_backward(dqkv.data(), datt.data(), qkv_.data(), att_.data(), lse_.data(), m, B_, N_, d,
                            cfg_.num_heads);
    ops::linear_backward(dinp, g_[kInW].data(), g_[kInB].data(), dqkv.data(), inp_.data(), p_[kInW].data(), M, d,
                         3 * d);
  }

  const TransformerConfig& config() const { return cfg_; }

 private:
  enum : int { kInW, kInB, kOutW, kOutB, kL1W, kL1B, kL2W, kL2B, kN1W, kN1B, kN2W, kN2B, kNumParams };
  static constexpr const char* kNames[kNumParams] = {
      "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
      "linear1.weight",           "linear1.bias",           "linear2.weight",            "linear2.bias",
      "norm1.weight",             "norm1.bias",             "norm2.weight",              "norm2.bias"};

  void check_bound() const {
    SIMAD_CHECK(bound_, "TransformerEncoderLayer '", prefix_, "': call bind(store) after store.allocate()");
  }

  // The saved dropout mask, or nullptr when dropout was off (then it was never written).
  const uint8_t* keep(const std::vector<uint8_t>& k) const { return p_drop_ > T(0) ? k.data() : nullptr; }

  // In place; draws n stream positions when p > 0.
  void dropout(T* x, uint8_t* keep, int64_t n, DropoutStream* drop) {
    if (p_drop_ == T(0)) return;  // identity; backward passes gradients through unchanged
    ops::dropout_forward(x, keep, x, n, p_drop_, *drop->rng, drop->offset);
    drop->offset += uint64_t(n);
  }

  TransformerConfig cfg_;
  std::string prefix_;
  bool bound_ = false;
  Tensor<T> p_[kNumParams], g_[kNumParams];
  // Cache of the last forward (shapes with M = B N rows).
  int64_t B_ = 0, N_ = 0;
  T p_drop_ = T(0);
  std::vector<T> inp_, qkv_, att_, lse_, proj_, r1_, x1_, h_, act_, f_, r2_;  // (M, d), (M, 3d), ..., (M, F)
  std::vector<T> mean1_, rstd1_, mean2_, rstd2_;                              // (M)
  std::vector<uint8_t> keep1_, keep_act_, keep2_, mask_;
};

// ------------------------------------------------------------------------------------------------
// The stack: embedding + positions + L layers

template <typename T>
class TransformerEncoder {
 public:
  TransformerEncoder(train::ParamStore<T>& store, const std::string& prefix, const TransformerConfig& cfg)
      : cfg_(cfg), prefix_(prefix) {
    cfg_.validate();
    if (cfg_.vocab_size > 0) store.add(prefix + "embedding.word.weight", {cfg_.vocab_size, cfg_.d_model});
    if (cfg_.pos_tag_count > 0) store.add(prefix + "embedding.pos_tag.weight", {cfg_.pos_tag_count, cfg_.d_model});
    layers_.reserve(size_t(cfg_.num_layers));
    for (int64_t l = 0; l < cfg_.num_layers; ++l)
      layers_.emplace_back(store, prefix + "layers." + std::to_string(l) + ".", cfg_);
  }

  void bind(const train::ParamStore<T>& store) {
    if (cfg_.vocab_size > 0) {
      word_ = store.param(prefix_ + "embedding.word.weight");
      dword_ = store.grad(prefix_ + "embedding.word.weight");
    }
    if (cfg_.pos_tag_count > 0) {
      tag_ = store.param(prefix_ + "embedding.pos_tag.weight");
      dtag_ = store.grad(prefix_ + "embedding.pos_tag.weight");
    }
    for (auto& layer : layers_) layer.bind(store);
  }

  // Embeddings N(0, 1) scaled by 1/sqrt(d) (so s E has unit-variance rows), then each layer.
  void init(Rng& rng) const {
    const double sd = 1.0 / std::sqrt(double(cfg_.d_model));
    if (word_.defined()) rng.fill_normal(word_.span(), 0.0, sd);
    if (tag_.defined()) rng.fill_normal(tag_.span(), 0.0, sd);
    for (const auto& layer : layers_) layer.init(rng);
  }

  // out (B, N, d) from word ids (B, N) in [0, vocab_size) and POS-tag ids (B, N) (nullptr when the
  // config has none). Ids at padded positions must still be valid (0 will do).
  void forward(T* out, const int32_t* words, const int32_t* tags, const uint8_t* mask, int64_t B, int64_t N,
               bool training, DropoutStream* drop = nullptr) {
    SIMAD_CHECK(word_.defined(), "TransformerEncoder '", prefix_, "': no word embedding (vocab_size = 0) or not bound");
    SIMAD_CHECK((tags != nullptr) == tag_.defined(), "TransformerEncoder '", prefix_,
                "': POS-tag ids must be given exactly when the config has pos_tag_count > 0");
    const int64_t d = cfg_.d_model, M = B * N;
    words_.assign(words, words + M);
    tags_.assign(tags ? tags : nullptr, tags ? tags + M : nullptr);
    std::vector<T> x(size_t(M * d)), t(size_t(M * d)), pe(size_t(N * d));
    ops::embedding_forward(x.data(), words, word_.data(), M, d, cfg_.vocab_size);
    if (tags) {
      ops::embedding_forward(t.data(), tags, tag_.data(), M, d, cfg_.pos_tag_count);
      for (int64_t i = 0; i < M * d; ++i) x[size_t(i)] += t[size_t(i)];
    }
    sinusoidal_positions(pe.data(), N, d);
    const T s = embed_scale();
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = 0; c < d; ++c) x[size_t(r * d + c)] = s * x[size_t(r * d + c)] + pe[size_t((r % N) * d + c)];
    p_drop_ = training ? T(cfg_.dropout) : T(0);
    keep_.resize(size_t(M * d));
    if (p_drop_ > T(0)) {
      SIMAD_CHECK(drop && drop->rng, "TransformerEncoder '", prefix_, "': training with dropout needs a DropoutStream");
      ops::dropout_forward(x.data(), keep_.data(), x.data(), M * d, p_drop_, *drop->rng, drop->offset);
      drop->offset += uint64_t(M * d);
    }
    run_layers(out, x.data(), mask, B, N, training, drop);
  }

  // out (B, N, d) from input vectors x (B, N, d) that already carry their positions (no embedding).
  void forward_vectors(T* out, const T* x, const uint8_t* mask, int64_t B, int64_t N, bool training,
                       DropoutStream* drop = nullptr) {
    words_.clear();
    run_layers(out, x, mask, B, N, training, drop);
  }

  // Accumulates every parameter gradient; dx (B, N, d) += the input gradient when given (the
  // gradient of forward_vectors' x; after forward() the embeddings receive it instead).
  void backward(T* dx, const T* dout) {
    const int64_t d = cfg_.d_model, M = B_ * N_;
    std::vector<T> g(dout, dout + M * d), next(size_t(M * d));
    for (size_t l = layers_.size(); l-- > 0;) {
      std::fill(next.begin(), next.end(), T(0));
      layers_[l].backward(next.data(), g.data());
      std::swap(g, next);
    }
    if (words_.empty()) {
      if (dx)
        for (int64_t i = 0; i < M * d; ++i) dx[i] += g[size_t(i)];
      return;
    }
    std::vector<T> ge(size_t(M * d), T(0));
    ops::dropout_backward(ge.data(), g.data(), p_drop_ > T(0) ? keep_.data() : nullptr, M * d, p_drop_);
    const T s = embed_scale();
    for (auto& v : ge) v *= s;
    ops::embedding_backward(dword_.data(), ge.data(), words_.data(), M, d, cfg_.vocab_size);
    if (!tags_.empty()) ops::embedding_backward(dtag_.data(), ge.data(), tags_.data(), M, d, cfg_.pos_tag_count);
  }

  const TransformerConfig& config() const { return cfg_; }
  TransformerEncoderLayer<T>& layer(int64_t l) { return layers_.at(size_t(l)); }

 private:
  T embed_scale() const { return cfg_.scale_embedding ? T(std::sqrt(double(cfg_.d_model))) : T(1); }

  void run_layers(T* out, const T* x, const uint8_t* mask, int64_t B, int64_t N, bool training, DropoutStream* drop) {
    B_ = B, N_ = N;
    const int64_t M = B * N, d = cfg_.d_model;
    if (layers_.empty()) {
      std::copy(x, x + M * d, out);
      return;
    }
    for (size_t l = 0; l < layers_.size(); ++l) layers_[l].forward(out, l == 0 ? x : out, mask, B, N, training, drop);
  }

  TransformerConfig cfg_;
  std::string prefix_;
  std::vector<TransformerEncoderLayer<T>> layers_;
  Tensor<T> word_, dword_, tag_, dtag_;
  int64_t B_ = 0, N_ = 0;
  T p_drop_ = T(0);
  std::vector<int32_t> words_, tags_;
  std::vector<uint8_t> keep_;
};

}  // namespace simad::nn
