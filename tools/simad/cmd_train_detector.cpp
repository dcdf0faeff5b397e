// tools/simad/cmd_train_detector.cpp: `simad train-detector`, train a Darknet-cfg YOLOv3 detector
// on detection rows (SynthAds' ads.jsonl: boxes with role product / distractor) as pjreddie Darknet
// does (nn/darknet_train.hpp, train/detector_trainer.hpp; docs/detector.md "Training").
//   simad train-detector --cfg C --data DIR --out W [--init W0] [--iterations N] [--batch B]
//                        [--checkpoint-every N] [--resume] [--eval-split validation]
// Writes W (Darknet .weights: `simad detect --cfg C --weights W` reads it) and W.state (the
// training state: momentum, iteration, loader position), at every checkpoint and at the end; then
// prints mAP@0.5 on the evaluation split.
// GCC 12 warns falsely (-Wrestrict, bug 105329) in safetensors' header assembly once it is inlined
// into the checkpoint writer; the warning sits in libstdc++'s char_traits.h, so only a file-wide
// pragma reaches it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "simad/core/parallel.hpp"
#include "simad/data/detection_dataset.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/nn/darknet_train.hpp"
#include "simad/train/detector_trainer.hpp"

namespace simad::cli {
namespace {

struct TrainDetectorCommand {
  std::string cfg, data, init, out, eval_split = "validation";
  int64_t iterations = 0, checkpoint_every = 0, eval_every = 0, eval_images = 0, log_every = 10;
  int batch = 0, subdivisions = 0, threads = 0, loader_threads = 1;
  double learning_rate = 0;
  int64_t burn_in = -1;
  uint64_t seed = 1;
  bool resume = false, no_augment = false, quiet = false, eval_only = false;
};

std::string jsonl_of(const std::string& data) {
  const std::filesystem::path p(data);
  if (std::filesystem::is_directory(p)) {
    const std::filesystem::path ads = p / "ads.jsonl";
    SIMAD_CHECK(std::filesystem::exists(ads), "train-detector: '", data, "' has no ads.jsonl (write one with simad synth)");
    return ads.string();
  }
  SIMAD_CHECK(std::filesystem::exists(p), "train-detector: the data '", data, "' does not exist");
  return data;
}

void print_eval(const char* label, const train::DetectionEval& e, int64_t images) {
  std::printf("%s: mAP@0.5 %.4f on %lld images (AP product %.4f over %lld truths, distractor %.4f over %lld); "
              "product found in %.4f of %lld images\n",
              label, e.map, static_cast<long long>(images), e.ap.size() > 0 ? e.ap[0] : NAN,
              static_cast<long long>(e.truths_per_class.size() > 0 ? e.truths_per_class[0] : 0),
              e.ap.size() > 1 ? e.ap[1] : NAN,
              static_cast<long long>(e.truths_per_class.size() > 1 ? e.truths_per_class[1] : 0), e.product_found,
              static_cast<long long>(e.product_images));
  std::fflush(stdout);
}

void run_train_detector(const TrainDetectorCommand& c) {
  if (c.threads > 0) set_num_threads(c.threads);
  const io::darknet::Config cfg = io::darknet::read_cfg(c.cfg);
  train::DetectorSgdOptions sgd = train::detector_sgd_options(cfg);
  if (c.batch > 0) sgd.batch = c.batch;
  if (c.subdivisions > 0) sgd.subdivisions = c.subdivisions;
  if (c.learning_rate > 0) sgd.learning_rate = c.learning_rate;
  if (c.burn_in >= 0) sgd.burn_in = c.burn_in;
  sgd.check("train-detector (cfg '" + c.cfg + "' with the command-line overrides)");

  const std::string jsonl = jsonl_of(c.data);
  nn::DarknetTrainNetwork<float> net(cfg);
  if (c.eval_only) {  // --eval-only: the weights of --init (else --out) on --eval-split, no training
    const std::string weights = c.init.empty() ? c.out : c.init;
    if (weights.ends_with(".safetensors")) net.load_safetensors(weights);
    else net.load_darknet_weights(weights);
    const data::DetectionDataset eval_set = data::DetectionDataset::open(jsonl, c.eval_split);
    const int64_t n = c.eval_images > 0 ? std::min<int64_t>(c.eval_images, int64_t(eval_set.size()))
                                        : int64_t(eval_set.size());
    print_eval(("eval (" + c.eval_split + ", '" + weights + "')").c_str(), train::evaluate_detector(net, eval_set, n), n);
    return;
  }
  const int64_t iterations = c.iterations > 0 ? c.iterations : sgd.max_batches;
  SIMAD_CHECK(iterations > 0, "train-detector: give --iterations or max_batches in the cfg '", c.cfg, "'");
  const data::DetectionDataset train_set = data::DetectionDataset::open(jsonl, "train");
  train::DetectorTrainer trainer(net, sgd, c.seed);
  const std::filesystem::path state = train::DetectorTrainer::state_path(c.out);
  if (c.resume) {
    SIMAD_CHECK(std::filesystem::exists(state), "train-detector --resume: no training state '", state.string(),
                "' (written by a run with --out ", c.out, ")");
    trainer.load_checkpoint(state);
    std::cerr << "train-detector: resumed from '" << state.string() << "' at iteration " << trainer.iteration() << "\n";
  } else if (!c.init.empty()) {
    if (c.init.ends_with(".safetensors")) net.load_safetensors(c.init);
    else net.load_darknet_weights(c.init);
    net.seen = 0;
  } else {
    net.init_random(c.seed);
  }
  data::Augment aug = train::detector_augment(cfg);  // [net] hue / saturation / exposure / flip, [yolo] jitter
  aug.enabled = !c.no_augment;
  data::DetectionLoader loader(train_set, trainer.mini_batch(), cfg.net.width, cfg.net.height, aug, c.seed,
                               c.loader_threads);
  loader.seek(trainer.mini_batches_drawn());
  auto next = [&](std::vector<float>& x, std::vector<std::vector<nn::YoloTruth>>& t) { loader.next(x, t); };

  std::unique_ptr<data::DetectionDataset> eval_set;
  if (!c.eval_split.empty() && c.eval_split != "none")
    eval_set = std::make_unique<data::DetectionDataset>(data::DetectionDataset::open(jsonl, c.eval_split));
  auto evaluate = [&](const char* label) {
    if (!eval_set) return;
    const int64_t n = c.eval_images > 0 ? std::min<int64_t>(c.eval_images, int64_t(eval_set->size()))
                                        : int64_t(eval_set->size());
    print_eval(label, train::evaluate_detector(net, *eval_set, n), n);
  };

  int64_t params = 0;
  for (const train::ParamSlice& s : net.params()) params += s.numel;
  std::cerr << "train-detector: " << cfg.layers.size() << " layers, " << params << " parameters, input "
            << cfg.net.width << "x" << cfg.net.height << "; " << train_set.size() << " training images; batch "
            << sgd.batch << " (subdivisions " << sgd.subdivisions << "), lr " << sgd.learning_rate << ", burn_in "
            << sgd.burn_in << ", policy " << sgd.policy << "; " << iterations << " iterations on " << num_threads()
            << " threads\n";
  auto window_start = std::chrono::steady_clock::now();
  int64_t window_images = 0;
  while (trainer.iteration() < iterations) {
    const train::DetectorStepStats st = trainer.step(next);
    window_images += st.images;
    SIMAD_CHECK(std::isfinite(st.loss.total()), "train-detector: the loss is not finite at iteration ", st.iteration,
                " (learning rate ", st.learning_rate, " too high?)");
    const bool last = trainer.iteration() == iterations;
    if (!c.quiet && (st.iteration == 1 || st.iteration % c.log_every == 0 || last)) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      std::cerr << train::detector_progress_line(st, iterations, trainer.average_loss(),
                                                 secs > 0 ? double(window_images) / secs : 0.0)
                << "\n";
      window_start = std::chrono::steady_clock::now();
      window_images = 0;
    }
    if (c.checkpoint_every > 0 && st.iteration % c.checkpoint_every == 0 && !last) {
      trainer.save_checkpoint(c.out);
      if (!c.quiet) std::cerr << "train-detector: checkpoint '" << c.out << "' at iteration " << st.iteration << "\n";
    }
    if (c.eval_every > 0 && st.iteration % c.eval_every == 0 && !last) {
      const std::string label = "iteration " + std::to_string(st.iteration);
      evaluate(label.c_str());
    }
  }
  trainer.save_checkpoint(c.out);
  std::cout << "train-detector: " << trainer.iteration() << " iterations, " << net.seen << " images seen; saved '"
            << c.out << "' and '" << state.string() << "'" << std::endl;
  evaluate(("eval (" + c.eval_split + ")").c_str());
}

}  // namespace

