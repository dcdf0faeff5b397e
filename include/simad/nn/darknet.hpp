// simad/nn/darknet.hpp: a Darknet network (io/darknet_cfg.hpp + weights) run on the CPU, batched.
//
// Construction folds each convolution's batch norm into its weights and bias (inference):
//   pjreddie Darknet (default; yolov3.weights was trained with it, src/blas.c normalize_cpu):
//     y = scale * (x - mean) / (sqrt(var) + 1e-6) + beta
//   AlexeyAB Darknet: y = scale * (x - mean) / sqrt(var + 1e-5) + beta
// so s = scale / denom, weight' = weight * s, bias' = beta - mean * s (computed in double). Mixing
// weights from one fork with the other's epsilon shifts every activation slightly: the variant is
// an explicit choice.
//
// forward() runs the layers in order: convolution + bias + activation fused (ops/conv2d.hpp),
// shortcut (add, linear or leaky), route (channel concat), upsample (nearest), maxpool (Darknet
// padding), yolo (logistic on x, y, objectness and class logits, as Darknet's forward_yolo_layer;
// w and h stay raw). Buffers are released after their last reader, except what the caller gets
// back: each [yolo] layer's output and its "hidden" map, the input of the 1x1 prediction
// convolution before it (the region features of MODELS.md: 1024/512/256 channels for yolov3).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/tensor.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/io/darknet_weights.hpp"
#include "simad/ops/batchnorm.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/ops/maxpool2d.hpp"
#include "simad/ops/upsample.hpp"
#include "simad/ops/yolo_activate.hpp"

namespace simad::nn {

class CudaDarknetNetwork;

// Which fork's batch-norm denominator (ops/batchnorm.hpp: training and inference share it).
using BatchNormVariant = ops::BatchNormVariant;

// A convolution ready to run: batch norm folded in.
struct FoldedConv {
  ops::Conv2dShape shape;  // B is set per call
  ops::ConvActivation activation = ops::ConvActivation::linear;
  std::vector<float> weight;  // (O, C, K, K)
  std::vector<float> bias;    // (O)
  // weight prepared once for simad's kernels (as oneDNN reorders its weights once): the GEMM's packed
  // panels (the bf16 kernel's under SIMAD_GEMM=bf16), or the Winograd transform for 3x3 stride-1 layers of
  // 64 channels or more
  // (ops::pack_conv2d_weights). Empty where the CPU has no such kernel or SIMAD_GEMM=openblas; once (GEMM) or
  // 16/9 times (Winograd) the weights' memory.
  ops::Conv2dPackedWeights packed;
};

inline FoldedConv fold_batch_norm(const io::darknet::ConvWeights& w, const io::darknet::Convolutional& c,
                                  BatchNormVariant variant) {
  FoldedConv f;
  f.shape.C = w.channels, f.shape.O = w.filters, f.shape.K = w.size, f.shape.stride = c.stride,
  f.shape.pad = c.padding;
  f.activation = c.activation == io::darknet::Activation::leaky    ? ops::ConvActivation::leaky
                 : c.activation == io::darknet::Activation::linear ? ops::ConvActivation::linear
                                                                   : ops::ConvActivation::logistic;
  f.weight = w.weights;
  f.bias = w.biases;
  const size_t per_filter = size_t(w.channels) * size_t(w.size) * size_t(w.size);
  for (size_t o = 0; w.batch_normalize && o < size_t(w.filters); ++o) {
    const double var = double(w.rolling_variance[o]);
    const double denom = ops::batchnorm_denominator(var, variant);
    const double s = double(w.scales[o]) / denom;
    for (size_t i = 0; i < per_filter; ++i) f.weight[o * per_filter + i] = float(double(w.weights[o * per_filter + i]) * s);
    f.bias[o] = float(double(w.biases[o]) - double(w.rolling_mean[o]) * s);
  }
  f.packed = ops::pack_conv2d_weights(f.weight.data(), f.shape);
  return f;
}

// What a forward hands back (on the CPU here; on the GPU from nn/darknet_cuda.hpp).
struct DarknetOutput {
  std::vector<int> yolo_layers;       // cfg indices of the [yolo] layers ("scales"), in cfg order
  std::vector<Tensor<float>> yolo;    // per scale: (B, A * (5 + classes), h, w), logistic applied
  std::vector<Tensor<float>> hidden;  // per scale: (B, C_s, h, w), input of the prediction conv
  std::vector<Tensor<float>> layers;  // every layer's output when forward(.., keep_all = true)
};

// Which layer outputs a forward hands back and when each buffer may go, from the cfg alone; the CPU and
// the GPU forwards share it. The hidden map of a [yolo] layer at i is the input of its prediction conv
// i - 1 (the output of i - 2; -1: the network's input).
struct DarknetBufferPlan {
  std::vector<int> yolo, hidden;
  std::vector<int> last_use;  // per layer: the last layer that reads its output (-1: none)
  std::vector<bool> keep;     // handed back: never released

