// simad/train/detector_trainer.hpp: training a Darknet detector (nn/darknet_train.hpp) as pjreddie
// Darknet does (issue #14): SGD with momentum and weight decay, burn-in and the cfg's learning-rate
// policy, subdivisions, checkpoints that resume bit-identically, and mAP on a validation split.
//
//   auto sgd = train::detector_sgd_options(cfg);          // [net] learning_rate, momentum, decay, ...
//   train::DetectorTrainer trainer(net, sgd, seed);
//   data::DetectionLoader loader(ds, sgd.batch / sgd.subdivisions, w, h, data::Augment{}, seed, 2);
//   auto next = [&](auto& x, auto& t) { loader.next(x, t); };
//   while (trainer.iteration() < n) trainer.step(next);
//   trainer.save_checkpoint("det.weights");                 // det.weights + det.weights.state
//
// The update (Darknet's update_convolutional_layer, src/convolutional_layer.c): with g the gradient
// of the loss SUMMED over the iteration's `batch` images (the yolo loss sums over images),
//   weights:          v = momentum v + g + decay * batch * w;   w -= lr / batch * v
//   biases, scales:   v = momentum v + g;                         w -= lr / batch * v
// Darknet keeps u = -momentum v ("weight_updates" after its scal) and adds -g in backward; the
// iterates are the same. Decay never touches biases or batch-norm scales (Darknet's code: only
// l.weights), and running statistics are not parameters.
//
// Learning rate (Darknet's get_current_rate, src/network.c) at iteration t = 1, 2, ... (Darknet's
// batch_num is seen / batch, counted after the batch is added, so the first update uses t = 1):
//   t < burn_in: lr * (t / burn_in)^power        (power 4 by default)
//   else by policy: constant: lr;  steps: lr * prod of scales[i] over steps[i] <= t;
//   step: lr * scale^(t / step) (integer division);  exp: lr * gamma^t;
//   poly: lr * (1 - t / max_batches)^power.
//
// An iteration draws `subdivisions` mini-batches of batch / subdivisions images (each its own
// forward and batch-norm statistics, gradients accumulated), then updates once, as Darknet.
//
// Checkpoints: save_checkpoint(W) writes W (Darknet .weights, for `simad detect`) and W.state
// (safetensors: parameters, running statistics, "momentum.<slice>" velocities; metadata: iteration,
// seen, mini-batches drawn = the loader position, seed, batch, subdivisions, input size), each
// through a temporary file and a rename. load_checkpoint(W.state) restores all of it; a loader
// seek()ed to mini_batches_drawn() then serves the same batches, and since every op is
// deterministic on any thread count, the resumed run reproduces the uninterrupted one bit for bit.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/data/detection_dataset.hpp"
#include "simad/image/decode.hpp"
#include "simad/image/letterbox.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/io/safetensors.hpp"
#include "simad/nn/darknet.hpp"
#include "simad/nn/darknet_train.hpp"
#include "simad/nn/yolo.hpp"
#include "simad/nn/yolo_loss.hpp"
#include "simad/train/detection_metrics.hpp"
#include "simad/train/param_store.hpp"

namespace simad::train {

inline constexpr const char* kDetectorStateFormat = "simad.detector-state";

// ------------------------------------------------------------------------------------------------
// Options and the learning-rate schedule

struct DetectorSgdOptions {
  double learning_rate = 0.001, momentum = 0.9, decay = 0.0001;  // Darknet's parse_net_options defaults
  int64_t burn_in = 0;
  double power = 4;
  std::string policy = "constant";  // constant, steps, step, exp, poly
  std::vector<int64_t> steps;       // policy steps: at these iterations ...
  std::vector<double> scales;       // ... multiply the rate by these
  int64_t step = 1;                 // policy step
  double scale = 1, gamma = 1;      // policy step / exp
  int64_t max_batches = 0;          // policy poly; the default iteration count
  int batch = 1, subdivisions = 1;  // images per update, forwards per update

