// tools/simad/model_pipeline.hpp: the steps `simad train`, `embed`, `eval`, `experiment` and `demo`
// share: a data folder -> vocabularies, training classes and model inputs; a ModelSpec (a named
// configuration, every MODELS.md ablation a field) -> a model; embedding a set of ads in batches;
// the papers' evaluation (P@1/5/10 on seen and unseen categories, ToTYEmb's accuracy).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/core/progress.hpp"
#include "simad/data/ad_dataset.hpp"
#include "simad/models/detector_regions.hpp"
#include "simad/models/model_file.hpp"
#include "simad/models/regions.hpp"
#include "simad/models/text_pretrain.hpp"
#include "simad/text/tokenizer.hpp"
#include "simad/train/metrics.hpp"
#include "simad/train/trainer.hpp"

namespace simad::cli::pipeline {

namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------------------
// Data

struct Split {
  std::vector<data::AdRecord> records;       // the rows that loaded (same order as ads)
  std::vector<models::AdExample> ads;
  size_t skipped = 0, warnings = 0;
};

struct PreparedData {
  fs::path dir;
  models::DataConfig config;
  text::Vocab words, tags;
  Split train, validation, test;
};

inline void print_problems(const std::string& file, const std::vector<data::RowProblem>& problems, const char* what,
                           size_t max_lines = 5) {
  if (problems.empty()) return;
  std::cerr << file << ": " << problems.size() << " row(s) " << what << "\n";
  for (size_t i = 0; i < problems.size() && i < max_lines; ++i)
    std::cerr << "  line " << problems[i].line << " (id " << problems[i].id << "): " << problems[i].reason << "\n";
  if (problems.size() > max_lines) std::cerr << "  ... and " << problems.size() - max_lines << " more\n";
}

inline Split load_split(const fs::path& file, const PreparedData& d, const text::Tokenizer& tok,
                        const data::AdDatasetOptions& options, bool required) {
  Split s;
  if (!fs::exists(file)) {
    SIMAD_CHECK(!required, "data: ", file.string(), " does not exist (expected train.jsonl, validation.jsonl and "
                "test.jsonl in the data folder, as `simad synth` writes them)");
    return s;
  }
  data::AdRecords rows = data::read_ad_records(file.string());
  print_problems(file.string(), rows.problems, "are not valid ads and were skipped");
  const models::DataConfig& cfg = d.config;
  data::AdDatasetLoad load = data::load_ad_examples(
      rows.records, file.parent_path().string(), tok, d.words, d.tags,
      [&cfg](int32_t category) { return cfg.class_of(category); }, options);
  print_problems(file.string(), load.skipped, "could not be loaded and were skipped");
  print_problems(file.string(), load.warnings, "loaded with a warning");
  s.skipped = rows.problems.size() + load.skipped.size();
  s.warnings = load.warnings.size();
  // Keep the records of the loaded rows, in the examples' order.
  std::map<int64_t, size_t> by_id;
  for (size_t i = 0; i < rows.records.size(); ++i) by_id[rows.records[i].id] = i;
  for (const models::AdExample& a : load.examples) s.records.push_back(rows.records[by_id.at(a.id)]);
  s.ads = std::move(load.examples);
  return s;
}

// The shipped detector's files (configs/ of the source tree): $SIMAD_CONFIGS_DIR, else
// <prefix>/share/simad/configs beside an installed program, else the source tree it was built from.
inline fs::path shipped_config(const std::string& name) {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("SIMAD_CONFIGS_DIR"); env && *env) dirs.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path().parent_path() / "share" / "simad" / "configs");
#ifdef SIMAD_SOURCE_CONFIGS_DIR
  dirs.emplace_back(SIMAD_SOURCE_CONFIGS_DIR);
#endif
  for (const fs::path& d : dirs)
    if (fs::exists(d / name, ec)) return d / name;
  std::string tried;
  for (const fs::path& d : dirs) tried.append(" ").append((d / name).string());
  ::simad::detail::throw_error(
      ::simad::detail::concat("the shipped detector file '", name, "' was not found (tried:", tried,
                              "); set SIMAD_CONFIGS_DIR to the configs/ folder of simad's source, or pass "
                              "--detector-cfg and --detector-weights"),
      ::simad::SourceLocation::current());
}