  explicit DarknetBufferPlan(const io::darknet::Config& cfg) {
    for (int y : cfg.yolo_layers()) {
      yolo.push_back(y);
      hidden.push_back(y >= 2 && cfg.layers[size_t(y - 1)].as<io::darknet::Convolutional>() ? y - 2 : y - 1);
    }
    const size_t n = cfg.layers.size();
    last_use.assign(n, -1);
    for (size_t i = 0; i < n; ++i) {
      const auto& l = cfg.layers[i];
      if (const auto* r = l.as<io::darknet::Route>()) {
        for (int j : r->layers) last_use[size_t(j)] = int(i);
      } else {
        if (i > 0) last_use[i - 1] = int(i);
        if (const auto* s = l.as<io::darknet::Shortcut>()) last_use[size_t(s->from)] = int(i);
      }
    }
    keep.assign(n, false);
    for (int y : yolo) keep[size_t(y)] = true;
    for (int h : hidden)
      if (h >= 0) keep[size_t(h)] = true;
  }

  // Whether layer i + 1 alone reads layer i's output: not handed back, read by no later layer, not keep_all
  // (then the two layers can run as one pass and layer i's output need never be written whole).
  bool only_next_reads(size_t i, bool keep_all) const {
    return !keep_all && i + 1 < keep.size() && !keep[i] && last_use[i] == int(i + 1);
  }

  // After layer i: drops the outputs no later layer reads and nobody gets back (unless keep_all).
  void release(std::vector<Tensor<float>>& out, size_t i, bool keep_all) const {
    if (keep_all) return;
    for (size_t j = 0; j <= i; ++j)
      if (out[j].defined() && !keep[j] && last_use[j] <= int(i)) out[j] = Tensor<float>();
  }

  // The forward's result from every layer's output (those released are not read).
  DarknetOutput collect(std::vector<Tensor<float>>&& out, const Tensor<float>& input, bool keep_all) const {
    DarknetOutput result;
    result.yolo_layers = yolo;
    for (size_t k = 0; k < yolo.size(); ++k) {
      result.yolo.push_back(out[size_t(yolo[k])]);
      result.hidden.push_back(hidden[k] >= 0 ? out[size_t(hidden[k])] : input);
    }
    if (keep_all) result.layers = std::move(out);
    return result;
  }
};

class DarknetNetwork {
 public:
  using Output = DarknetOutput;

  DarknetNetwork(io::darknet::Config cfg, const io::darknet::Weights& weights,
                 BatchNormVariant variant = BatchNormVariant::pjreddie)
      : cfg_(std::move(cfg)), plan_(cfg_) {
    const std::vector<io::darknet::ConvWeights> layout = io::darknet::conv_layout(cfg_);
    SIMAD_CHECK(weights.convs.size() == layout.size(), "darknet network: the weights have ", weights.convs.size(),
                " convolutional layers, the cfg '", cfg_.source, "' has ", layout.size());
    convs_.resize(cfg_.layers.size());
    for (size_t k = 0; k < layout.size(); ++k) {
      const io::darknet::ConvWeights& w = weights.convs[k];
      const io::darknet::ConvWeights& want = layout[k];
      SIMAD_CHECK(w.layer == want.layer && w.filters == want.filters && w.channels == want.channels &&
                      w.size == want.size && w.batch_normalize == want.batch_normalize &&
                      w.weights.size() == want.weights.size() && w.biases.size() == want.biases.size(),
                  "darknet network: weights for layer ", want.layer, " do not match the cfg (", w.filters, "x",
                  w.channels, "x", w.size, "x", w.size, " vs ", want.filters, "x", want.channels, "x", want.size, "x",
                  want.size, ")");
      convs_[size_t(want.layer)] =
          fold_batch_norm(w, *cfg_.layers[size_t(want.layer)].as<io::darknet::Convolutional>(), variant);
    }
  }