  void check(const std::string& what) const {
    SIMAD_CHECK(std::isfinite(learning_rate) && learning_rate >= 0 && std::isfinite(momentum) && momentum >= 0 &&
                    momentum < 1 && std::isfinite(decay) && decay >= 0 && burn_in >= 0 && std::isfinite(power),
                what, ": learning_rate, momentum (in [0, 1)), decay and burn_in must be finite and >= 0");
    SIMAD_CHECK(batch >= 1 && subdivisions >= 1 && batch % subdivisions == 0, what, ": batch ", batch,
                " must be a positive multiple of subdivisions ", subdivisions);
    SIMAD_CHECK(policy == "constant" || policy == "steps" || policy == "step" || policy == "exp" || policy == "poly",
                what, ": learning-rate policy '", policy, "' is not supported (constant, steps, step, exp, poly)");
    SIMAD_CHECK(steps.size() == scales.size(), what, ": ", steps.size(), " steps but ", scales.size(), " scales");
    SIMAD_CHECK(step >= 1, what, ": step must be >= 1");
    SIMAD_CHECK(policy != "poly" || max_batches >= 1, what, ": policy poly needs max_batches >= 1");
  }
};

namespace detail {
// A training key's value (kept as text by the cfg parser) as a finite number; `what` names the section.
inline double cfg_number(const std::string& what, const std::string& key, const std::string& text) {
  double v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  SIMAD_CHECK(r.ec == std::errc() && r.ptr == text.data() + text.size() && !text.empty() && std::isfinite(v), what,
              ": ", key, "='", text, "' is not a number");
  return v;
}
}  // namespace detail

// The [net] training keys of a cfg (kept as text by the parser), with Darknet's defaults.
inline DetectorSgdOptions detector_sgd_options(const io::darknet::Config& cfg) {
  DetectorSgdOptions o;
  const auto& keys = cfg.net.ignored_keys;
  const std::string what = "darknet cfg '" + cfg.source + "' [net]";
  auto number = [&](const std::string& key, const std::string& text) { return detail::cfg_number(what, key, text); };
  auto integer = [&](const std::string& key, const std::string& text) {
    const double v = number(key, text);
    SIMAD_CHECK(v == std::floor(v) && std::abs(v) < 1e15, what, ": ", key, "='", text, "' is not an integer");
    return int64_t(v);
  };
  auto get = [&](const char* key, auto& v, auto parse) {
    if (const auto it = keys.find(key); it != keys.end()) v = static_cast<std::remove_reference_t<decltype(v)>>(parse(key, it->second));
  };
  auto list = [&](const char* key, auto& v, auto parse) {
    const auto it = keys.find(key);
    if (it == keys.end()) return;
    v.clear();
    const std::string& text = it->second;
    size_t start = 0;
    while (start <= text.size()) {
      size_t comma = text.find(',', start);
      if (comma == std::string::npos) comma = text.size();
      const std::string item = text.substr(start, comma - start);
      if (!item.empty()) v.push_back(parse(key, item));
      start = comma + 1;
      SIMAD_CHECK(v.size() <= 10000, what, ": ", key, " has too many entries");
    }
  };
  get("learning_rate", o.learning_rate, number);
  get("momentum", o.momentum, number);
  get("decay", o.decay, number);
  get("burn_in", o.burn_in, integer);
  get("power", o.power, number);
  get("max_batches", o.max_batches, integer);
  get("step", o.step, integer);
  get("scale", o.scale, number);
  get("gamma", o.gamma, number);
  get("subdivisions", o.subdivisions, integer);
  if (const auto it = keys.find("policy"); it != keys.end()) o.policy = it->second;
  list("steps", o.steps, integer);
  list("scales", o.scales, number);
  o.batch = cfg.net.batch;
  o.check(what);
  return o;
}

// The augmentation keys of a cfg over `base` (simad's defaults where the cfg is silent: Darknet's
// would be no hue, saturation or exposure jitter): [net] hue, saturation, exposure, flip (0 / 1) and
// the last [yolo] layer's jitter, as Darknet's detector training reads them.
inline data::Augment detector_augment(const io::darknet::Config& cfg, data::Augment base = {}) {
  auto read = [&](const std::map<std::string, std::string>& keys, const std::string& what, const char* key,
                  double& v, double lo, double hi) {
    const auto it = keys.find(key);
    if (it == keys.end()) return;
    v = detail::cfg_number(what, key, it->second);
    SIMAD_CHECK(v >= lo && v <= hi, what, ": ", key, "=", it->second, " is outside [", lo, ", ", hi, "]");
  };
  const std::string net = "darknet cfg '" + cfg.source + "' [net]";
  read(cfg.net.ignored_keys, net, "hue", base.hue, 0.0, 0.5);
  read(cfg.net.ignored_keys, net, "saturation", base.saturation, 1.0, 100.0);
  read(cfg.net.ignored_keys, net, "exposure", base.exposure, 1.0, 100.0);
  double flip = base.flip ? 1.0 : 0.0;
  read(cfg.net.ignored_keys, net, "flip", flip, 0.0, 1.0);
  SIMAD_CHECK(flip == 0.0 || flip == 1.0, net, ": flip must be 0 or 1");
  base.flip = flip == 1.0;
  const std::vector<int> yolo = cfg.yolo_layers();
  if (!yolo.empty()) {
    const auto& layer = cfg.layers[size_t(yolo.back())];
    read(layer.ignored_keys, "darknet cfg '" + cfg.source + "' [yolo] layer " + std::to_string(yolo.back()), "jitter",
         base.jitter, 0.0, 0.9);
  }
  return base;
}

// Darknet's get_current_rate at iteration t (1 for the first update).
inline double detector_learning_rate(const DetectorSgdOptions& o, int64_t t) {
  if (t < o.burn_in) return o.learning_rate * std::pow(double(t) / double(o.burn_in), o.power);
  if (o.policy == "steps") {
    double rate = o.learning_rate;
    for (size_t i = 0; i < o.steps.size(); ++i) {
      if (o.steps[i] > t) return rate;
      rate *= o.scales[i];
    }
    return rate;
  }
  if (o.policy == "step") return o.learning_rate * std::pow(o.scale, double(t / o.step));
  if (o.policy == "exp") return o.learning_rate * std::pow(o.gamma, double(t));
  if (o.policy == "poly") return o.learning_rate * std::pow(std::max(0.0, 1.0 - double(t) / double(o.max_batches)), o.power);
  return o.learning_rate;
}

// ------------------------------------------------------------------------------------------------
// SGD with momentum and decoupled-by-slice weight decay, over a ParamStore's flat buffers

template <typename T>
class DarknetSgd {
 public:
  // decayed(slice): whether weight decay applies (DarknetTrainNetwork::is_decayed: the conv weights).
  DarknetSgd(const ParamStore<T>& store, const std::function<bool(const ParamSlice&)>& decayed)
      : velocity_(Tensor<T>::zeros({store.buffer_size()})) {
    for (const ParamSlice& s : store) ranges_.push_back({s.offset, s.numel, decayed(s)});
  }