// Fills the detector's paths of a detector region source (the shipped detector where they are
// empty), loads it and checks it against the fingerprint the config recorded (a trained model's),
// or records its fingerprint (a new one). nullptr for the pixel-descriptor sources.
inline std::shared_ptr<const models::RegionDetector> attach_detector(models::DataConfig& cfg) {
  if (!models::uses_detector(models::parse_region_source(cfg.region_source))) return nullptr;
  if (cfg.detector_cfg.empty()) cfg.detector_cfg = shipped_config("synthads-detector.cfg").string();
  if (cfg.detector_weights.empty()) cfg.detector_weights = shipped_config("synthads-detector.weights").string();
  std::error_code ec;
  for (std::string* p : {&cfg.detector_cfg, &cfg.detector_weights}) {
    const fs::path abs = fs::absolute(*p, ec);
    if (!ec) *p = abs.lexically_normal().string();
  }
  models::RegionDetectorOptions options;
  options.features = models::parse_region_feature_kind(cfg.region_features);
  auto det = models::RegionDetector::load(cfg.detector_cfg, cfg.detector_weights, options);
  SIMAD_CHECK(cfg.detector_fingerprint.empty() || cfg.detector_fingerprint == det->fingerprint(),
              "the model's regions came from a detector with fingerprint ", cfg.detector_fingerprint, "; '",
              cfg.detector_cfg, "' with '", cfg.detector_weights, "' is another (fingerprint ", det->fingerprint(),
              "): pass the model's detector with --detector-cfg and --detector-weights");
  cfg.detector_fingerprint = det->fingerprint();
  return det;
}

inline data::AdDatasetOptions dataset_options(const models::DataConfig& cfg, const std::string& cache_dir, bool progress,
                                              std::shared_ptr<const models::RegionDetector> detector = nullptr) {
  data::AdDatasetOptions o;
  o.source = models::parse_region_source(cfg.region_source);
  o.grid = cfg.grid;
  o.max_words = cfg.max_words;
  o.progress = progress;
  o.cache_dir = cache_dir;
  o.detector = std::move(detector);
  return o;
}

// Reads DIR/train.jsonl (vocabularies and training classes come from it), validation.jsonl and
// test.jsonl. The region cache lives in DIR/.simad-cache unless cache_dir says otherwise.
// With `trained`, its vocabularies and data config are used and only test.jsonl is read (evaluation).
inline PreparedData prepare_data(const fs::path& dir, const models::DataConfig& base, const text::Tokenizer& tok,
                                 bool progress, std::string cache_dir = "",
                                 const models::SavedModel* trained = nullptr) {
  PreparedData d;
  d.dir = dir;
  d.config = base;
  if (cache_dir.empty()) cache_dir = (dir / ".simad-cache").string();
  SIMAD_CHECK(fs::is_directory(dir), "data: ", dir.string(), " is not a folder (make one with `simad synth --out DIR`)");
  if (trained) {
    const std::string cfg_override = base.detector_cfg, weights_override = base.detector_weights;
    d.config = trained->data;
    if (!cfg_override.empty()) d.config.detector_cfg = cfg_override;
    if (!weights_override.empty()) d.config.detector_weights = weights_override;
    d.words = trained->words;
    d.tags = trained->tags;
    auto detector = attach_detector(d.config);
    d.test = load_split(dir / "test.jsonl", d, tok, dataset_options(d.config, cache_dir, progress, detector), true);
    return d;
  }
  const fs::path train_file = dir / "train.jsonl";
  SIMAD_CHECK(fs::exists(train_file), "data: ", train_file.string(),
              " does not exist (make a data folder with `simad synth --out DIR`)");
  const data::AdRecords train_rows = data::read_ad_records(train_file.string());
  auto vocab = data::build_vocabularies(train_rows.records, tok, 1);
  d.words = std::move(vocab.words);
  d.tags = std::move(vocab.tags);
  const std::map<int32_t, int32_t> classes = data::category_labels(train_rows.records);
  d.config.class_categories.assign(classes.size(), -1);
  for (const auto& [category, label] : classes) d.config.class_categories[size_t(label)] = category;
  auto detector = attach_detector(d.config);
  if (detector)
    std::cerr << "data: regions from the detector " << d.config.detector_weights << " (" << d.config.detector_cfg
              << "), features: " << d.config.region_features << "\n";
  const data::AdDatasetOptions options = dataset_options(d.config, cache_dir, progress, detector);
  d.train = load_split(train_file, d, tok, options, true);
  d.validation = load_split(dir / "validation.jsonl", d, tok, options, false);
  d.test = load_split(dir / "test.jsonl", d, tok, options, false);
  SIMAD_CHECK(!d.train.ads.empty(), "data: no usable ad in ", train_file.string());
  return d;
}

// ------------------------------------------------------------------------------------------------
// Models

