// simad/nn/darknet_train.hpp: a trainable Darknet network (issue #14): the layers of a parsed cfg
// with their forward and backward, llm.c style, on the CPU, templated on T (float to train,
// double for the finite-difference checks).
//
//   nn::DarknetTrainNetwork<float> net(io::darknet::read_cfg("det.cfg"));
//   net.init_random(seed);                        // or net.load_darknet_weights("init.weights")
//   net.params().zero_grad();
//   net.forward(images.data(), B, /*training=*/true);   // images (B, 3, h, w), RGB in [0, 1]
//   nn::YoloLossTerms loss = net.backward(truths);       // adds dL/dparam to net.params().grads()
//   ... an optimizer step on net.params() (train/detector_trainer.hpp) ...
//   net.save_darknet_weights("det.weights");            // nn::DarknetNetwork / `simad detect` read it
//
// Layers: [convolutional] (batch_normalize, linear / leaky / logistic), [maxpool], [upsample],
// [route], [shortcut], [yolo] (ops/*.hpp and nn/yolo_loss.hpp; docs/darknet.md "Training").
//
// Parameters live in ONE flat buffer (train::ParamStore params(), gradients in its flat grads()),
// one slice per tensor of a convolution at cfg index i, in the order of a .weights file:
//   "layer<i>.biases" (O)  the conv bias, or batch norm's beta when batch_normalize=1
//   "layer<i>.scales" (O)  batch norm's gamma (batch_normalize=1 only)
//   "layer<i>.weights" (O, C, K, K)
// Batch norm's running statistics are state, not trained: a second store, state(), holds
// "layer<i>.rolling_mean" and "layer<i>.rolling_variance" (its gradient buffer is unused).
//
// forward(training = true) normalises with the batch statistics and updates the running ones
// (ops/batchnorm.hpp: momentum 0.01, unbiased variance, as Darknet) and keeps what backward needs:
// every layer's output, each batch-normalised conv's pre-normalisation output and batch mean and
// variance, each maxpool's argmax, the input. forward(training = false) is inference: batch norm with
// the running statistics (unfolded: the same function as nn::DarknetNetwork's folded conv, up to
// rounding), and the [yolo] outputs stay raw in both modes (yolo_output(s)). backward(truths) sums
// nn::yolo_loss over the [yolo] layers, each with its cfg's ignore_thresh / truth_thresh, and walks
// the layers in reverse; every gradient is ADDED (simad's rule), so zero params().grads() first
// and gradients of several sub-batches accumulate (Darknet's subdivisions).
//
// set_layer_times(&times) (off by default) adds the wall time of every layer's forward and backward
// to a nn::DarknetLayerTimes, each convolutional layer's split into the convolution, batch norm and
// activation (`simad bench detector` prints it by layer type). It runs the same ops in the same
// order, so the results are identical; off, it costs one null test per layer and part.
#pragma once

#include <chrono>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/io/atomic_file.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/io/darknet_weights.hpp"
#include "simad/io/safetensors.hpp"
#include "simad/nn/yolo_loss.hpp"
#include "simad/ops/batchnorm.hpp"
#include "simad/ops/concat.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/ops/maxpool2d.hpp"
#include "simad/ops/shortcut.hpp"
#include "simad/ops/upsample.hpp"
#include "simad/train/param_store.hpp"

namespace simad::nn {

inline constexpr const char* kDarknetSafetensorsFormat = "simad.darknet";

// Wall seconds of DarknetTrainNetwork's passes (set_layer_times), ADDED up over calls.
struct DarknetLayerTimes {
  struct Layer {
    double forward = 0, backward = 0;            // the whole layer (includes the parts below)
    double conv_forward = 0, conv_backward = 0;  // ops::conv2d_forward / conv2d_backward (a conv without
                                                 // batch norm: with its fused bias and activation)
    double bn_forward = 0, bn_backward = 0;      // batch norm (training statistics, or inference)
    double act_forward = 0, act_backward = 0;    // the activation after batch norm, and its gradient
  };
  std::vector<Layer> layers;        // by cfg layer index (set_layer_times sizes it)
  double forward_total = 0;         // whole forward() calls (layers + the copy of the input)
  double backward_total = 0;        // whole backward() calls (layers + loss + clearing)
  double loss = 0;                  // backward: the [yolo] losses and their output gradients
  double clear_gradients = 0;       // backward: zeroing every layer's output gradient first
  int64_t forwards = 0, backwards = 0;  // calls timed