  // One update from the gradients in store.grads() (summed over `batch` images).
  void step(const ParamStore<T>& store, double lr, double momentum, double decay, int64_t batch) {
    SIMAD_CHECK(store.buffer_size() == velocity_.numel(), "DarknetSgd: the store changed size");
    T* w = store.params().data();
    const T* g = store.grads().data();
    T* v = velocity_.data();
    const T m = T(momentum), step = T(lr / double(batch)), wd = T(decay * double(batch));
    for (const Range& r : ranges_) {
      const T k = r.decayed ? wd : T(0);
      parallel_for(r.numel, int64_t(1) << 14, [&](int64_t a, int64_t b) {
        for (int64_t i = r.offset + a; i < r.offset + b; ++i) {
          v[i] = m * v[i] + g[i] + k * w[i];
          w[i] -= step * v[i];
        }
      });
    }
  }

  const Tensor<T>& velocity() const { return velocity_; }

 private:
  struct Range {
    int64_t offset, numel;
    bool decayed;
  };
  Tensor<T> velocity_;  // (buffer_size) laid out like the store
  std::vector<Range> ranges_;
};

// ------------------------------------------------------------------------------------------------
// The trainer

struct DetectorStepStats {
  int64_t iteration = 0;  // after this step (1 for the first)
  double learning_rate = 0;
  nn::YoloLossTerms loss;  // summed over the iteration's images
  int64_t images = 0;
  double seconds = 0;
  double loss_per_image() const { return images > 0 ? loss.total() / double(images) : 0.0; }
};

using DetectionBatchSource =
    std::function<void(std::vector<float>& images, std::vector<std::vector<nn::YoloTruth>>& truths)>;

class DetectorTrainer {
 public:
  DetectorTrainer(nn::DarknetTrainNetwork<float>& net, const DetectorSgdOptions& sgd, uint64_t seed)
      : net_(net), sgd_(sgd), seed_(seed), opt_(net.params(), &nn::DarknetTrainNetwork<float>::is_decayed) {
    sgd_.check("detector trainer");
  }