// A named configuration: one row of the experiment table.
struct ModelSpec {
  std::string name = "ION";
  std::string kind = "ion";              // ion | totyemb
  std::string region_source = "oracle";  // oracle | grid | detector | detector-grid (models/regions.hpp)
  std::string ranking = "text";          // text | confidence | all
  std::string fusion = "fused";          // fused | concat | text_only | image_only
  // ION
  bool ksg = true;
  std::string gate = "hard";
  bool bilinear = true;
  int64_t k2 = 10;
  double rho = 0.05, margin = 0.2;
  // Triplet distance: euclidean by default here (the paper's squared distances collapsed every ION on
  // SynthAds to one point, loss = margin; see docs/models.md); IonConfig keeps the paper's default.
  std::string distance = "euclidean";
  // ToTYEmb
  bool pointer = true;
  int64_t K = 5, kp = 5;
  // Sizes (layers = 0: the paper's, 4 for ION and 1 for ToTYEmb)
  int64_t d_model = 128, heads = 4, layers = 0, ffn = 512, embedding_dim = 128;
  double dropout = 0.1;
  bool pos_tags = true;  // ToTYEmb: POS tags as an input embedding (thesis 3.1)
  double lr = 0;  // > 0: this model's Adam learning rate instead of the trainer's (experiment rows)
  int pretrain_epochs = 0;  // ToTYEmb: epochs of text pre-training (masked POS tags + industry) first

  nlohmann::json to_json() const {
    return {{"name", name},   {"kind", kind},         {"region_source", region_source}, {"ranking", ranking},
            {"fusion", fusion}, {"ksg", ksg},         {"gate", gate},                   {"bilinear", bilinear},
            {"k2", k2},       {"rho", rho},           {"margin", margin},               {"distance", distance}, {"pointer", pointer},
            {"K", K},         {"kp", kp},             {"d_model", d_model},             {"heads", heads},
            {"layers", layers}, {"ffn", ffn},         {"embedding_dim", embedding_dim}, {"dropout", dropout},
            {"pretrain_epochs", pretrain_epochs}, {"lr", lr}};
  }
};

inline models::AnyModel build_model(const ModelSpec& s, const PreparedData& d) {
  SIMAD_CHECK(s.kind == "ion" || s.kind == "totyemb", "model kind must be ion or totyemb, got '", s.kind, "'");
  SIMAD_CHECK(!d.train.ads.empty(), "build_model: no training data");
  nn::TransformerConfig e;
  e.d_model = s.d_model, e.num_heads = s.heads, e.ffn_dim = s.ffn, e.dropout = s.dropout;
  e.num_layers = s.layers > 0 ? s.layers : (s.kind == "ion" ? 4 : 1);
  e.vocab_size = int64_t(d.words.size());
  const int64_t region_dim = d.train.ads[0].region_dim;
  if (s.kind == "ion") {
    models::IonConfig c;
    c.encoder = e;
    c.region_dim = region_dim, c.k2 = s.k2, c.embedding_dim = s.embedding_dim;
    c.use_ksg = s.ksg, c.gate = s.gate == "soft" ? models::KeywordGate::soft : models::KeywordGate::hard;
    c.ranking = models::parse_region_ranking(s.ranking), c.fusion = models::parse_fusion_mode(s.fusion);
    c.bilinear = s.bilinear, c.rho = s.rho, c.margin = s.margin;
    c.distance = s.distance == "euclidean" ? ops::TripletDistance::Euclidean : ops::TripletDistance::Squared;
    return models::AnyModel(std::make_unique<models::Ion<float>>(c));
  }
  models::TotyembConfig c;
  c.encoder = e;
  if (s.pos_tags) c.encoder.pos_tag_count = int64_t(d.tags.size());
  c.region_dim = region_dim, c.num_classes = int64_t(d.config.class_categories.size());
  c.K = s.K, c.kp = s.kp, c.embedding_dim = s.embedding_dim, c.use_pointer = s.pointer;
  c.ranking = models::parse_region_ranking(s.ranking), c.fusion = models::parse_fusion_mode(s.fusion);
  return models::AnyModel(std::make_unique<models::Totyemb<float>>(c));
}

// ToTYEmb's text pre-training (thesis 3.1) on the training ads' text and industries; the encoder's
// weights then go into the model.
inline void pretrain_text(models::Totyemb<float>& m, const PreparedData& d, int epochs, train::TrainerOptions o) {
  models::TextPretrainConfig c;
  c.encoder = m.config().encoder;
  for (const models::AdExample& a : d.train.ads) c.num_industries = std::max<int64_t>(c.num_industries, a.industry + 1);
  models::TextPretrainer<float> p(c);
  Rng rng(o.seed, 0x7E47u);
  p.init(rng);
  o.epochs = epochs, o.checkpoint.clear(), o.resume.clear(), o.checkpoint_every = 0;
  if (o.progress) std::cerr << "text pre-training: " << epochs << " epochs of masked POS tags + industry\n";
  train::train(p, d.train.ads, d.validation.ads, o);
  p.copy_encoder_to(m.store());
}