  // Adds the wall seconds between its construction and its end to *into; nothing when into is null.
  class Lap {
   public:
    explicit Lap(double* into) : into_(into) {
      if (into_) t0_ = std::chrono::steady_clock::now();
    }
    ~Lap() {
      if (into_) *into_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    }
    Lap(const Lap&) = delete;
    Lap& operator=(const Lap&) = delete;

   private:
    double* into_;
    std::chrono::steady_clock::time_point t0_{};
  };
};

template <typename T>
class DarknetTrainNetwork {
 public:
  explicit DarknetTrainNetwork(io::darknet::Config cfg, ops::BatchNormVariant variant = ops::BatchNormVariant::pjreddie)
      : cfg_(std::move(cfg)), variant_(variant) {
    const size_t n = cfg_.layers.size();
    SIMAD_CHECK(n > 0, "darknet train: the cfg '", cfg_.source, "' has no layers");
    SIMAD_CHECK(!cfg_.yolo_layers().empty(), "darknet train: the cfg '", cfg_.source, "' has no [yolo] layer");
    convs_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const io::darknet::Layer& l = cfg_.layers[i];
      if (const auto* c = l.as<io::darknet::Convolutional>()) {
        const std::string p = "layer" + std::to_string(i) + ".";
        ConvSlots& s = convs_[i];
        s.active = true;
        s.bn = c->batch_normalize;
        s.shape.C = l.in.c, s.shape.H = l.in.h, s.shape.W = l.in.w;
        s.shape.O = c->filters, s.shape.K = c->size, s.shape.stride = c->stride, s.shape.pad = c->padding;
        s.act = c->activation;
        s.biases = params_.add(p + "biases", {c->filters});
        if (s.bn) s.scales = params_.add(p + "scales", {c->filters});
        s.weights = params_.add(p + "weights", {c->filters, l.in.c, c->size, c->size});
        if (s.bn) {
          s.rolling_mean = state_.add(p + "rolling_mean", {c->filters});
          s.rolling_variance = state_.add(p + "rolling_variance", {c->filters});
        }
      } else if (const auto* y = l.as<io::darknet::Yolo>()) {
        yolo_.push_back(int(i));
        yolo_options_.push_back(yolo_loss_options(l));
        SIMAD_CHECK(i > 0 && y->classes >= 1, "darknet train: [yolo] cannot be the first layer");
      }
    }
    SIMAD_CHECK(params_.size() > 0, "darknet train: the cfg '", cfg_.source, "' has no convolution");
    params_.allocate();
    if (state_.size() > 0) state_.allocate();
    for (const ConvSlots& s : convs_)
      if (s.active && s.bn) {
        params_.fill(params_.slice(s.scales).name, 1.0);
        state_.fill(state_.slice(s.rolling_variance).name, 1.0);
      }
    out_.resize(n), pre_.resize(n), mean_.resize(n), var_.resize(n), argmax_.resize(n), d_.resize(n);
  }

  DarknetTrainNetwork(const DarknetTrainNetwork&) = delete;
  DarknetTrainNetwork& operator=(const DarknetTrainNetwork&) = delete;

  const io::darknet::Config& config() const { return cfg_; }
  ops::BatchNormVariant variant() const { return variant_; }
  train::ParamStore<T>& params() { return params_; }
  const train::ParamStore<T>& params() const { return params_; }
  train::ParamStore<T>& state() { return state_; }
  const train::ParamStore<T>& state() const { return state_; }
  int input_width() const { return cfg_.net.width; }
  int input_height() const { return cfg_.net.height; }
  int input_channels() const { return cfg_.net.channels; }
  int64_t input_numel() const { return int64_t(cfg_.net.channels) * cfg_.net.height * cfg_.net.width; }
  // Images trained on (Darknet's `seen`, written to .weights). The trainer advances it.
  uint64_t seen = 0;

  // Weight decay applies to the slices whose name ends in ".weights" (Darknet's
  // update_convolutional_layer decays l.weights only, never biases or batch-norm scales).
  static bool is_decayed(const train::ParamSlice& s) { return s.name.ends_with(".weights"); }