  int64_t iteration() const { return iteration_; }
  int64_t mini_batches_drawn() const { return drawn_; }  // the loader position to seek() to on resume
  const DetectorSgdOptions& options() const { return sgd_; }
  int mini_batch() const { return sgd_.batch / sgd_.subdivisions; }
  double average_loss() const { return average_loss_; }  // Darknet's avg: 0.9 avg + 0.1 loss per image

  // One iteration: `subdivisions` mini-batches from next(), one update.
  DetectorStepStats step(const DetectionBatchSource& next) {
    const auto start = std::chrono::steady_clock::now();
    DetectorStepStats st;
    net_.params().zero_grad();
    for (int s = 0; s < sgd_.subdivisions; ++s) {
      next(images_, truths_);
      ++drawn_;
      const int64_t B = int64_t(truths_.size());
      SIMAD_CHECK(B >= 1 && int64_t(images_.size()) == B * net_.input_numel(), "detector trainer: a batch of ",
                  truths_.size(), " truth lists and ", images_.size(), " input values (", net_.input_numel(),
                  " per image)");
      net_.forward(images_.data(), B, true);
      st.loss += net_.backward(truths_);
      st.images += B;
    }
    ++iteration_;
    net_.seen += uint64_t(st.images);
    st.iteration = iteration_;
    st.learning_rate = detector_learning_rate(sgd_, iteration_);
    opt_.step(net_.params(), st.learning_rate, sgd_.momentum, sgd_.decay, st.images);
    const double l = st.loss_per_image();
    average_loss_ = iteration_ == 1 ? l : 0.9 * average_loss_ + 0.1 * l;
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return st;
  }

  // Writes `weights` (Darknet .weights) and state_path(weights), each atomically.
  void save_checkpoint(const std::filesystem::path& weights) const {
    net_.save_darknet_weights(weights);
    io::safetensors::NamedTensors<float> tensors = net_.named_tensors();
    for (const ParamSlice& s : net_.params())
      tensors.emplace_back("momentum." + s.name, opt_.velocity().view(s.offset, s.shape));
    io::safetensors::Metadata meta{{"format", kDetectorStateFormat},
                                   {"iteration", std::to_string(iteration_)},
                                   {"seen", std::to_string(net_.seen)},
                                   {"mini_batches_drawn", std::to_string(drawn_)},
                                   {"seed", std::to_string(seed_)},
                                   {"batch", std::to_string(sgd_.batch)},
                                   {"subdivisions", std::to_string(sgd_.subdivisions)},
                                   {"width", std::to_string(net_.input_width())},
                                   {"height", std::to_string(net_.input_height())},
                                   {"average_loss", std::to_string(average_loss_)}};
    io::safetensors::save(state_path(weights), tensors, meta);
  }
  static std::filesystem::path state_path(const std::filesystem::path& weights) { return weights.string() + ".state"; }

  // Restores what save_checkpoint wrote; the run must use the same cfg, seed, batch and subdivisions.
  void load_checkpoint(const std::filesystem::path& state) {
    const std::string what = "detector state '" + state.string() + "'";
    const io::safetensors::Header h = io::safetensors::read_header(state);
    auto meta = [&](const char* key) -> const std::string& {
      const auto it = h.metadata.find(key);
      SIMAD_CHECK(it != h.metadata.end(), what, ": no metadata '", key, "' (not a simad detector state?)");
      return it->second;
    };
    auto integer = [&](const char* key) {
      const std::string& s = meta(key);
      int64_t v = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      SIMAD_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size() && v >= 0, what, ": metadata '", key, "'='", s,
                  "' is not a non-negative integer");
      return v;
    };
    SIMAD_CHECK(meta("format") == kDetectorStateFormat, what, ": format '", meta("format"), "', expected '",
                kDetectorStateFormat, "'");
    SIMAD_CHECK(uint64_t(integer("seed")) == seed_ && integer("batch") == sgd_.batch &&
                    integer("subdivisions") == sgd_.subdivisions && integer("width") == net_.input_width() &&
                    integer("height") == net_.input_height(),
                what, ": written by a run with seed ", meta("seed"), ", batch ", meta("batch"), ", subdivisions ",
                meta("subdivisions"), ", input ", meta("width"), "x", meta("height"), "; this run has seed ", seed_,
                ", batch ", sgd_.batch, ", subdivisions ", sgd_.subdivisions, ", input ", net_.input_width(), "x",
                net_.input_height(), " (a resume must continue the same run)");
    io::safetensors::NamedTensors<float> tensors = net_.named_tensors();
    for (const ParamSlice& s : net_.params())
      tensors.emplace_back("momentum." + s.name, opt_.velocity().view(s.offset, s.shape));
    io::safetensors::load(state, tensors, true);
    iteration_ = integer("iteration");
    drawn_ = integer("mini_batches_drawn");
    net_.seen = uint64_t(integer("seen"));
    const std::string& avg = meta("average_loss");
    std::from_chars(avg.data(), avg.data() + avg.size(), average_loss_);
  }

