// tools/simad/cmd_train.cpp: `simad train`, train ION or ToTYEmb on a data folder and save the model.
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "model_options.hpp"
#include "model_pipeline.hpp"
#include "simad/core/parallel.hpp"

namespace simad::cli {
namespace {

struct TrainCommand {
  std::string data, out, cache, detector_cfg, detector_weights, region_features = models::DataConfig{}.region_features;
  pipeline::ModelSpec spec;
  train::TrainerOptions trainer;
  int grid = 7;
  int64_t max_words = 32;
  int threads = 0;
  bool quiet = false;
};

void run_train(TrainCommand& c) {
  if (c.threads > 0) set_num_threads(c.threads);
  const text::Tokenizer tok = text::Tokenizer::load();
  models::DataConfig base;
  base.region_source = c.spec.region_source, base.grid = c.grid, base.max_words = c.max_words;
  base.detector_cfg = c.detector_cfg, base.detector_weights = c.detector_weights;
  base.region_features = c.region_features;
  pipeline::PreparedData d = pipeline::prepare_data(c.data, base, tok, !c.quiet, c.cache);
  std::cerr << "train: " << d.train.ads.size() << " train, " << d.validation.ads.size() << " validation, "
            << d.test.ads.size() << " test ads; " << d.words.size() << " words, "
            << d.config.class_categories.size() << " training categories\n";
  models::AnyModel m = pipeline::build_model(c.spec, d);
  Rng rng(c.trainer.seed, 0x1417u);
  if (m.is_ion()) m.ion().init(rng);
  else m.totyemb().init(rng);
  c.trainer.max_words = c.max_words;
  c.trainer.progress = !c.quiet;
  const train::TrainResult result = pipeline::train_model(m, d, c.trainer, c.spec.pretrain_epochs);
  models::save_model(c.out, m.store(), m.config_json(), d.config, d.words, d.tags);
  std::cout << "train: " << m.kind() << " (" << m.store().num_params() << " parameters), " << result.steps
            << " steps; best epoch " << result.best_epoch << " (validation loss " << result.best_validation_loss
            << "); saved to " << c.out << "\n";
  if (d.test.ads.size() >= 2) pipeline::print_evaluation(pipeline::evaluate(m, d.config, d.test.ads, !c.quiet));
}

}  // namespace

void register_train(CLI::App& app) {
  auto c = std::make_shared<TrainCommand>();
  CLI::App* cmd = app.add_subcommand("train", "Train ION or ToTYEmb on a data folder (train/validation/test.jsonl + images)");
  cmd->footer(
      "The data folder is what `simad synth` writes (or your own rows in its JSONL format). The model\n"
      "folder gets model.safetensors (weights + config) and the vocabularies; `simad embed` and\n"
      "`simad eval` read it. Every ablation of MODELS.md is an option (see the Model group).\n"
      "Examples:\n"
      "  simad synth --out ads --ads 2000 --image-size 128\n"
      "  simad train --model ion --data ads --out runs/ion --epochs 20\n"
      "  simad train --model totyemb --ranking confidence --data ads --out runs/trans-yolo");
  cmd->add_option("--data", c->data, "Data folder with train.jsonl (validation.jsonl, test.jsonl optional)")
      ->required()->type_name("DIR");
  cmd->add_option("--out", c->out, "Model folder to write")->required()->type_name("DIR");
  add_model_options(cmd, c->spec);
  add_trainer_options(cmd, c->trainer);
  add_detector_options(cmd, c->detector_cfg, c->detector_weights);
  add_region_feature_option(cmd, c->region_features);
  cmd->add_option("--grid", c->grid, "G for --regions grid and detector-grid")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--max-words", c->max_words, "Texts are cut to this many words")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--cache", c->cache, "Region cache folder (default: DATA/.simad-cache)")->type_name("DIR");
  cmd->add_option("--threads", c->threads, "Threads (default: SIMAD_NUM_THREADS, else all cores)")
      ->type_name("N")->check(CLI::Range(1, 1024));
  cmd->add_flag("--quiet", c->quiet, "No progress bars");
  cmd->callback([c] { run_train(*c); });
}

static const RegisterCommand kTrain{50, "train", &register_train};

}  // namespace simad::cli