  // ----------------------------------------------------------------------------------------------
  // Initialisation and files

  // Darknet's make_convolutional_layer: weights normal with standard deviation sqrt(2 / fan_in),
  // biases 0, scales 1, running mean 0 (running variance 1 here; Darknet's 0 would divide by ~0
  // before the first training step). One change: the objectness bias of every prediction conv
  // before a [yolo] layer starts at log(0.01 / 0.99) (logistic 0.01), so the first iterations are
  // not spent pushing thousands of "no object" logits down from 0.5 (RetinaNet's prior).
  void init_random(uint64_t seed) {
    Rng rng(seed);
    for (size_t i = 0; i < convs_.size(); ++i) {
      const ConvSlots& s = convs_[i];
      if (!s.active) continue;
      const double fan_in = double(s.shape.C * s.shape.K * s.shape.K);
      params_.init_normal(params_.slice(s.weights).name, rng, 0.0, std::sqrt(2.0 / fan_in));
      params_.fill(params_.slice(s.biases).name, 0.0);
      if (s.bn) {
        params_.fill(params_.slice(s.scales).name, 1.0);
        state_.fill(state_.slice(s.rolling_mean).name, 0.0);
        state_.fill(state_.slice(s.rolling_variance).name, 1.0);
      }
      if (i + 1 < cfg_.layers.size())
        if (const auto* y = cfg_.layers[i + 1].as<io::darknet::Yolo>()) {
          T* b = params_.param(s.biases).data();
          for (int a = 0; a < y->anchor_count(); ++a) b[a * (5 + y->classes) + 4] = T(std::log(0.01 / 0.99));
        }
    }
  }

  // The parameters as a Darknet .weights image (version 0.2.0, 64-bit seen).
  io::darknet::Weights to_weights() const {
    io::darknet::Weights w;
    w.major = 0, w.minor = 2, w.revision = 0, w.seen = seen;
    w.convs = io::darknet::conv_layout(cfg_);
    for (io::darknet::ConvWeights& c : w.convs) {
      const ConvSlots& s = convs_[size_t(c.layer)];
      copy_out(params_.param(s.biases), c.biases);
      copy_out(params_.param(s.weights), c.weights);
      if (s.bn) {
        copy_out(params_.param(s.scales), c.scales);
        copy_out(state_.param(s.rolling_mean), c.rolling_mean);
        copy_out(state_.param(s.rolling_variance), c.rolling_variance);
      }
    }
    return w;
  }

  // Sets every parameter and running statistic from `w` (read for this cfg).
  void set_weights(const io::darknet::Weights& w) {
    const std::vector<io::darknet::ConvWeights> layout = io::darknet::conv_layout(cfg_);
    SIMAD_CHECK(w.convs.size() == layout.size(), "darknet train: the weights have ", w.convs.size(),
                " convolutional layers, the cfg '", cfg_.source, "' has ", layout.size());
    for (size_t k = 0; k < layout.size(); ++k) {
      const io::darknet::ConvWeights& c = w.convs[k];
      const io::darknet::ConvWeights& want = layout[k];
      SIMAD_CHECK(c.layer == want.layer && c.filters == want.filters && c.channels == want.channels &&
                      c.size == want.size && c.batch_normalize == want.batch_normalize &&
                      c.weights.size() == want.weights.size(),
                  "darknet train: weights for layer ", want.layer, " do not match the cfg '", cfg_.source, "'");
      const ConvSlots& s = convs_[size_t(c.layer)];
      copy_in(c.biases, params_.param(s.biases));
      copy_in(c.weights, params_.param(s.weights));
      if (s.bn) {
        copy_in(c.scales, params_.param(s.scales));
        copy_in(c.rolling_mean, state_.param(s.rolling_mean));
        copy_in(c.rolling_variance, state_.param(s.rolling_variance));
      }
    }
    seen = w.seen;
  }

  void load_darknet_weights(const std::filesystem::path& path) { set_weights(io::darknet::read_weights(path, cfg_)); }