  const io::darknet::Config& config() const { return cfg_; }
  // Channels of each scale's hidden map (Output::hidden, in [yolo] order): the input of its prediction conv.
  std::vector<int64_t> hidden_channels() const {
    std::vector<int64_t> channels;
    for (int h : plan_.hidden) channels.push_back(h >= 0 ? cfg_.layers[size_t(h)].out.c : cfg_.net.channels);
    return channels;
  }
  int input_width() const { return cfg_.net.width; }
  int input_height() const { return cfg_.net.height; }
  int input_channels() const { return cfg_.net.channels; }

  // input: (B, channels, height, width), values as Darknet feeds them ([0, 1] RGB).
  Output forward(const Tensor<float>& input, bool keep_all = false) const {
    SIMAD_CHECK(input.rank() == 4 && input.dim(1) == cfg_.net.channels && input.dim(2) == cfg_.net.height &&
                    input.dim(3) == cfg_.net.width && input.dim(0) >= 1,
                "darknet forward: input ", input.shape(), " does not match the network's (B, ", cfg_.net.channels,
                ", ", cfg_.net.height, ", ", cfg_.net.width, ")");
    const int64_t B = input.dim(0);
    const size_t n = cfg_.layers.size();
    std::vector<Tensor<float>> out(n);
    Tensor<float> workspace;  // im2col scratch: never read before written
    for (size_t i = 0; i < n; ++i) {
      const io::darknet::Layer& l = cfg_.layers[i];
      const Tensor<float>& prev = i == 0 ? input : out[i - 1];
      if (l.as<io::darknet::Convolutional>()) {
        const ops::Conv2dShape s = conv_shape(i, B);
        // A [maxpool] 2x2/2 or a linear [shortcut] that alone reads this output: both layers in one pass,
        // the convolution's output never written whole (out[i] stays empty: nothing reads it).
        const io::darknet::Maxpool* pool = fusable_maxpool(i, s, keep_all);
        const io::darknet::Shortcut* sc = pool ? nullptr : fusable_shortcut(i, s, keep_all);
        if (pool || sc) {
          const io::darknet::Layer& next = cfg_.layers[i + 1];
          Tensor<float> y = Tensor<float>::empty({B, next.out.c, next.out.h, next.out.w});
          const FoldedConv& c = convs_[i];
          if (pool)
            ops::conv2d_maxpool_forward(y.data(), prev.data(), c.weight.data(), c.bias.data(), s, c.activation,
                                        &c.packed, int64_t(pool->padding));
          else
            ops::conv2d_residual_forward(y.data(), prev.data(), c.weight.data(), c.bias.data(),
                                         out[size_t(sc->from)].data(), s, c.activation, &c.packed);
          out[++i] = std::move(y);
          plan_.release(out, i, keep_all);
          continue;
        }
      }
      Tensor<float> y = Tensor<float>::empty({B, l.out.c, l.out.h, l.out.w});
      if (l.as<io::darknet::Convolutional>()) {
        const ops::Conv2dShape s = conv_shape(i, B);
        const int64_t need = ops::conv2d_workspace_size(s);
        if (!workspace.defined() || workspace.numel() < need) workspace = Tensor<float>::empty({need});
        ops::conv2d_forward(y.data(), prev.data(), convs_[i].weight.data(), convs_[i].bias.data(), s,
                            convs_[i].activation, workspace.data(), &convs_[i].packed);
      } else if (const auto* sc = l.as<io::darknet::Shortcut>()) {
        const float* a = prev.data();
        const float* b = out[size_t(sc->from)].data();
        float* d = y.data();
        const bool leaky = sc->activation == io::darknet::Activation::leaky;
        parallel_for(y.numel(), 1 << 14, [&](int64_t b0, int64_t b1) {
          for (int64_t k = b0; k < b1; ++k) {
            const float v = a[k] + b[k];
            d[k] = leaky && v < 0.0f ? 0.1f * v : v;
          }
        });
      } else if (const auto* r = l.as<io::darknet::Route>()) {
        // Per image, the routed maps one after another along channels.
        const int64_t per_image = l.out.numel();
        int64_t offset = 0;
        for (int j : r->layers) {
          const Tensor<float>& src = out[size_t(j)];
          const int64_t part = cfg_.layers[size_t(j)].out.numel();
          for (int64_t b = 0; b < B; ++b)
            std::copy_n(src.data() + b * part, part, y.data() + b * per_image + offset);
          offset += part;
        }
      } else if (const auto* u = l.as<io::darknet::Upsample>()) {
        ops::upsample_nearest_forward(y.data(), prev.data(), B, l.in.c, l.in.h, l.in.w, int64_t(u->stride), u->scale);
      } else if (const auto* m = l.as<io::darknet::Maxpool>()) {
        ops::maxpool2d_forward(y.data(), prev.data(), B, l.in.c, l.in.h, l.in.w, int64_t(m->size), int64_t(m->stride),
                               int64_t(m->padding));
      } else if (const auto* yl = l.as<io::darknet::Yolo>()) {
        ops::yolo_activate(y.data(), prev.data(), B, int64_t(yl->anchor_count()), int64_t(yl->classes),
                           int64_t(l.out.h) * l.out.w);
      }
      out[i] = std::move(y);
      plan_.release(out, i, keep_all);
    }
    return plan_.collect(std::move(out), input, keep_all);
  }