inline train::TrainResult train_model(models::AnyModel& m, const PreparedData& d, const train::TrainerOptions& o,
                                      int pretrain_epochs = 0) {
  if (m.is_ion()) return train::train(m.ion(), d.train.ads, d.validation.ads, o);
  if (pretrain_epochs > 0 && m.totyemb().config().encoder.pos_tag_count > 0 && o.resume.empty())
    pretrain_text(m.totyemb(), d, pretrain_epochs, o);
  return train::train(m.totyemb(), d.train.ads, d.validation.ads, o);
}

// ------------------------------------------------------------------------------------------------
// Embedding and evaluation

// emb (n, embedding_dim) for every ad, in batches; predicted classes (ToTYEmb) when asked.
inline std::vector<float> embed_all(models::AnyModel& m, const std::vector<models::AdExample>& ads, int64_t max_words,
                                    bool progress, std::vector<int32_t>* predicted = nullptr,
                                    const char* label = "embed") {
  const int64_t E = m.embedding_dim(), n = int64_t(ads.size()), batch = 64;
  std::vector<float> emb(size_t(n * E));
  if (predicted) predicted->assign(size_t(n), -1);
  ProgressBar bar(label, n, progress);
  for (int64_t b0 = 0; b0 < n; b0 += batch) {
    const int64_t b1 = std::min(n, b0 + batch);
    std::vector<const models::AdExample*> rows;
    for (int64_t i = b0; i < b1; ++i) rows.push_back(&ads[size_t(i)]);
    const models::AdBatch<float> b = models::make_batch<float>(rows, max_words);
    m.embed(b, emb.data() + b0 * E);
    if (predicted && !m.is_ion()) {
      const std::vector<float>& logits = m.totyemb().logits();
      const int64_t C = int64_t(logits.size()) / b.B;
      for (int64_t i = 0; i < b.B; ++i)
        (*predicted)[size_t(b0 + i)] =
            int32_t(std::max_element(logits.begin() + i * C, logits.begin() + (i + 1) * C) - (logits.begin() + i * C));
    }
    bar.advance(b1 - b0);
  }
  return emb;
}

struct Evaluation {
  train::RetrievalMetrics retrieval;
  double accuracy = -1;  // ToTYEmb on seen-category test ads; -1 for ION
  int64_t test_ads = 0;
};

inline Evaluation evaluate(models::AnyModel& m, const models::DataConfig& cfg, const std::vector<models::AdExample>& test,
                           bool progress) {
  SIMAD_CHECK(test.size() >= 2, "evaluate: need at least 2 test ads, got ", test.size());
  Evaluation ev;
  ev.test_ads = int64_t(test.size());
  std::vector<int32_t> predicted;
  const std::vector<float> emb = embed_all(m, test, cfg.max_words, progress, &predicted, "evaluate");
  std::vector<int32_t> category;
  std::vector<uint8_t> seen;
  std::vector<int32_t> labels;
  for (const models::AdExample& a : test) {
    category.push_back(a.category);
    const int32_t c = cfg.class_of(a.category);
    seen.push_back(c >= 0 ? 1 : 0);
    labels.push_back(c);
  }
  ev.retrieval = train::precision_at_k(emb.data(), int64_t(test.size()), m.embedding_dim(), category, seen, {1, 5, 10});
  if (!m.is_ion()) ev.accuracy = train::classification_accuracy(predicted, labels);
  return ev;
}

inline void print_evaluation(const Evaluation& ev) {
  const train::RetrievalMetrics& r = ev.retrieval;
  std::printf("test: %lld ads (%lld queries of seen categories, %lld of unseen)\n", static_cast<long long>(ev.test_ads),
              static_cast<long long>(r.queries_seen), static_cast<long long>(r.queries_unseen));
  std::printf("        %8s %8s %8s\n", "P@1", "P@5", "P@10");
  std::printf("seen    %8.4f %8.4f %8.4f\n", r.p_seen[0], r.p_seen[1], r.p_seen[2]);
  std::printf("unseen  %8.4f %8.4f %8.4f\n", r.p_unseen[0], r.p_unseen[1], r.p_unseen[2]);
  std::printf("all     %8.4f %8.4f %8.4f\n", r.p_all[0], r.p_all[1], r.p_all[2]);
  if (ev.accuracy >= 0) std::printf("classification accuracy (seen categories): %.4f\n", ev.accuracy);
  std::fflush(stdout);
}

}  // namespace simad::cli::pipeline