void register_train_detector(CLI::App& app) {
  auto c = std::make_shared<TrainDetectorCommand>();
  CLI::App* cmd = app.add_subcommand("train-detector", "Train a YOLOv3-style detector (Darknet cfg) on detection rows");
  cmd->footer(
      "Trains as pjreddie Darknet: SGD with momentum, weight decay on conv weights, learning rate\n"
      "divided by the batch, burn-in and the cfg's policy ([net] learning_rate, momentum, decay,\n"
      "burn_in, policy, steps, scales, max_batches, batch, subdivisions). The data is SynthAds'\n"
      "ads.jsonl (the folder `simad synth` writes) or any JSONL of the same rows: split \"train\" trains,\n"
      "--eval-split is evaluated (mAP at IoU 0.5, as `simad detect` would detect). --out W gets\n"
      "Darknet .weights and W.state (momentum, iteration, loader position); --resume continues from\n"
      "W.state and gives the same weights as an uninterrupted run.\n"
      "Examples:\n"
      "  simad synth --out ads --ads 3000 --seed 11 --image-size 256\n"
      "  simad train-detector --cfg configs/synthads-detector.cfg --data ads --out det.weights \\\n"
      "      --iterations 4000 --checkpoint-every 200\n"
      "  simad train-detector --cfg configs/synthads-detector.cfg --data ads --out det.weights --resume\n"
      "  simad detect --cfg configs/synthads-detector.cfg --weights det.weights ads/images/000001.jpg");
  cmd->add_option("--cfg", c->cfg, "Darknet cfg of the network")->required()->type_name("FILE");
  cmd->add_option("--data", c->data, "Folder with ads.jsonl (simad synth), or a JSONL file")
      ->required()->type_name("DIR");
  cmd->add_option("--out", c->out, "Weights file to write (.weights; the state goes to OUT.state)")
      ->required()->type_name("FILE");
  cmd->add_option("--init", c->init, "Initial weights (.weights for this cfg, or .safetensors); default: random")
      ->type_name("FILE");
  cmd->add_option("--iterations", c->iterations, "Iterations (updates) in all (default: the cfg's max_batches)")
      ->type_name("N")->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  cmd->add_option("--batch", c->batch, "Images per iteration (default: the cfg's batch)")
      ->type_name("B")->check(CLI::Range(1, 4096));
  cmd->add_option("--subdivisions", c->subdivisions, "Forward passes per iteration (default: the cfg's)")
      ->type_name("S")->check(CLI::Range(1, 4096));
  cmd->add_option("--learning-rate", c->learning_rate, "Overrides the cfg's learning_rate")
      ->check(CLI::Range(1e-12, 10.0));
  cmd->add_option("--burn-in", c->burn_in, "Overrides the cfg's burn_in")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  cmd->add_option("--seed", c->seed, "Seed of the initial weights, the shuffling and the augmentation")
      ->capture_default_str();
  cmd->add_option("--threads", c->threads, "Compute threads (default: SIMAD_NUM_THREADS, else all cores)")
      ->type_name("N")->check(CLI::Range(1, 1024));
  cmd->add_option("--loader-threads", c->loader_threads, "Threads that decode and augment batches ahead")
      ->capture_default_str()->check(CLI::Range(0, 64));
  cmd->add_option("--checkpoint-every", c->checkpoint_every, "Write OUT and OUT.state every N iterations")
      ->type_name("N")->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  cmd->add_flag("--resume", c->resume, "Continue from OUT.state");
  cmd->add_option("--eval-split", c->eval_split, "Split evaluated at the end (\"none\": skip)")->capture_default_str();
  cmd->add_option("--eval-every", c->eval_every, "Also evaluate every N iterations")
      ->type_name("N")->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  cmd->add_option("--eval-images", c->eval_images, "Evaluate on the first N images of the split (default: all)")
      ->type_name("N")->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  cmd->add_option("--log-every", c->log_every, "Progress line every N iterations")
      ->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  cmd->add_flag("--eval-only", c->eval_only, "Only evaluate the weights of --init (else --out) on --eval-split");
  cmd->add_flag("--no-augment", c->no_augment, "Train on the letterboxed images as they are");
  cmd->add_flag("--quiet", c->quiet, "No progress lines");
  cmd->callback([c] { run_train_detector(*c); });
}

static const RegisterCommand kTrainDetector{31, "train-detector", &register_train_detector};

}  // namespace simad::cli