  // Written through a temporary and renamed (io/atomic_file.hpp).
  void save_darknet_weights(const std::filesystem::path& path) const {
    const std::vector<uint8_t> bytes = io::darknet::serialize_weights(to_weights());
    io::AtomicFile f(path);
    f.write(bytes.data(), bytes.size());
    f.commit();
  }

  // Parameters and running statistics by slice name (in T's dtype), metadata format
  // "simad.darknet", "seen" and the cfg's input size.
  void save_safetensors(const std::filesystem::path& path, io::safetensors::Metadata meta = {}) const {
    meta["format"] = kDarknetSafetensorsFormat;
    meta["seen"] = std::to_string(seen);
    meta["width"] = std::to_string(cfg_.net.width);
    meta["height"] = std::to_string(cfg_.net.height);
    io::safetensors::save(path, named_tensors(), meta);
  }
  // Reads what save_safetensors wrote (any float dtype; every slice must be there with its shape).
  // Extra tensors (a checkpoint's momentum) are allowed with strict = false. Returns the metadata.
  io::safetensors::Metadata load_safetensors(const std::filesystem::path& path, bool strict = true) {
    io::safetensors::Metadata meta = io::safetensors::load(path, named_tensors(), strict);
    if (const auto it = meta.find("seen"); it != meta.end()) seen = std::stoull(it->second);
    return meta;
  }
  io::safetensors::NamedTensors<T> named_tensors() const {
    io::safetensors::NamedTensors<T> t;
    for (const train::ParamSlice& s : params_) t.emplace_back(s.name, params_.param(s.name));
    if (state_.size() > 0)
      for (const train::ParamSlice& s : state_) t.emplace_back(s.name, state_.param(s.name));
    return t;
  }

  // ----------------------------------------------------------------------------------------------
  // Forward and backward

  // images: (B, channels, height, width). training: batch statistics (B * h * w >= 2 at every
  // batch-normalised layer) and running-statistics update; otherwise the running statistics.
  void forward(const T* images, int64_t B, bool training) {
    SIMAD_CHECK(B >= 1, "darknet train: forward needs a batch of at least 1, got ", B);
    const DarknetLayerTimes::Lap whole(times_ ? &times_->forward_total : nullptr);
    if (times_) ++times_->forwards;
    B_ = B;
    training_ = training;
    input_.assign(images, images + B * input_numel());
    for (size_t i = 0; i < cfg_.layers.size(); ++i) {
      const DarknetLayerTimes::Lap lap(lap_slot(i, &DarknetLayerTimes::Layer::forward));
      const io::darknet::Layer& l = cfg_.layers[i];
      std::vector<T>& y = out_[i];
      y.resize(size_t(B * l.out.numel()));
      const T* x = i == 0 ? input_.data() : out_[i - 1].data();
      if (l.as<io::darknet::Convolutional>()) {
        conv_forward(i, x);
      } else if (const auto* sc = l.as<io::darknet::Shortcut>()) {
        ops::shortcut_forward(y.data(), x, out_[size_t(sc->from)].data(), int64_t(y.size()),
                              sc->activation == io::darknet::Activation::leaky);
      } else if (const auto* r = l.as<io::darknet::Route>()) {
        std::vector<const T*> parts;
        std::vector<int64_t> sizes;
        for (int j : r->layers) {
          parts.push_back(out_[size_t(j)].data());
          sizes.push_back(cfg_.layers[size_t(j)].out.numel());
        }
        ops::concat_forward<T>(y.data(), parts, sizes, B);
      } else if (const auto* u = l.as<io::darknet::Upsample>()) {
        ops::upsample_nearest_forward(y.data(), x, B, l.in.c, l.in.h, l.in.w, int64_t(u->stride), T(u->scale));
      } else if (const auto* m = l.as<io::darknet::Maxpool>()) {
        argmax_[i].resize(y.size());
        ops::maxpool2d_forward(y.data(), x, B, l.in.c, l.in.h, l.in.w, int64_t(m->size), int64_t(m->stride),
                               int64_t(m->padding), argmax_[i].data());
      } else if (l.as<io::darknet::Yolo>()) {
        std::copy_n(x, y.size(), y.data());  // raw: the loss and nn::detect's caller apply the logistic
      }
    }
  }

