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
// Devices: every op goes through the Tensor dispatch (ops/dispatch), so the same layer runs where its
// parameters are: on the CPU, or on CUDA (float) after store.move_to(Device::cuda, ops::copy<float>)
// and bind(store) again. The Tensor entry points take tensors on that device; the pointer entry points
// (B, N given) take host memory and serve CPU modules. Caches and scratch are kept between calls
// (reallocated only when the batch shape changes).
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
#include "simad/ops/dispatch/activation.hpp"
#include "simad/ops/dispatch/attention.hpp"
#include "simad/ops/dispatch/dropout.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "simad/ops/dispatch/embedding.hpp"
#include "simad/ops/dispatch/layernorm.hpp"
#include "simad/ops/dispatch/linear.hpp"
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

  // Takes views of the layer's slices (after store.allocate(), and again after store.move_to()); they
  // stay valid if the store moves in memory.
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
  // layer norms weight 1, bias 0. On the CPU (before moving the store).
  void init(Rng& rng) const {
    check_bound();
    SIMAD_CHECK(device() == Device::cpu, "TransformerEncoderLayer '", prefix_, "': init on the CPU, then move");
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

  // The device of the parameters (where forward and backward run).
  Device device() const {
    check_bound();
    return p_[0].device();
  }

  // out (B, N, d) = the layer applied to inp (B, N, d); out may alias inp; mask (B, N) or undefined
  // (no padding). Caches for backward(). drop is required when training with dropout > 0.
  void forward(const Tensor<T>& out, const Tensor<T>& inp, const Tensor<uint8_t>& mask, bool training,
               DropoutStream* drop = nullptr) {
    check_bound();
    SIMAD_CHECK(inp.defined() && inp.rank() == 3 && inp.dim(2) == cfg_.d_model, "TransformerEncoderLayer '", prefix_,
                "': input must be (B, N, d=", cfg_.d_model, "), got ", inp.shape());
    check_shape(out, inp.shape(), "TransformerEncoderLayer: out");
    const int64_t B = inp.dim(0), N = inp.dim(1), d = cfg_.d_model, F = cfg_.ffn_dim, M = B * N;
    const Device dev = device();
    const T p = training ? T(cfg_.dropout) : T(0);
    SIMAD_CHECK(p == T(0) || (drop && drop->rng), "TransformerEncoderLayer '", prefix_,
                "': training with dropout needs a DropoutStream");
    B_ = B, N_ = N, p_drop_ = p;
    for (Tensor<T>* t : {&inp_, &att_, &proj_, &r1_, &x1_, &f_, &r2_}) ensure_tensor(*t, {M, d}, dev);
    ensure_tensor(qkv_, {M, 3 * d}, dev), ensure_tensor(h_, {M, F}, dev), ensure_tensor(act_, {M, F}, dev);
    ensure_tensor(lse_, {B, cfg_.num_heads, N}, dev);
    for (Tensor<T>* t : {&mean1_, &rstd1_, &mean2_, &rstd2_}) ensure_tensor(*t, {M}, dev);
    if (mask.defined()) {
      ensure_tensor(mask_, {B, N}, dev);
      ops::copy(mask_, mask);
    } else {
      mask_ = Tensor<uint8_t>();
    }
    if (M == 0) return;
    ops::copy(inp_, inp);
    const Tensor<uint8_t>* m = mask_.defined() ? &mask_ : nullptr;
    // Self-attention block.
    ops::linear_forward(qkv_, inp_, p_[kInW], p_[kInB]);
    ops::attention_forward(att_.reshape({B, N, d}), lse_, qkv_.reshape({B, N, 3 * d}), m, cfg_.num_heads);
    ops::linear_forward(proj_, att_, p_[kOutW], p_[kOutB]);
    dropout(proj_, keep1_, drop);
    ops::add(r1_, inp_, proj_);
    ops::layernorm_forward(x1_, mean1_, rstd1_, r1_, p_[kN1W], p_[kN1B], T(cfg_.layernorm_eps));
    // Feed-forward block.
    ops::linear_forward(h_, x1_, p_[kL1W], p_[kL1B]);
    if (cfg_.activation == FfnActivation::relu) ops::relu_forward(act_, h_);
    else ops::gelu_forward(act_, h_);
    dropout(act_, keep_act_, drop);
    ops::linear_forward(f_, act_, p_[kL2W], p_[kL2B]);
    dropout(f_, keep2_, drop);
    ops::add(r2_, x1_, f_);
    ops::layernorm_forward(out.reshape({M, d}), mean2_, rstd2_, r2_, p_[kN2W], p_[kN2B], T(cfg_.layernorm_eps));
  }

  // dinp (B, N, d) += d(loss)/d(inp) and the parameter gradients += theirs, for the last forward.
  // dinp may be undefined (parameter gradients only).
  void backward(const Tensor<T>& dinp, const Tensor<T>& dout) {
    check_bound();
    const int64_t d = cfg_.d_model, F = cfg_.ffn_dim, M = B_ * N_;
    if (M == 0) return;
    SIMAD_CHECK(dout.defined() && dout.numel() == M * d, "TransformerEncoderLayer '", prefix_, "': dout ",
                dout.defined() ? dout.shape() : Shape{}, " must be (B=", B_, ", N=", N_, ", d=", d, ")");
    const Device dev = device();
    for (Tensor<T>* t : {&dr2_, &df_, &dr1_, &dproj_, &datt_}) ops::ensure_zeros(*t, {M, d}, dev);
    for (Tensor<T>* t : {&dact_, &dact_pre_, &dh_}) ops::ensure_zeros(*t, {M, F}, dev);
    ops::ensure_zeros(dqkv_, {M, 3 * d}, dev);
    const Tensor<uint8_t>* m = mask_.defined() ? &mask_ : nullptr;
    const Tensor<T> dout2 = dout.reshape({M, d}), dinp2 = dinp.defined() ? dinp.reshape({M, d}) : Tensor<T>();
    // out = norm2(r2), r2 = x1 + dropout2(f)
    ops::layernorm_backward(dr2_, g_[kN2W], g_[kN2B], dout2, r2_, p_[kN2W], mean2_, rstd2_);
    ops::dropout_backward(df_, dr2_, keep(keep2_), p_drop_);
    ops::linear_backward(dact_, g_[kL2W], g_[kL2B], df_, act_, p_[kL2W]);
    ops::dropout_backward(dact_pre_, dact_, keep(keep_act_), p_drop_);  // before the FFN dropout
    if (cfg_.activation == FfnActivation::relu) ops::relu_backward(dh_, dact_pre_, h_);
    else ops::gelu_backward(dh_, dact_pre_, h_);
    const Tensor<T>& dx1 = dr2_;  // the residual carries dr2 into x1; linear1 adds its part
    ops::linear_backward(dx1, g_[kL1W], g_[kL1B], dh_, x1_, p_[kL1W]);
    // x1 = norm1(r1), r1 = inp + dropout1(proj)
    ops::layernorm_backward(dr1_, g_[kN1W], g_[kN1B], dx1, r1_, p_[kN1W], mean1_, rstd1_);
    if (dinp2.defined()) ops::axpy(dinp2, T(1), dr1_);
    ops::dropout_backward(dproj_, dr1_, keep(keep1_), p_drop_);
    ops::linear_backward(datt_, g_[kOutW], g_[kOutB], dproj_, att_, p_[kOutW]);
    ops::attention_backward(dqkv_.reshape({B_, N_, 3 * d}), datt_.reshape({B_, N_, d}),
                            qkv_.reshape({B_, N_, 3 * d}), att_.reshape({B_, N_, d}), lse_, m, cfg_.num_heads);
    ops::linear_backward(dinp2, g_[kInW], g_[kInB], dqkv_, inp_, p_[kInW]);
  }

  // Pointer forms on host memory (a CPU module): out, inp (B, N, d); mask (B, N) or nullptr.
  void forward(T* out, const T* inp, const uint8_t* mask, int64_t B, int64_t N, bool training,
               DropoutStream* drop = nullptr) {
    SIMAD_CHECK(B >= 0 && N >= 0, "TransformerEncoderLayer '", prefix_, "': negative size B=", B, " N=", N);
    const Shape s{B, N, cfg_.d_model};
    forward(Tensor<T>::borrow(out, s), Tensor<T>::borrow(const_cast<T*>(inp), s),
            mask ? Tensor<uint8_t>::borrow(const_cast<uint8_t*>(mask), {B, N}) : Tensor<uint8_t>(), training, drop);
  }
  void backward(T* dinp, const T* dout) {
    SIMAD_CHECK(B_ * N_ == 0 || dout != nullptr, "TransformerEncoderLayer '", prefix_, "': null dout");
    const Shape s{B_, N_, cfg_.d_model};
    backward(dinp ? Tensor<T>::borrow(dinp, s) : Tensor<T>(), Tensor<T>::borrow(const_cast<T*>(dout), s));
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

  // The saved dropout mask, or undefined when dropout was off (then it was never written).
  Tensor<uint8_t> keep(const Tensor<uint8_t>& k) const { return p_drop_ > T(0) ? k : Tensor<uint8_t>(); }

  // In place; draws x.numel() stream positions when p > 0.
  void dropout(const Tensor<T>& x, Tensor<uint8_t>& keep, DropoutStream* drop) {
    if (p_drop_ == T(0)) return;  // identity; backward passes gradients through unchanged
    ensure_tensor(keep, x.shape(), x.device());
    ops::dropout_forward(x, keep, x, p_drop_, *drop->rng, drop->offset);
    drop->offset += uint64_t(x.numel());
  }

  TransformerConfig cfg_;
  std::string prefix_;
  bool bound_ = false;
  Tensor<T> p_[kNumParams], g_[kNumParams];
  // Cache of the last forward (shapes with M = B N rows).
  int64_t B_ = 0, N_ = 0;
  T p_drop_ = T(0);
  Tensor<T> inp_, qkv_, att_, lse_, proj_, r1_, x1_, h_, act_, f_, r2_;  // (M, d), (M, 3d), ..., (M, F)
  Tensor<T> mean1_, rstd1_, mean2_, rstd2_;                              // (M)
  Tensor<uint8_t> keep1_, keep_act_, keep2_, mask_;
  // Backward scratch.
  Tensor<T> dr2_, df_, dact_, dact_pre_, dh_, dr1_, dproj_, datt_, dqkv_;
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
    device_ = store.device();
  }

  // Embeddings N(0, 1) scaled by 1/sqrt(d) (so s E has unit-variance rows), then each layer.
  void init(Rng& rng) const {
    SIMAD_CHECK(device_ == Device::cpu, "TransformerEncoder '", prefix_, "': init on the CPU, then move");
    const double sd = 1.0 / std::sqrt(double(cfg_.d_model));
    if (word_.defined()) rng.fill_normal(word_.span(), 0.0, sd);
    if (tag_.defined()) rng.fill_normal(tag_.span(), 0.0, sd);
    for (const auto& layer : layers_) layer.init(rng);
  }

  Device device() const { return device_; }

  // out (B, N, d) from word ids (B, N) in [0, vocab_size) and POS-tag ids (B, N) (undefined when the
  // config has none); mask (B, N) or undefined. Ids at padded positions must still be valid (0 will do).
  void forward(const Tensor<T>& out, const Tensor<int32_t>& words, const Tensor<int32_t>& tags,
               const Tensor<uint8_t>& mask, bool training, DropoutStream* drop = nullptr) {
    SIMAD_CHECK(word_.defined(), "TransformerEncoder '", prefix_, "': no word embedding (vocab_size = 0) or not bound");
    SIMAD_CHECK(tags.defined() == tag_.defined(), "TransformerEncoder '", prefix_,
                "': POS-tag ids must be given exactly when the config has pos_tag_count > 0");
    SIMAD_CHECK(words.defined() && words.rank() == 2, "TransformerEncoder '", prefix_, "': word ids must be (B, N)");
    const int64_t B = words.dim(0), N = words.dim(1), d = cfg_.d_model, M = B * N;
    check_shape(out, {B, N, d}, "TransformerEncoder: out");
    ensure_tensor(words_, {B, N}, device_);
    ops::copy(words_, words);
    if (tags.defined()) {
      check_shape(tags, {B, N}, "TransformerEncoder: POS-tag ids");
      ensure_tensor(tags_, {B, N}, device_);
      ops::copy(tags_, tags);
    } else {
      tags_ = Tensor<int32_t>();
    }
    embedded_ = true;
    ensure_tensor(x_, {M, d}, device_);
    p_drop_ = training ? T(cfg_.dropout) : T(0);
    if (M > 0) {
      ops::embedding_forward(x_, words_, word_);
      if (tags_.defined()) {
        ensure_tensor(t_, {M, d}, device_);
        ops::embedding_forward(t_, tags_, tag_);
        ops::add(x_, x_, t_);
      }
      // x = s (E_w + E_t) + PE: x * s, then + PE (the same two roundings on every device).
      const T s = embed_scale();
      if (s != T(1)) ops::scale(x_, s);
      ops::axpy(x_, T(1), positions(B, N));
      if (p_drop_ > T(0)) {
        SIMAD_CHECK(drop && drop->rng, "TransformerEncoder '", prefix_, "': training with dropout needs a DropoutStream");
        ensure_tensor(keep_, {M, d}, device_);
        ops::dropout_forward(x_, keep_, x_, p_drop_, *drop->rng, drop->offset);
        drop->offset += uint64_t(M * d);
      }
    }
    run_layers(out, x_.reshape({B, N, d}), mask, training, drop);
  }

  // out (B, N, d) from input vectors x (B, N, d) that already carry their positions (no embedding).
  void forward_vectors(const Tensor<T>& out, const Tensor<T>& x, const Tensor<uint8_t>& mask, bool training,
                       DropoutStream* drop = nullptr) {
    SIMAD_CHECK(x.defined() && x.rank() == 3 && x.dim(2) == cfg_.d_model, "TransformerEncoder '", prefix_,
                "': input vectors must be (B, N, d=", cfg_.d_model, ")");
    check_shape(out, x.shape(), "TransformerEncoder: out");
    embedded_ = false;
    run_layers(out, x, mask, training, drop);
  }

  // Accumulates every parameter gradient; dx (B, N, d) += the input gradient when defined (the
  // gradient of forward_vectors' x; after forward() the embeddings receive it instead).
  void backward(const Tensor<T>& dx, const Tensor<T>& dout) {
    const int64_t d = cfg_.d_model, M = B_ * N_;
    SIMAD_CHECK(dout.defined() && dout.numel() == M * d, "TransformerEncoder '", prefix_, "': dout must be (B=", B_,
                ", N=", N_, ", d=", d, ")");
    const Shape s{B_, N_, d};
    ensure_tensor(grad_, s, device_), ensure_tensor(next_, s, device_);
    ops::copy(grad_, dout);
    for (size_t l = layers_.size(); l-- > 0;) {
      ops::fill(next_, T(0));
      layers_[l].backward(next_, grad_);
      std::swap(grad_, next_);
    }
    if (!embedded_) {
      if (dx.defined()) ops::axpy(dx, T(1), grad_);
      return;
    }
    if (M == 0) return;
    ops::ensure_zeros(ge_, {M, d}, device_);
    ops::dropout_backward(ge_, grad_, p_drop_ > T(0) ? keep_ : Tensor<uint8_t>(), p_drop_);
    const T sc = embed_scale();
    if (sc != T(1)) ops::scale(ge_, sc);
    ops::embedding_backward(dword_, ge_, words_);
    if (tags_.defined()) ops::embedding_backward(dtag_, ge_, tags_);
  }

  // Pointer forms on host memory (a CPU module): out (B, N, d); words, tags, mask (B, N) (tags and
  // mask may be nullptr).
  void forward(T* out, const int32_t* words, const int32_t* tags, const uint8_t* mask, int64_t B, int64_t N,
               bool training, DropoutStream* drop = nullptr) {
    SIMAD_CHECK(B >= 0 && N >= 0, "TransformerEncoder '", prefix_, "': negative size B=", B, " N=", N);
    forward(Tensor<T>::borrow(out, {B, N, cfg_.d_model}), Tensor<int32_t>::borrow(const_cast<int32_t*>(words), {B, N}),
            tags ? Tensor<int32_t>::borrow(const_cast<int32_t*>(tags), {B, N}) : Tensor<int32_t>(), host_mask(mask, B, N),
            training, drop);
  }
  void forward_vectors(T* out, const T* x, const uint8_t* mask, int64_t B, int64_t N, bool training,
                       DropoutStream* drop = nullptr) {
    const Shape s{B, N, cfg_.d_model};
    forward_vectors(Tensor<T>::borrow(out, s), Tensor<T>::borrow(const_cast<T*>(x), s), host_mask(mask, B, N), training,
                    drop);
  }
  void backward(T* dx, const T* dout) {
    const Shape s{B_, N_, cfg_.d_model};
    backward(dx ? Tensor<T>::borrow(dx, s) : Tensor<T>(), Tensor<T>::borrow(const_cast<T*>(dout), s));
  }

  const TransformerConfig& config() const { return cfg_; }
  TransformerEncoderLayer<T>& layer(int64_t l) { return layers_.at(size_t(l)); }

 private:
  T embed_scale() const { return cfg_.scale_embedding ? T(std::sqrt(double(cfg_.d_model))) : T(1); }

  static Tensor<uint8_t> host_mask(const uint8_t* mask, int64_t B, int64_t N) {
    return mask ? Tensor<uint8_t>::borrow(const_cast<uint8_t*>(mask), {B, N}) : Tensor<uint8_t>();
  }

  // The sinusoidal positions of a (B, N) batch as (B N, d) rows on the module's device (built on the
  // host once per batch shape).
  const Tensor<T>& positions(int64_t B, int64_t N) {
    const int64_t d = cfg_.d_model;
    if (pe_.defined() && pe_.shape() == Shape{B * N, d} && pe_.device() == device_) return pe_;
    Tensor<T> row = Tensor<T>::empty({N, d}), host = Tensor<T>::empty({B * N, d});
    sinusoidal_positions(row.data(), N, d);
    for (int64_t b = 0; b < B; ++b) std::copy(row.data(), row.data() + N * d, host.data() + b * N * d);
    if (device_ == Device::cpu) {
      pe_ = host;
    } else {
      pe_ = Tensor<T>::empty(host.shape(), device_);
      ops::copy(pe_, host);
    }
    return pe_;
  }

  void run_layers(const Tensor<T>& out, const Tensor<T>& x, const Tensor<uint8_t>& mask, bool training,
                  DropoutStream* drop) {
    B_ = x.dim(0), N_ = x.dim(1);
    if (layers_.empty()) {
      ops::copy(out, x);
      return;
    }
    for (size_t l = 0; l < layers_.size(); ++l) layers_[l].forward(out, l == 0 ? x : out, mask, training, drop);
  }

  TransformerConfig cfg_;
  std::string prefix_;
  std::vector<TransformerEncoderLayer<T>> layers_;
  Tensor<T> word_, dword_, tag_, dtag_;
  Device device_ = Device::cpu;
  int64_t B_ = 0, N_ = 0;
  T p_drop_ = T(0);
  bool embedded_ = false;  // the last forward started from word ids (forward), not vectors
  Tensor<int32_t> words_, tags_;
  Tensor<uint8_t> keep_;
  Tensor<T> x_, t_, pe_, grad_, next_, ge_;
};

}  // namespace simad::nn
