// simad/nn/yolov3_configs.hpp: the two YOLOv3 architectures built in code, as Darknet configs
// (io/darknet_cfg.hpp), for any input size and class count: pjreddie's yolov3.cfg and
// yolov3-tiny.cfg (the project never ships those files). load_darknet_config() takes what the CLI's
// --cfg takes: a built-in name or a .cfg file.
//
//   const io::darknet::Config cfg = nn::yolov3_tiny_config(416, 416, 80);
//   const io::darknet::Config any = nn::load_darknet_config("builtin:yolov3");  // or "yolov3.cfg"
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/io/darknet_cfg.hpp"

namespace simad::nn {

namespace detail {

// Appends layers to a Config; indices below zero are relative to the layer being added, as in a cfg.
class DarknetConfigBuilder {
 public:
  using Activation = io::darknet::Activation;

  DarknetConfigBuilder(int width, int height, int channels) {
    cfg_.source = "<builder>";
    cfg_.net.width = width;
    cfg_.net.height = height;
    cfg_.net.channels = channels;
  }
  int conv(int filters, int size, int stride, Activation act = Activation::leaky, bool bn = true) {
    return add(io::darknet::Convolutional{filters, size, stride, size / 2, bn, act});
  }
  int shortcut(int from_relative) { return add(io::darknet::Shortcut{here() + from_relative, Activation::linear}); }
  int route(std::vector<int> relative_or_absolute) {
    for (int& v : relative_or_absolute)
      if (v < 0) v += here();
    return add(io::darknet::Route{std::move(relative_or_absolute)});
  }
  int upsample(int stride) { return add(io::darknet::Upsample{stride, 1.0f}); }
  int maxpool(int size, int stride) { return add(io::darknet::Maxpool{size, stride, size - 1}); }
  int yolo(std::vector<int> mask, std::vector<float> anchors, int classes) {
    const int num = int(anchors.size() / 2);
    return add(io::darknet::Yolo{std::move(mask), std::move(anchors), classes, num});
  }
  int here() const { return int(cfg_.layers.size()); }
  io::darknet::Config finish() {
    io::darknet::infer_shapes(cfg_);
    return std::move(cfg_);
  }

 private:
  int add(io::darknet::LayerOp op) {
    io::darknet::Layer l;
    l.op = std::move(op);
    cfg_.layers.push_back(std::move(l));
    return here() - 1;
  }
  io::darknet::Config cfg_;
};

}  // namespace detail

// pjreddie's yolov3.cfg: Darknet-53 and three detection scales (107 layers).
inline io::darknet::Config yolov3_config(int width = 416, int height = 416, int classes = 80) {
  using Activation = io::darknet::Activation;
  detail::DarknetConfigBuilder b(width, height, 3);
  const std::vector<float> anchors{10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326};
  const int head = 3 * (5 + classes);
  // Darknet-53: conv, then per stage a stride-2 conv and n residual blocks (1x1 half, 3x3 full).
  b.conv(32, 3, 1);
  int filters = 64;
  for (int blocks : {1, 2, 8, 8, 4}) {
    b.conv(filters, 3, 2);
    for (int i = 0; i < blocks; ++i) {
      b.conv(filters / 2, 1, 1);
      b.conv(filters, 3, 1);
      b.shortcut(-3);
    }
    filters *= 2;
  }
  // Three detection scales: 13x13 (anchors 6-8), 26x26 (3-5), 52x52 (0-2) for a 416 input.
  const int stage4_end = 61, stage3_end = 36;  // outputs of the 26x26 and 52x52 backbone stages
  for (int scale = 0; scale < 3; ++scale) {
    const int f = 1024 >> scale;
    if (scale > 0) {
      b.route({-4});
      b.conv(f / 2, 1, 1);
      b.upsample(2);
      b.route({-1, scale == 1 ? stage4_end : stage3_end});
    }
    for (int i = 0; i < 3; ++i) {
      b.conv(f / 2, 1, 1);
      b.conv(f, 3, 1);
    }
    b.conv(head, 1, 1, Activation::linear, false);
    b.yolo({6 - 3 * scale, 7 - 3 * scale, 8 - 3 * scale}, anchors, classes);
  }
  return b.finish();
}

// pjreddie's yolov3-tiny.cfg: six conv + maxpool stages and two detection scales (24 layers).
inline io::darknet::Config yolov3_tiny_config(int width = 416, int height = 416, int classes = 80) {
  using Activation = io::darknet::Activation;
  detail::DarknetConfigBuilder b(width, height, 3);
  const std::vector<float> anchors{10, 14, 23, 27, 37, 58, 81, 82, 135, 169, 344, 319};
  const int head = 3 * (5 + classes);
  for (int i = 0, f = 16; i < 6; ++i, f *= 2) {
    b.conv(f, 3, 1);
    b.maxpool(2, i < 5 ? 2 : 1);  // the last pool is size 2 stride 1: 13x13 stays 13x13
  }
  b.conv(1024, 3, 1);
  b.conv(256, 1, 1);
  b.conv(512, 3, 1);
  b.conv(head, 1, 1, Activation::linear, false);
  b.yolo({3, 4, 5}, anchors, classes);
  b.route({-4});
  b.conv(128, 1, 1);
  b.upsample(2);
  b.route({-1, 8});
  b.conv(256, 3, 1);
  b.conv(head, 1, 1, Activation::linear, false);
  b.yolo({0, 1, 2}, anchors, classes);
  return b.finish();
}

// A config from a file or a built-in architecture ("builtin:yolov3", "builtin:yolov3-tiny"), as the
// CLI takes it. width/height (> 0) set the input size (built-in default 416x416); classes (> 0)
// the class count of a built-in (default 80; a cfg file sets its own).
inline io::darknet::Config load_darknet_config(const std::string& spec, int width = 0, int height = 0,
                                               int classes = 0) {
  const std::string prefix = "builtin:";
  io::darknet::Config cfg;
  if (spec.rfind(prefix, 0) == 0) {
    const std::string name = spec.substr(prefix.size());
    const int w = width > 0 ? width : 416, h = height > 0 ? height : 416, c = classes > 0 ? classes : 80;
    if (name == "yolov3") cfg = yolov3_config(w, h, c);
    else if (name == "yolov3-tiny") cfg = yolov3_tiny_config(w, h, c);
    else fail("unknown built-in cfg '", name, "' (builtin:yolov3 or builtin:yolov3-tiny)");
    cfg.source = spec;
    return cfg;
  }
  SIMAD_CHECK(classes <= 0, "classes can be set for built-in cfgs only (a cfg file sets its own)");
  cfg = io::darknet::read_cfg(spec);
  if (width > 0 || height > 0)
    io::darknet::set_input_size(cfg, width > 0 ? width : cfg.net.width, height > 0 ? height : cfg.net.height);
  return cfg;
}

}  // namespace simad::nn
