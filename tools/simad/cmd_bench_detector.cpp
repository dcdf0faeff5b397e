// tools/simad/cmd_bench_detector.cpp: `simad bench detector`, the training throughput of the SynthAds
// detector (configs/synthads-detector.cfg) on this machine's cores, and where an iteration's time
// goes.
//
// An iteration is train::DetectorTrainer::step, as `simad train-detector` runs it: a batch from
// data::DetectionLoader (real SynthAds images, generated into a temporary folder, or --data, with
// Darknet's augmentation), forward in training mode, the YOLO loss, backward, the SGD update. The
// network's per-layer timing (nn::DarknetLayerTimes, set_layer_times) splits forward and backward by
// layer and, inside each [convolutional], into the convolution (ops::conv2d_*), batch norm and the
// activation; the step's wall time less the loader and the two passes is the update (with
// zero_grad). Shares are of the summed wall time of the timed iterations, so they add up to 1 with
// the "other" row (what the passes do outside any layer: the copy of the input, buffer resizing).
// Warm-up iterations (first touches of every buffer) are not timed.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "bench_timing.hpp"
#include "commands.hpp"
#include "machine.hpp"
#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/data/detection_dataset.hpp"
#include "simad/data/synthads.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/nn/darknet_train.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/ops/gemm.hpp"
#include "simad/train/detector_trainer.hpp"