  int64_t batch() const { return B_; }
  // Number of [yolo] layers and the raw output of the s-th: (B, A * (5 + classes), h, w).
  size_t yolo_count() const { return yolo_.size(); }
  const std::vector<int>& yolo_layers() const { return yolo_; }
  const std::vector<T>& yolo_output(size_t s) const { return out_[size_t(yolo_.at(s))]; }
  // Any layer's output of the last forward: (B, C, H, W).
  const std::vector<T>& layer_output(size_t i) const { return out_.at(i); }

  // The loss of the last forward against truths (one list per image), without gradients.
  YoloLossTerms loss(std::span<const std::vector<YoloTruth>> truths) const { return loss_impl(truths, nullptr); }

  // Loss and gradients: adds dL/dparam to params().grads() and, with set_input_gradient(true),
  // writes dL/dinput to input_gradient(). Needs a training forward.
  YoloLossTerms backward(std::span<const std::vector<YoloTruth>> truths) {
    SIMAD_CHECK(training_, "darknet train: backward needs a forward with training = true");
    const DarknetLayerTimes::Lap whole(times_ ? &times_->backward_total : nullptr);
    if (times_) ++times_->backwards;
    YoloLossTerms terms;
    {
      const DarknetLayerTimes::Lap lap(times_ ? &times_->clear_gradients : nullptr);
      for (size_t i = 0; i < cfg_.layers.size(); ++i) d_[i].assign(out_[i].size(), T(0));
      if (want_input_grad_) input_grad_.assign(input_.size(), T(0));
    }
    {
      const DarknetLayerTimes::Lap lap(times_ ? &times_->loss : nullptr);
      terms = loss_impl(truths, &d_);
    }
    for (size_t i = cfg_.layers.size(); i-- > 0;) {
      const DarknetLayerTimes::Lap lap(lap_slot(i, &DarknetLayerTimes::Layer::backward));
      const io::darknet::Layer& l = cfg_.layers[i];
      const std::vector<T>& g = d_[i];
      T* dprev = i == 0 ? (want_input_grad_ ? input_grad_.data() : nullptr) : d_[i - 1].data();
      if (l.as<io::darknet::Convolutional>()) {
        conv_backward(i, dprev);
      } else if (const auto* sc = l.as<io::darknet::Shortcut>()) {
        ops::shortcut_backward(dprev, d_[size_t(sc->from)].data(), g.data(), out_[i].data(), int64_t(g.size()),
                               sc->activation == io::darknet::Activation::leaky);
      } else if (const auto* r = l.as<io::darknet::Route>()) {
        std::vector<T*> parts;
        std::vector<int64_t> sizes;
        for (int j : r->layers) {
          parts.push_back(d_[size_t(j)].data());
          sizes.push_back(cfg_.layers[size_t(j)].out.numel());
        }
        ops::concat_backward<T>(parts, g.data(), sizes, B_);
      } else if (const auto* u = l.as<io::darknet::Upsample>()) {
        if (dprev)
          ops::upsample_nearest_backward(dprev, g.data(), B_, l.in.c, l.in.h, l.in.w, int64_t(u->stride), T(u->scale));
      } else if (const auto* m = l.as<io::darknet::Maxpool>()) {
        if (dprev)
          ops::maxpool2d_backward(dprev, g.data(), argmax_[i].data(), B_, l.in.c, l.in.h, l.in.w, int64_t(m->size),
                                  int64_t(m->stride), int64_t(m->padding));
      } else if (l.as<io::darknet::Yolo>()) {
        if (dprev)
          for (size_t k = 0; k < g.size(); ++k) dprev[k] += g[k];
      }
    }
    return terms;
  }

  void set_input_gradient(bool on) { want_input_grad_ = on; }

  // Times every later forward and backward into *times (sized here to the cfg's layers; its sums
  // are added to, not reset); null turns timing off. *times must outlive its use.
  void set_layer_times(DarknetLayerTimes* times) {
    times_ = times;
    if (times_) times_->layers.resize(cfg_.layers.size());
  }
  DarknetLayerTimes* layer_times() const { return times_; }
  const std::vector<T>& input_gradient() const { return input_grad_; }

