// tools/simad/model_options.hpp: the command-line options of a model configuration and of the
// trainer, shared by `simad train` and `simad experiment`.
#pragma once

#include <CLI/CLI.hpp>

#include "model_pipeline.hpp"

namespace simad::cli {

inline void add_model_options(CLI::App* cmd, pipeline::ModelSpec& s) {
  const char* g = "Model";
  cmd->add_option("--model", s.kind, "Which model: ion (ACL paper) or totyemb (thesis)")
      ->capture_default_str()->check(CLI::IsMember({"ion", "totyemb"}))->group(g);
  cmd->add_option("--regions", s.region_source,
                  "Region inputs: oracle (SynthAds' object boxes) or grid (G x G cells, the Trans+VGG16 baseline), "
                  "both with pixel descriptors; detector (a trained YOLOv3's top detections, MODELS.md; "
                  "--region-features) or detector-grid (its deepest map pooled to G x G cells)")
      ->capture_default_str()->check(CLI::IsMember({"oracle", "grid", "detector", "detector-grid"}))->group(g);
  cmd->add_option("--ranking", s.ranking,
                  "Which regions are kept: text (text-guided: ToTYEmb eq. 11, ION's SCA), confidence (the detector's: "
                  "'w/o text clue' / 'w/o SCA'), all (in order; use with --regions grid)")
      ->capture_default_str()->check(CLI::IsMember({"text", "confidence", "all"}))->group(g);
  cmd->add_option("--fusion", s.fusion,
                  "fused (fusion attention), concat (ION 'w/o DFA'), text_only or image_only (the baselines)")
      ->capture_default_str()->check(CLI::IsMember({"fused", "concat", "text_only", "image_only"}))->group(g);
  cmd->add_flag("!--no-ksg", s.ksg, "ION: without the keyword-specific gate (h' = h)")->group(g);
  cmd->add_option("--gate", s.gate, "ION: keyword weights lambda: hard (the paper, p > 0.5) or soft (p)")
      ->capture_default_str()->check(CLI::IsMember({"hard", "soft"}))->group(g);
  cmd->add_flag("!--no-bilinear", s.bilinear, "ION: DFA without W_f (ToTYEmb's identity)")->group(g);
  cmd->add_option("--k2", s.k2, "ION: regions kept by SCA")->capture_default_str()->check(CLI::Range(1, 1000))->group(g);
  cmd->add_option("--rho", s.rho, "ION: keyword loss weight")->capture_default_str()->check(CLI::Range(0.0, 100.0))->group(g);
  cmd->add_option("--margin", s.margin, "ION: triplet margin gamma")->capture_default_str()->check(CLI::Range(0.0, 100.0))->group(g);
  cmd->add_option("--triplet-distance", s.distance,
                  "ION: distance of the triplet loss: squared (the paper's eq. 14) or euclidean (batch-hard's authors: "
                  "less prone to collapse)")
      ->capture_default_str()->check(CLI::IsMember({"squared", "euclidean"}))->group(g);
  cmd->add_flag("!--no-pointer", s.pointer, "ToTYEmb: context from every word instead of the pointer's top words")->group(g);
  cmd->add_option("--pretrain-epochs", s.pretrain_epochs,
                  "ToTYEmb: epochs of text pre-training first (masked POS-tag prediction + coarse industry, thesis 3.1)")
      ->capture_default_str()->check(CLI::Range(0, 10000))->group(g);
  cmd->add_option("--K", s.K, "ToTYEmb: regions kept")->capture_default_str()->check(CLI::Range(1, 1000))->group(g);
  cmd->add_option("--kp", s.kp, "ToTYEmb: words kept by the pointer")->capture_default_str()->check(CLI::Range(1, 1000))->group(g);
  cmd->add_option("--d-model", s.d_model, "Width d of every layer")->capture_default_str()->check(CLI::Range(2, 4096))->group(g);
  cmd->add_option("--heads", s.heads, "Attention heads (must divide d)")->capture_default_str()->check(CLI::Range(1, 64))->group(g);
  cmd->add_option("--layers", s.layers, "Encoder layers (0: the paper's, 4 for ION, 1 for ToTYEmb)")
      ->capture_default_str()->check(CLI::Range(0, 48))->group(g);
  cmd->add_option("--ffn", s.ffn, "Encoder feed-forward width")->capture_default_str()->check(CLI::Range(1, 65536))->group(g);
  cmd->add_option("--embedding-dim", s.embedding_dim, "Size of the ad embedding")
      ->capture_default_str()->check(CLI::Range(1, 65536))->group(g);
  cmd->add_option("--dropout", s.dropout, "Encoder dropout")->capture_default_str()->check(CLI::Range(0.0, 0.9))->group(g);
}

// --detector-cfg / --detector-weights: the detector of the detector region sources.
inline void add_detector_options(CLI::App* cmd, std::string& cfg, std::string& weights,
                                 const char* what = "The detector of --regions detector / detector-grid "
                                                    "(default: the shipped configs/synthads-detector.*)") {
  cmd->add_option("--detector-cfg", cfg, std::string(what) + ": Darknet cfg")->type_name("FILE")->group("Regions");
  cmd->add_option("--detector-weights", weights, std::string(what) + ": Darknet .weights")
      ->type_name("FILE")->group("Regions");
}

// --region-features: what describes a detector region (models/detector_regions.hpp).
inline void add_region_feature_option(CLI::App* cmd, std::string& features) {
  cmd->add_option("--region-features", features,
                  "Features of the detector's regions: map (its hidden map at the box's cell, MODELS.md), pixels "
                  "(the box's pixel descriptor) or map+pixels")
      ->capture_default_str()->check(CLI::IsMember({"map", "pixels", "map+pixels"}))->group("Regions");
}

inline void add_trainer_options(CLI::App* cmd, train::TrainerOptions& o) {
  const char* g = "Training";
  cmd->add_option("--epochs", o.epochs, "Passes over the training ads")->capture_default_str()->check(CLI::Range(1, 100000))->group(g);
  cmd->add_option("--batch", o.batch_size, "Batch size (ToTYEmb)")->capture_default_str()->check(CLI::Range(1, 1 << 20))->group(g);
  cmd->add_option("--classes-per-batch", o.classes_per_batch, "ION: P categories per batch (P x K sampling)")
      ->capture_default_str()->check(CLI::Range(2, 1 << 16))->group(g);
  cmd->add_option("--ads-per-class", o.ads_per_class, "ION: K ads per category in a batch")
      ->capture_default_str()->check(CLI::Range(2, 1 << 16))->group(g);
  cmd->add_option("--lr", o.lr, "Adam learning rate")->capture_default_str()->check(CLI::Range(0.0, 10.0))->group(g);
  cmd->add_option("--seed", o.seed, "Seed of the initialisation, sampling and dropout")->capture_default_str()->group(g);
  cmd->add_option("--checkpoint", o.checkpoint, "Checkpoint file (safetensors): written each epoch and every "
                  "--checkpoint-every steps; everything a resume needs")->type_name("FILE")->group(g);
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "Also checkpoint every N steps (0: epoch ends only)")
      ->capture_default_str()->check(CLI::Range(int64_t(0), int64_t(1) << 40))->group(g);
  cmd->add_option("--resume", o.resume, "Continue from this checkpoint (bit-identical to an uninterrupted run on the CPU)")
      ->type_name("FILE")->group(g);
  cmd->add_option("--metrics", o.metrics_log, "Append one JSON line per step and per epoch to FILE")->type_name("FILE")->group(g);
}

}  // namespace simad::cli