 private:
  nn::DarknetTrainNetwork<float>& net_;
  DetectorSgdOptions sgd_;
  uint64_t seed_;
  DarknetSgd<float> opt_;
  int64_t iteration_ = 0, drawn_ = 0;
  double average_loss_ = 0;
  std::vector<float> images_;
  std::vector<std::vector<nn::YoloTruth>> truths_;
};

// One progress line: "iter 120/2000 lr 0.00100 loss 35.2 avg 37.1 (coord .. obj .. noobj .. cls ..)
// iou 0.41, 12.3 img/s".
inline std::string detector_progress_line(const DetectorStepStats& st, int64_t total, double average_loss,
                                          double images_per_second) {
  char buf[320];
  const double n = std::max<double>(1.0, double(st.images));
  std::snprintf(buf, sizeof buf,
                "iter %lld/%lld lr %.6g loss %.3f avg %.3f (coord %.3f obj %.3f noobj %.3f cls %.3f per image) "
                "iou %.3f, %.1f img/s",
                static_cast<long long>(st.iteration), static_cast<long long>(total), st.learning_rate,
                st.loss_per_image(), average_loss, st.loss.coord / n, st.loss.obj / n, st.loss.noobj / n,
                st.loss.cls / n, st.loss.responsible > 0 ? st.loss.iou_sum / double(st.loss.responsible) : 0.0,
                images_per_second);
  return buf;
}

// ------------------------------------------------------------------------------------------------
// Evaluation: mAP at IoU `iou` on a dataset, through the inference path `simad detect` uses
// (nn::DarknetNetwork with batch norm folded, the letterbox, nn::detect with threshold 0.005 as
// Darknet's validator, NMS 0.45). max_images > 0 evaluates the first max_images rows only.
inline DetectionEval evaluate_detector(const nn::DarknetTrainNetwork<float>& net, const data::DetectionDataset& ds,
                                       int64_t max_images = 0, double iou = 0.5, int batch = 8) {
  const nn::DarknetNetwork inference(net.config(), net.to_weights(), net.variant());
  const io::darknet::Config& cfg = net.config();
  const int classes = cfg.layers[size_t(cfg.yolo_layers().front())].as<io::darknet::Yolo>()->classes;
  const size_t n = max_images > 0 ? std::min(ds.size(), size_t(max_images)) : ds.size();
  std::vector<std::vector<nn::Detection>> detections;
  std::vector<std::vector<data::DetectionBox>> truths;
  nn::DetectOptions opt;
  opt.threshold = 0.005f;
  for (size_t i0 = 0; i0 < n; i0 += size_t(batch)) {
    const size_t i1 = std::min(n, i0 + size_t(batch));
    std::vector<image::Image> photos;
    for (size_t i = i0; i < i1; ++i) {
      photos.push_back(image::load(ds.record(i).image_path));
      truths.push_back(ds.record(i).boxes);
    }
    std::vector<image::LetterboxGeometry> geometry;
    const Tensor<float> input =
        image::letterbox_batch(photos, cfg.net.width, cfg.net.height, image::ResizeMode::letterbox, &geometry);
    const auto out = inference.forward(input);
    for (size_t k = 0; k < photos.size(); ++k)
      detections.push_back(nn::detect(out.yolo, cfg, int64_t(k), geometry[k], opt));
  }
  return evaluate_detections(detections, truths, classes, iou);
}

}  // namespace simad::train
