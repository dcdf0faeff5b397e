// tools/simad/cmd_detect.cpp: `simad detect`, YOLOv3 object detection on image files.
//   simad detect --cfg C --weights W [--names coco.names] [--draw DIR] IMAGE...
// Prints one JSON array: per image {"image", "width", "height", "detections": [{"class", "name",
// "confidence", "box": {"x", "y", "w", "h", "left", "top", "right", "bottom"}}]} with boxes in
// pixels of the original image (x, y = centre), sorted by confidence. An image that cannot be read
// gets {"image", "error"} instead and the others go on; the exit status is 1 only when no image
// could be read. --draw DIR writes DIR/<name>.jpg with the boxes drawn.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "simad/image/decode.hpp"
#include "simad/image/letterbox.hpp"
#include "simad/image/write.hpp"
#include "simad/io/class_names.hpp"
#include "simad/io/darknet.hpp"
#include "simad/nn/darknet.hpp"
#include "simad/nn/yolo.hpp"
#include "simad/nn/yolov3_configs.hpp"

namespace simad::cli {
namespace {

struct DetectOptions {
  std::string cfg, weights, names, draw_dir, bn = "pjreddie";
  std::vector<std::string> images;
  int width = 0, height = 0, batch = 4;
  float threshold = 0.3f, nms = 0.45f;
  bool stretch = false;
};

// A distinct colour per class (Darknet's idea: spread classes over the hue circle).
void class_colour(int cls, int classes, float rgb[3]) {
  const float h = float(cls) / float(std::max(classes, 1)) * 6.0f;
  const int i = int(h) % 6;
  const float f = h - float(int(h));
  const float tab[6][3] = {{1, f, 0}, {1 - f, 1, 0}, {0, 1, f}, {0, 1 - f, 1}, {f, 0, 1}, {1, 0, 1 - f}};
  for (int k = 0; k < 3; ++k) rgb[k] = tab[i][k];
}

void run_detect(const DetectOptions& o) {
  const io::darknet::Config cfg = nn::load_darknet_config(o.cfg, o.width, o.height);
  const auto yolo = cfg.yolo_layers();
  SIMAD_CHECK(!yolo.empty(), "cfg '", cfg.source, "' has no [yolo] layer");
  const int classes = cfg.layers[size_t(yolo[0])].as<io::darknet::Yolo>()->classes;
  const std::vector<std::string> names =
      o.names.empty() ? std::vector<std::string>{} : io::read_class_names(o.names, classes);
  const io::darknet::Weights weights = io::darknet::read_weights(o.weights, cfg);
  const nn::DarknetNetwork net(cfg, weights,
                               o.bn == "alexeyab" ? nn::BatchNormVariant::alexeyab : nn::BatchNormVariant::pjreddie);
  if (!o.draw_dir.empty()) std::filesystem::create_directories(o.draw_dir);
  const image::ResizeMode mode = o.stretch ? image::ResizeMode::stretch : image::ResizeMode::letterbox;
  const nn::DetectOptions dopt{o.threshold, o.nms};

  nlohmann::json results = nlohmann::json::array();
  size_t ok = 0, failed = 0;
  for (size_t start = 0; start < o.images.size(); start += size_t(o.batch)) {
    const size_t end = std::min(o.images.size(), start + size_t(o.batch));
    std::vector<image::Image> images;
    std::vector<size_t> which;
    std::vector<nlohmann::json> entries(end - start);
    for (size_t i = start; i < end; ++i) {
      entries[i - start]["image"] = o.images[i];
      try {
        images.push_back(image::load(o.images[i]));
        which.push_back(i);
      } catch (const std::exception& e) {
        entries[i - start]["error"] = e.what();
        std::cerr << "simad detect: skipping " << o.images[i] << ": " << e.what() << "\n";
        ++failed;
      }
    }
    if (!images.empty()) {
      std::vector<image::LetterboxGeometry> geoms;
      const Tensor<float> input = image::letterbox_batch(images, cfg.net.width, cfg.net.height, mode, &geoms);
      const auto out = net.forward(input);
      for (size_t b = 0; b < images.size(); ++b) {
        const auto dets = nn::detect(out.yolo, cfg, int64_t(b), geoms[b], dopt);
        nlohmann::json& e = entries[which[b] - start];
        e["width"] = images[b].width;
        e["height"] = images[b].height;
        e["detections"] = nlohmann::json::array();
        for (const nn::Detection& d : dets) {
          nlohmann::json j;
          j["class"] = d.class_id;
          if (!names.empty()) j["name"] = names[size_t(d.class_id)];
          j["confidence"] = d.confidence;
          j["box"] = {{"x", d.box.x},         {"y", d.box.y},      {"w", d.box.w},          {"h", d.box.h},
                      {"left", d.left()},     {"top", d.top()},    {"right", d.right()},    {"bottom", d.bottom()}};
          e["detections"].push_back(std::move(j));
        }
        if (!o.draw_dir.empty()) {
          image::Image canvas = images[b];
          for (const nn::Detection& d : dets) {
            float rgb[3];
            class_colour(d.class_id, classes, rgb);
            image::draw_box(canvas, int(d.left()), int(d.top()), int(d.right()), int(d.bottom()), rgb,
                            std::max(1, canvas.height / 200));
          }
          const std::filesystem::path file =
              std::filesystem::path(o.draw_dir) / (std::filesystem::path(o.images[which[b]]).stem().string() + ".jpg");
          image::write_jpeg(canvas, file);
          e["drawn"] = file.string();
        }
        ++ok;
      }
    }
    for (auto& e : entries) results.push_back(std::move(e));
  }
  std::cout << results.dump(2) << "\n";
  SIMAD_CHECK(ok > 0, "no image could be read (", failed, " failed)");
}

}  // namespace

void register_detect(CLI::App& app) {
  auto opt = std::make_shared<DetectOptions>();
  CLI::App* cmd = app.add_subcommand("detect", "Detect objects in images with a Darknet YOLOv3 (cfg + weights)");
  cmd->footer(
      "Prints a JSON array, one entry per image: boxes in pixels of the original image (x, y = centre),\n"
      "confidence = objectness x class probability, per-class NMS, sorted by confidence.\n"
      "Examples:\n"
      "  simad detect --cfg yolov3.cfg --weights yolov3.weights --names coco.names dog.jpg\n"
      "  simad detect --cfg builtin:yolov3-tiny --weights tiny.weights --draw out/ photos/*.jpg");
  cmd->add_option("--cfg", opt->cfg, "A Darknet .cfg file, or builtin:yolov3 / builtin:yolov3-tiny (80 classes)")
      ->type_name("CFG")
      ->required();
  cmd->add_option("--weights", opt->weights, "The Darknet .weights file")->type_name("FILE")->required();
  cmd->add_option("--names", opt->names, "Class names, one per line (e.g. coco.names)")->type_name("FILE");
  cmd->add_option("--width", opt->width, "Network input width (default: the cfg's)")->check(CLI::Range(32, 65536));
  cmd->add_option("--height", opt->height, "Network input height (default: the cfg's)")->check(CLI::Range(32, 65536));
  cmd->add_option("--threshold", opt->threshold, "Confidence threshold (default 0.3)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--nms", opt->nms, "IoU above which NMS suppresses a box of the same class (default 0.45)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--stretch", opt->stretch, "Stretch images to the input size (AlexeyAB) instead of letterboxing");
  cmd->add_option("--bn-epsilon", opt->bn,
                  "Batch-norm formula of the weights' fork: pjreddie (sqrt(var) + 1e-6, default) or alexeyab "
                  "(sqrt(var + 1e-5))")
      ->check(CLI::IsMember({"pjreddie", "alexeyab"}));
  cmd->add_option("--batch", opt->batch, "Images per forward pass (default 4)")->check(CLI::Range(1, 256));
  cmd->add_option("--draw", opt->draw_dir, "Write annotated images to DIR (DIR/<name>.jpg)")->type_name("DIR");
  cmd->add_option("images", opt->images, "Image files (JPEG, PNG, BMP, GIF)")->required();
  cmd->callback([opt] { run_detect(*opt); });
}

static const RegisterCommand kDetect{30, "detect", &register_detect};

}  // namespace simad::cli