namespace simad::cli {
namespace {

struct BenchDetectorOptions {
  std::string cfg = "configs/synthads-detector.cfg";
  std::string data;  // a `simad synth` folder or JSONL; empty: generate --ads ads into a temporary folder
  int batch = 16, iterations = 40, warmup = 1, ads = 64, threads = 0, loader_threads = 0;
  uint64_t seed = 1;
  bool quick = false, per_layer = false;
  std::string json_path;
};

// A temporary folder removed on scope exit (also when the benchmark throws).
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("simad-bench-detector-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// A row of the table: one kind of work, seconds summed over the timed iterations.
struct Part {
  std::string name;
  double forward = 0, backward = 0, other = 0;  // other: neither pass (loader, update)
  double seconds() const { return forward + backward + other; }
};

void run_bench_detector(const BenchDetectorOptions& opt) {
  BenchDetectorOptions o = opt;
  if (o.quick) o.iterations = std::min(o.iterations, 2), o.ads = std::min(o.ads, 16);
  if (o.threads > 0) set_num_threads(o.threads);
  SIMAD_CHECK(std::filesystem::exists(o.cfg), "bench detector: no cfg '", o.cfg,
              "' (run from the source tree, or give --cfg configs/synthads-detector.cfg)");
  const io::darknet::Config cfg = io::darknet::read_cfg(o.cfg);

  // The data: SynthAds rows (every split: a benchmark only needs images and boxes).
  std::unique_ptr<TempDir> temp;
  std::string jsonl, data_note;
  if (o.data.empty()) {
    temp = std::make_unique<TempDir>();
    data::synthads::SynthConfig sc;
    sc.ads = o.ads, sc.image_size = cfg.net.width, sc.seed = 11, sc.progress = false;
    data::synthads::write_synthads(temp->path, sc);
    jsonl = (temp->path / "ads.jsonl").string();
    data_note = "SynthAds, " + std::to_string(o.ads) + " ads at " + std::to_string(cfg.net.width) +
                " px generated in a temporary folder";
  } else {
    const std::filesystem::path p(o.data);
    jsonl = std::filesystem::is_directory(p) ? (p / "ads.jsonl").string() : o.data;
    SIMAD_CHECK(std::filesystem::exists(jsonl), "bench detector: no dataset '", jsonl, "' (write one with simad synth)");
    data_note = "'" + jsonl + "'";
  }
  const data::DetectionDataset ds = data::DetectionDataset::open(jsonl);
  data_note += " (" + std::to_string(ds.size()) + " images, all splits), Darknet augmentation, ";
  data_note += o.loader_threads == 0 ? "batches built inline (timed as data loading)"
                                     : std::to_string(o.loader_threads) +
                                           " loader threads ahead (data loading = the wait for them)";

  // The network and the trainer, as train-detector sets them up (batch overridden, subdivisions 1).
  nn::DarknetTrainNetwork<float> net(cfg);
  net.init_random(o.seed);
  train::DetectorSgdOptions sgd = train::detector_sgd_options(cfg);
  sgd.batch = o.batch, sgd.subdivisions = 1;
  train::DetectorTrainer trainer(net, sgd, o.seed);
  data::DetectionLoader loader(ds, o.batch, cfg.net.width, cfg.net.height, train::detector_augment(cfg), o.seed, o.loader_threads);
  bool timing = false;
  double data_s = 0;
  auto next = [&](std::vector<float>& x, std::vector<std::vector<nn::YoloTruth>>& t) {
    const auto t0 = std::chrono::steady_clock::now();
    loader.next(x, t);
    if (timing) data_s += seconds_since(t0);
  };

  int64_t params = 0, convs = 0;
  for (const train::ParamSlice& s : net.params()) params += s.numel;
  double conv_fwd_flop = 0, conv_bwd_flop = 0;  // per iteration
  std::vector<ops::Conv2dShape> shapes(cfg.layers.size());
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    const io::darknet::Layer& l = cfg.layers[i];
    if (const auto* c = l.as<io::darknet::Convolutional>()) {
      ops::Conv2dShape& s = shapes[i];
      s = {o.batch, l.in.c, l.in.h, l.in.w, c->filters, c->size, c->stride, c->padding};
      ++convs;
      conv_fwd_flop += s.flops();
      conv_bwd_flop += i == 0 ? s.flops() : 2 * s.flops();  // dW, and dX except for the input layer
    }
  }
  const int classes = cfg.layers[size_t(cfg.yolo_layers().front())].as<io::darknet::Yolo>()->classes;

  const Machine machine = read_machine();
  std::printf("simad bench detector: %s, %d cores, %d threads, GEMM %s, load %.2f\n", machine.cpu.c_str(),
              machine.cores, num_threads(), ops::cpu_gemm_name().c_str(), load_average());
  std::printf("network: %s (%zu layers, %lld convolutional, %.2f M parameters, %dx%d, %d classes), "
              "%.3f GFLOP of convolution forward per image\n",
              o.cfg.c_str(), cfg.layers.size(), static_cast<long long>(convs), double(params) * 1e-6, cfg.net.width,
              cfg.net.height, classes, conv_fwd_flop / o.batch * 1e-9);
  std::printf("data: %s\n", data_note.c_str());
  std::printf("training: batch %d, SGD (lr %g, momentum %g, decay %g), %d warm-up + %d timed iterations\n", o.batch,
              sgd.learning_rate, sgd.momentum, sgd.decay, o.warmup, o.iterations);
  std::fflush(stdout);

  nn::DarknetLayerTimes times;
  std::vector<double> step_s;
  double last_loss = 0;
  for (int it = 0; it < o.warmup + o.iterations; ++it) {
    if (it == o.warmup) {
      timing = true;
      net.set_layer_times(&times);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const train::DetectorStepStats st = trainer.step(next);
    const double s = seconds_since(t0);
    if (timing) step_s.push_back(s);
    last_loss = st.loss_per_image();
  }
  net.set_layer_times(nullptr);
  SIMAD_CHECK(std::isfinite(last_loss), "bench detector: the loss is not finite (", last_loss, ")");

  // Sums by kind of work.
  double total = 0;
  for (double s : step_s) total += s;
  std::deque<Part> parts;  // references stay valid as rows are added
  std::map<std::string, size_t> index;
  auto part = [&](const std::string& name) -> Part& {
    const auto [it, added] = index.emplace(name, parts.size());
    if (added) parts.push_back({name});
    return parts[it->second];
  };
  Part& conv = part("convolution (conv2d)");
  double fwd_named = 0, bwd_named = 0;
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    const io::darknet::Layer& l = cfg.layers[i];
    const nn::DarknetLayerTimes::Layer& t = times.layers[i];
    if (const auto* c = l.as<io::darknet::Convolutional>()) {
      conv.forward += t.conv_forward, conv.backward += t.conv_backward;
      if (c->batch_normalize) {
        Part& bn = part("batch norm");
        bn.forward += t.bn_forward, bn.backward += t.bn_backward;
      }
      if (c->batch_normalize && c->activation != io::darknet::Activation::linear) {
        Part& act = part(io::darknet::activation_name(c->activation));
        act.forward += t.act_forward, act.backward += t.act_backward;
      }
      fwd_named += t.conv_forward + t.bn_forward + t.act_forward;
      bwd_named += t.conv_backward + t.bn_backward + t.act_backward;
    } else {
      Part& p = part(std::string(io::darknet::layer_type_name(l.op)) + (l.as<io::darknet::Yolo>() ? " (copy)" : ""));
      p.forward += t.forward, p.backward += t.backward;
      fwd_named += t.forward, bwd_named += t.backward;
    }
  }
  part("yolo loss").backward += times.loss;
  part("clear layer gradients").backward += times.clear_gradients;
  const double update = std::max(0.0, total - data_s - times.forward_total - times.backward_total);
  part("SGD update + zero_grad").other += update;
  part("data loading").other += data_s;
  Part& rest = part("other (input copy, buffers)");
  rest.forward += std::max(0.0, times.forward_total - fwd_named);
  rest.backward += std::max(0.0, times.backward_total - bwd_named - times.loss - times.clear_gradients);

  const double n = double(step_s.size());
  const double ips = double(o.batch) * n / total;
  // Shares of the accounted time: the clamps above (timer noise under load can make a difference
  // slightly negative) would otherwise let the shares stray from adding up to 1.
  double accounted = 0;
  for (const Part& p : parts) accounted += p.seconds();
  auto ms = [&](double s) { return s / n * 1e3; };
  std::printf("\n%-30s %11s %12s %9s %8s\n", "part (per iteration)", "forward ms", "backward ms", "total ms", "share");
  nlohmann::json parts_json = nlohmann::json::array();
  double fwd_sum = 0, bwd_sum = 0;
  for (const Part& p : parts) {
    std::printf("%-30s %11.2f %12.2f %9.2f %7.1f%%\n", p.name.c_str(), ms(p.forward), ms(p.backward), ms(p.seconds()),
                100.0 * p.seconds() / accounted);
    fwd_sum += p.forward, bwd_sum += p.backward;
    parts_json.push_back({{"part", p.name}, {"forward_s", p.forward / n}, {"backward_s", p.backward / n},
                          {"seconds", p.seconds() / n}, {"share", p.seconds() / accounted}});
  }
  std::printf("%-30s %11.2f %12.2f %9.2f %7.1f%%\n", "iteration", ms(fwd_sum), ms(bwd_sum), ms(total), 100.0);
  const double conv_fwd_share = conv.forward / accounted, conv_bwd_share = conv.backward / accounted;
  const double fwd_gflops = conv.forward > 0 ? conv_fwd_flop * n / conv.forward * 1e-9 : 0.0;
  const double bwd_gflops = conv.backward > 0 ? conv_bwd_flop * n / conv.backward * 1e-9 : 0.0;
  std::printf("\nconvolutions: forward %.1f%% of the iteration (%.1f GFLOP/s), backward %.1f%% (%.1f GFLOP/s), "
              "together %.1f%%\n",
              100 * conv_fwd_share, fwd_gflops, 100 * conv_bwd_share, bwd_gflops, 100 * (conv_fwd_share + conv_bwd_share));
  const auto [lo, hi] = std::minmax_element(step_s.begin(), step_s.end());
  std::printf("throughput: %.1f img/s (%.3f s per iteration of %d images; fastest %.3f s, slowest %.3f s); "
              "loss per image %.2f at the last iteration\n",
              ips, total / n, o.batch, *lo, *hi, last_loss);

  nlohmann::json layers_json = nlohmann::json::array();
  if (o.per_layer)
    std::printf("\n%5s %-14s %-14s %11s %12s %11s %12s %9s %9s\n", "layer", "type", "output", "forward ms",
                "backward ms", "conv fwd ms", "conv bwd ms", "fwd GF/s", "bwd GF/s");
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    const io::darknet::Layer& l = cfg.layers[i];
    const nn::DarknetLayerTimes::Layer& t = times.layers[i];
    const bool is_conv = l.as<io::darknet::Convolutional>() != nullptr;
    const double f = is_conv ? shapes[i].flops() : 0.0, b = is_conv ? (i == 0 ? f : 2 * f) : 0.0;
    const double fg = t.conv_forward > 0 ? f * n / t.conv_forward * 1e-9 : 0.0;
    const double bg = t.conv_backward > 0 ? b * n / t.conv_backward * 1e-9 : 0.0;
    const std::string out = std::to_string(l.out.c) + "x" + std::to_string(l.out.h) + "x" + std::to_string(l.out.w);
    if (o.per_layer)
      std::printf("%5zu %-14s %-14s %11.2f %12.2f %11.2f %12.2f %9.1f %9.1f\n", i, io::darknet::layer_type_name(l.op),
                  out.c_str(), ms(t.forward), ms(t.backward), ms(t.conv_forward), ms(t.conv_backward), fg, bg);
    layers_json.push_back({{"layer", i}, {"type", io::darknet::layer_type_name(l.op)}, {"output", out},
                           {"forward_s", t.forward / n}, {"backward_s", t.backward / n},
                           {"conv_forward_s", t.conv_forward / n}, {"conv_backward_s", t.conv_backward / n},
                           {"bn_forward_s", t.bn_forward / n}, {"bn_backward_s", t.bn_backward / n},
                           {"activation_forward_s", t.act_forward / n}, {"activation_backward_s", t.act_backward / n}});
  }

