// tools/simad/cmd_darknet.cpp: `simad darknet`, utilities for Darknet files:
//   --random-weights --cfg C --out W [--seed S]   a .weights file with random parameters for cfg C
//                                                (tests and demos: no pretrained weights here)
//   --write-cfg --cfg builtin:yolov3-tiny --out F  the built-in architecture as a .cfg file
//   --summary --cfg C [--weights W]               layers with their shapes (and checks W loads)
// --cfg takes a file or builtin:yolov3 / builtin:yolov3-tiny (with --width/--height/--classes).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "simad/io/darknet.hpp"
#include "simad/nn/yolov3_configs.hpp"

namespace simad::cli {

namespace {

struct DarknetOptions {
  bool random_weights = false, write_cfg = false, summary = false;
  std::string cfg, out, weights;
  uint64_t seed = 1;
  int width = 0, height = 0, classes = 0;
};

void print_summary(const io::darknet::Config& cfg) {
  std::printf("%-4s %-14s %-22s %-16s %-16s\n", "#", "layer", "params", "input", "output");
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    const auto& l = cfg.layers[i];
    std::string what;
    if (const auto* c = l.as<io::darknet::Convolutional>())
      what = std::to_string(c->filters) + " " + std::to_string(c->size) + "x" + std::to_string(c->size) + "/" +
             std::to_string(c->stride) + (c->batch_normalize ? " bn " : " ") + io::darknet::activation_name(c->activation);
    else if (const auto* s = l.as<io::darknet::Shortcut>()) what = "from " + std::to_string(s->from);
    else if (const auto* r = l.as<io::darknet::Route>()) {
      for (int j : r->layers) what += std::to_string(j) + " ";
    } else if (const auto* u = l.as<io::darknet::Upsample>()) what = "x" + std::to_string(u->stride);
    else if (const auto* m = l.as<io::darknet::Maxpool>())
      what = std::to_string(m->size) + "/" + std::to_string(m->stride) + " pad " + std::to_string(m->padding);
    else if (const auto* y = l.as<io::darknet::Yolo>())
      what = std::to_string(y->anchor_count()) + " anchors " + std::to_string(y->classes) + " classes";
    auto dims = [](const io::darknet::Dims& d) {
      return std::to_string(d.c) + "x" + std::to_string(d.h) + "x" + std::to_string(d.w);
    };
    std::printf("%-4zu %-14s %-22s %-16s %-16s\n", i, io::darknet::layer_type_name(l.op), what.c_str(),
                dims(l.in).c_str(), dims(l.out).c_str());
  }
  std::printf("weights file: %lld bytes\n", static_cast<long long>(io::darknet::expected_file_bytes(cfg)));
}

void run_darknet(const DarknetOptions& o) {
  const int modes = int(o.random_weights) + int(o.write_cfg) + int(o.summary);
  SIMAD_CHECK(modes == 1, "choose one of --random-weights, --write-cfg, --summary");
  const io::darknet::Config cfg = nn::load_darknet_config(o.cfg, o.width, o.height, o.classes);
  if (o.random_weights) {
    SIMAD_CHECK(!o.out.empty(), "--random-weights needs --out FILE");
    io::darknet::write_weights(o.out, io::darknet::random_weights(cfg, o.seed));
    std::printf("wrote %s (%lld bytes, seed %llu)\n", o.out.c_str(),
                static_cast<long long>(io::darknet::expected_file_bytes(cfg)), static_cast<unsigned long long>(o.seed));
  } else if (o.write_cfg) {
    SIMAD_CHECK(!o.out.empty(), "--write-cfg needs --out FILE");
    std::ofstream f(o.out, std::ios::binary | std::ios::trunc);
    SIMAD_CHECK(f, "cannot create '", o.out, "'");
    f << io::darknet::to_cfg_text(cfg);
    SIMAD_CHECK(f.good(), "write to '", o.out, "' failed");
    std::printf("wrote %s (%zu layers)\n", o.out.c_str(), cfg.layers.size());
  } else {
    print_summary(cfg);
    if (!o.weights.empty()) {
      const io::darknet::Weights w = io::darknet::read_weights(o.weights, cfg);
      std::printf("%s: version %d.%d.%d, seen %llu, %zu convolutional layers: OK\n", o.weights.c_str(), w.major,
                  w.minor, w.revision, static_cast<unsigned long long>(w.seen), w.convs.size());
    }
  }
}

}  // namespace

void register_darknet(CLI::App& app) {
  auto opt = std::make_shared<DarknetOptions>();
  CLI::App* cmd = app.add_subcommand("darknet", "Darknet files: random weights, built-in cfgs, summaries");
  cmd->footer(
      "Examples:\n"
      "  simad darknet --random-weights --cfg yolov3-tiny.cfg --out tiny.weights --seed 7\n"
      "  simad darknet --write-cfg --cfg builtin:yolov3-tiny --out yolov3-tiny.cfg\n"
      "  simad darknet --summary --cfg builtin:yolov3 --width 608 --height 608");
  cmd->add_flag("--random-weights", opt->random_weights, "Write a .weights file with random parameters for --cfg");
  cmd->add_flag("--write-cfg", opt->write_cfg, "Write --cfg (e.g. a built-in) as a .cfg file");
  cmd->add_flag("--summary", opt->summary, "Print the layers and shapes (and check --weights against them)");
  cmd->add_option("--cfg", opt->cfg, "A Darknet .cfg file, or builtin:yolov3 / builtin:yolov3-tiny")
      ->type_name("CFG")
      ->required();
  cmd->add_option("--out", opt->out, "Output file")->type_name("FILE");
  cmd->add_option("--weights", opt->weights, "With --summary: a .weights file to check")->type_name("FILE");
  cmd->add_option("--seed", opt->seed, "Random seed for --random-weights (default 1)")->type_name("S");
  cmd->add_option("--width", opt->width, "Input width (built-in default 416)")->check(CLI::Range(1, 65536));
  cmd->add_option("--height", opt->height, "Input height (built-in default 416)")->check(CLI::Range(1, 65536));
  cmd->add_option("--classes", opt->classes, "Classes of a built-in cfg (default 80)")->check(CLI::Range(1, 100000));
  cmd->callback([opt] { run_darknet(*opt); });
}

static const RegisterCommand kDarknet{40, "darknet", &register_darknet};

}  // namespace simad::cli