  // Frees the cached activations and gradients (they are rebuilt by the next forward).
  void release_buffers() {
    for (auto* v : {&out_, &pre_, &d_}) std::vector<std::vector<T>>(v->size()).swap(*v);
    std::vector<std::vector<int32_t>>(argmax_.size()).swap(argmax_);
    std::vector<T>().swap(input_), std::vector<T>().swap(input_grad_), std::vector<T>().swap(workspace_);
  }

 private:
  struct ConvSlots {
    bool active = false, bn = false;
    ops::Conv2dShape shape;  // B set per call
    io::darknet::Activation act = io::darknet::Activation::linear;
    int biases = -1, scales = -1, weights = -1;  // slices of params_
    int rolling_mean = -1, rolling_variance = -1;  // slices of state_
  };

  // Where layer i's part `m` adds its time, or null when timing is off.
  double* lap_slot(size_t i, double DarknetLayerTimes::Layer::*m) const { return times_ ? &(times_->layers[i].*m) : nullptr; }

  static void copy_out(const Tensor<T>& src, std::vector<float>& dst) {
    dst.resize(size_t(src.numel()));
    for (size_t k = 0; k < dst.size(); ++k) dst[k] = float(src.data()[k]);
  }
  static void copy_in(const std::vector<float>& src, const Tensor<T>& dst) {
    SIMAD_CHECK(int64_t(src.size()) == dst.numel(), "darknet train: parameter of ", src.size(), " values for a slice of ",
                dst.numel());
    for (size_t k = 0; k < src.size(); ++k) dst.data()[k] = T(src[k]);
  }

  void conv_forward(size_t i, const T* x) {
    const ConvSlots& s = convs_[i];
    ops::Conv2dShape shape = s.shape;
    shape.B = B_;
    const int64_t HW = shape.out_h() * shape.out_w();
    const size_t need = size_t(std::max(ops::conv2d_workspace_size(shape), ops::conv2d_backward_workspace_size(shape)));
    if (workspace_.size() < need) workspace_.resize(need);
    std::vector<T>& y = out_[i];
    const T* W = params_.param(s.weights).data();
    const T* b = params_.param(s.biases).data();
    using Part = DarknetLayerTimes::Layer;
    if (!s.bn) {
      const DarknetLayerTimes::Lap lap(lap_slot(i, &Part::conv_forward));
      ops::conv2d_forward(y.data(), x, W, b, shape, conv_activation(s.act), workspace_.data());
      return;
    }
    const T* gamma = params_.param(s.scales).data();
    T* rm = state_.param(s.rolling_mean).data();
    T* rv = state_.param(s.rolling_variance).data();
    T* pre = y.data();  // inference normalises in place
    if (training_) {
      pre_[i].resize(y.size());
      mean_[i].resize(size_t(shape.O)), var_[i].resize(size_t(shape.O));
      pre = pre_[i].data();
    }
    {
      const DarknetLayerTimes::Lap lap(lap_slot(i, &Part::conv_forward));
      ops::conv2d_forward(pre, x, W, static_cast<const T*>(nullptr), shape, ops::ConvActivation::linear,
                          workspace_.data());
    }
    {
      const DarknetLayerTimes::Lap lap(lap_slot(i, &Part::bn_forward));
      if (training_)
        ops::batchnorm_forward_train(y.data(), mean_[i].data(), var_[i].data(), rm, rv, pre, gamma, b, B_, shape.O, HW,
                                     variant_);
      else
        ops::batchnorm_forward_inference(y.data(), y.data(), gamma, b, rm, rv, B_, shape.O, HW, variant_);
    }
    const DarknetLayerTimes::Lap lap(lap_slot(i, &Part::act_forward));
    activate(y.data(), int64_t(y.size()), s.act);
  }