  if (!o.json_path.empty()) {
    std::ofstream f(o.json_path);
    SIMAD_CHECK(f, "cannot create '", o.json_path, "'");
    const nlohmann::json j{{"context", {{"cpu", machine.cpu}, {"cores", machine.cores}, {"simad_threads", num_threads()},
                                        {"gemm", ops::cpu_gemm_name()}, {"load", load_average()}}},
                           {"cfg", o.cfg},
                           {"data", data_note},
                           {"batch", o.batch},
                           {"warmup_iterations", o.warmup},
                           {"iterations", o.iterations},
                           {"images_per_s", ips},
                           {"seconds_per_iteration", total / n},
                           {"iteration_seconds", step_s},
                           {"conv_forward_share", conv_fwd_share},
                           {"conv_backward_share", conv_bwd_share},
                           {"conv_forward_gflops", fwd_gflops},
                           {"conv_backward_gflops", bwd_gflops},
                           {"loss_per_image", last_loss},
                           {"parts", parts_json},
                           {"layers", layers_json}};
    f << j.dump(2) << "\n";
    SIMAD_CHECK(f.good(), "cannot write '", o.json_path, "'");
  }
}

}  // namespace

void register_bench_detector(CLI::App& bench) {
  auto o = std::make_shared<BenchDetectorOptions>();
  CLI::App* cmd =
      bench.add_subcommand("detector", "Detector training throughput (img/s) and its time by layer type");
  cmd->footer(
      "Full training iterations of the SynthAds detector (forward in training mode, YOLO loss, backward, SGD\n"
      "update, data loading) on real augmented SynthAds batches; prints img/s and each kind of work's share of\n"
      "the time, with the convolutions' forward and backward apart (docs/detector.md \"Benchmark\"). Example:\n"
      "  simad bench detector --iterations 40 --per-layer --json detector-bench.json");
  cmd->add_option("--cfg", o->cfg, "Darknet cfg to train")->capture_default_str()->type_name("FILE");
  cmd->add_option("--data", o->data, "A `simad synth` folder or JSONL to draw batches from (default: generate --ads)")
      ->type_name("DIR|FILE");
  cmd->add_option("--ads", o->ads, "Ads to generate when --data is not given")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--batch", o->batch, "Images per iteration")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--iterations", o->iterations, "Timed iterations")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--warmup", o->warmup, "Untimed iterations first")->capture_default_str()->check(CLI::Range(0, 1000));
  cmd->add_option("--threads", o->threads, "Compute threads (default: SIMAD_NUM_THREADS, else all cores)")
      ->type_name("N")->check(CLI::Range(1, 1024));
  cmd->add_option("--loader-threads", o->loader_threads,
                  "Threads that build batches ahead (0: inline, so data loading is timed as a part)")
      ->capture_default_str()->check(CLI::Range(0, 64));
  cmd->add_option("--seed", o->seed, "Seed of the initial weights and the augmentation")->capture_default_str();
  cmd->add_flag("--per-layer", o->per_layer, "Also print every layer's forward and backward time");
  cmd->add_flag("--quick", o->quick, "2 timed iterations on 16 ads (a smoke run)");
  cmd->add_option("--json", o->json_path, "Also write the results as JSON to FILE")->type_name("FILE");
  cmd->callback([o] { run_bench_detector(*o); });
}

static const RegisterBenchSuite kBenchDetector{30, "detector", &register_bench_detector};

}  // namespace simad::cli