  // The [maxpool] after convolution i when the two can run as one pass (ops::conv2d_maxpool_fusable) and
  // nothing else needs the convolution's output: not handed back, read by no later layer, not keep_all.
  const io::darknet::Maxpool* fusable_maxpool(size_t i, const ops::Conv2dShape& s, bool keep_all) const {
    if (!plan_.only_next_reads(i, keep_all)) return nullptr;
    const auto* m = cfg_.layers[i + 1].as<io::darknet::Maxpool>();
    if (!m || !ops::conv2d_maxpool_fusable(s, convs_[i].activation, &convs_[i].packed, m->size, m->stride, m->padding))
      return nullptr;
    return m;
  }

  // The [shortcut] after convolution i when the two can run as one pass (ops::conv2d_residual_fusable): a
  // linear shortcut that adds an earlier layer (the cfg's shape inference made the two maps one shape), and
  // nothing else needs the convolution's output.
  const io::darknet::Shortcut* fusable_shortcut(size_t i, const ops::Conv2dShape& s, bool keep_all) const {
    if (!plan_.only_next_reads(i, keep_all)) return nullptr;
    const auto* sc = cfg_.layers[i + 1].as<io::darknet::Shortcut>();
    if (!sc || sc->activation != io::darknet::Activation::linear || sc->from < 0 || size_t(sc->from) >= i) return nullptr;
    return ops::conv2d_residual_fusable(s, convs_[i].activation, &convs_[i].packed) ? sc : nullptr;
  }

  // Darknet's forward_yolo_layer at inference, in place (ops/yolo_activate.hpp). data: (B, A, 5 + classes, HW).
  static void yolo_activate(float* data, int64_t B, int64_t A, int64_t classes, int64_t HW) {
    ops::yolo_activate(data, data, B, A, classes, HW);
  }

 private:
  friend class CudaDarknetNetwork;  // nn/darknet_cuda.hpp: the same network's forward on the GPU

  // Convolution i's shape for a batch of B images.
  ops::Conv2dShape conv_shape(size_t i, int64_t B) const {
    ops::Conv2dShape s = convs_[i].shape;
    s.B = B, s.H = cfg_.layers[i].in.h, s.W = cfg_.layers[i].in.w;
    return s;
  }

  io::darknet::Config cfg_;
  DarknetBufferPlan plan_;
  std::vector<FoldedConv> convs_;  // per layer (empty for non-convolutions)
};

}  // namespace simad::nn