  void conv_backward(size_t i, T* dprev) {
    const ConvSlots& s = convs_[i];
    ops::Conv2dShape shape = s.shape;
    shape.B = B_;
    const int64_t HW = shape.out_h() * shape.out_w();
    const std::vector<T>& y = out_[i];
    // g = dL/d(pre-activation), computed from the output (leaky keeps the sign, logistic y (1 - y)).
    std::vector<T>& g = d_[i];
    const int64_t n = int64_t(g.size());
    using Part = DarknetLayerTimes::Layer;
    if (s.act != io::darknet::Activation::linear) {
      const DarknetLayerTimes::Lap lap(lap_slot(i, &Part::act_backward));
      T* gd = g.data();
      const T* yd = y.data();
      const bool leaky = s.act == io::darknet::Activation::leaky;
      parallel_for(n, int64_t(1) << 14, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) gd[k] *= leaky ? (yd[k] > T(0) ? T(1) : T(0.1)) : yd[k] * (T(1) - yd[k]);
      });
    }
    const T* x = i == 0 ? input_.data() : out_[i - 1].data();
    const T* W = params_.param(s.weights).data();
    T* dW = params_.grad(s.weights).data();
    T* db = params_.grad(s.biases).data();
    if (!s.bn) {
      const DarknetLayerTimes::Lap lap(lap_slot(i, &Part::conv_backward));
      ops::conv2d_backward(dprev, dW, db, g.data(), x, W, shape, workspace_.data());
      return;
    }
    {
      const DarknetLayerTimes::Lap lap(lap_slot(i, &Part::bn_backward));
      dbn_.assign(g.size(), T(0));
      ops::batchnorm_backward(dbn_.data(), params_.grad(s.scales).data(), db, g.data(), pre_[i].data(), mean_[i].data(),
                              var_[i].data(), params_.param(s.scales).data(), B_, shape.O, HW, variant_);
    }
    const DarknetLayerTimes::Lap lap(lap_slot(i, &Part::conv_backward));
    ops::conv2d_backward(dprev, dW, static_cast<T*>(nullptr), dbn_.data(), x, W, shape, workspace_.data());
  }

  static ops::ConvActivation conv_activation(io::darknet::Activation a) {
    return a == io::darknet::Activation::leaky    ? ops::ConvActivation::leaky
           : a == io::darknet::Activation::linear ? ops::ConvActivation::linear
                                                  : ops::ConvActivation::logistic;
  }
  static void activate(T* y, int64_t n, io::darknet::Activation a) {
    if (a == io::darknet::Activation::linear) return;
    const bool leaky = a == io::darknet::Activation::leaky;
    parallel_for(n, int64_t(1) << 14, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k)
        y[k] = leaky ? (y[k] > T(0) ? y[k] : T(0.1) * y[k]) : T(1) / (T(1) + std::exp(-y[k]));
    });
  }

  // grads: the per-layer output gradients the loss adds to, or null.
  YoloLossTerms loss_impl(std::span<const std::vector<YoloTruth>> truths, std::vector<std::vector<T>>* grads) const {
    SIMAD_CHECK(int64_t(truths.size()) == B_, "darknet train: ", truths.size(), " truth lists for a batch of ", B_);
    YoloLossTerms total;
    for (size_t s = 0; s < yolo_.size(); ++s) {
      const size_t i = size_t(yolo_[s]);
      const io::darknet::Layer& l = cfg_.layers[i];
      T* draw = grads ? (*grads)[i].data() : nullptr;
      total += yolo_loss(draw, out_[i].data(), *l.as<io::darknet::Yolo>(), B_, l.out.h, l.out.w, cfg_.net.width,
                         cfg_.net.height, truths, yolo_options_[s]);
    }
    return total;
  }

  io::darknet::Config cfg_;
  ops::BatchNormVariant variant_;
  train::ParamStore<T> params_, state_;
  std::vector<ConvSlots> convs_;  // per layer (inactive for non-convolutions)
  std::vector<int> yolo_;
  std::vector<YoloLossOptions> yolo_options_;
  int64_t B_ = 0;
  bool training_ = false, want_input_grad_ = false;
  DarknetLayerTimes* times_ = nullptr;  // set_layer_times; null: not timed
  std::vector<T> input_, input_grad_, workspace_, dbn_;
  std::vector<std::vector<T>> out_;   // per layer: (B, C, H, W) output (raw for [yolo])
  std::vector<std::vector<T>> pre_;   // per batch-normalised conv: (B, O, H, W) before batch norm
  std::vector<std::vector<T>> mean_, var_;  // per batch-normalised conv: (O) batch statistics
  std::vector<std::vector<int32_t>> argmax_;  // per maxpool: (B, C, Ho, Wo)
  std::vector<std::vector<T>> d_;     // per layer: dL/d(output)
};

}  // namespace simad::nn
