// simad/models/model_file.hpp: a trained model on disk, and AnyModel, one handle for either kind.
// A model is a folder, so that everything needed to embed a new ad travels together:
//   model.safetensors   the parameters (float32) under their store names; metadata "config" = the
//                       model's config JSON, "data" = the DataConfig JSON (how ads become inputs)
//   words.vocab         the word vocabulary (text::Vocab, one token a line)
//   tags.vocab          the POS-tag vocabulary
//
//   models::SavedModel m = models::load_model("runs/ion");       // errors name the file and field
//   std::vector<float> emb(size_t(batch.B * m.model.embedding_dim()));
//   m.model.embed(batch, emb.data());
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/io/safetensors.hpp"
#include "simad/models/ion.hpp"
#include "simad/models/totyemb.hpp"
#include "simad/text/vocab.hpp"

namespace simad::models {

// How raw ads become model inputs; saved with the model so that embedding uses the same rules.
struct DataConfig {
  std::string region_source = "oracle";  // oracle | grid | detector | detector-grid (models/regions.hpp)
  int grid = 7;                          // G for grid regions
  // The detector of the detector sources: its files ("": the shipped one) and its fingerprint
  // (RegionDetector::fingerprint(), recorded in training so that embedding checks it is the same).
  std::string detector_cfg, detector_weights, detector_fingerprint;
  std::string region_features = "map+pixels";  // of the detector's regions: map | pixels | map+pixels
  int64_t max_words = 32;                // texts are cut to this many words
  std::vector<int32_t> class_categories; // training class c = category class_categories[c]

  nlohmann::json to_json() const {
    return {{"region_source", region_source}, {"grid", grid}, {"max_words", max_words},
            {"class_categories", class_categories}, {"detector_cfg", detector_cfg},
            {"detector_weights", detector_weights}, {"detector_fingerprint", detector_fingerprint},
            {"region_features", region_features}};
  }
  static DataConfig from_json(const nlohmann::json& j) {
    DataConfig d;
    JsonReader r(j, "data config");
    r.get("region_source", d.region_source), r.get("grid", d.grid), r.get("max_words", d.max_words);
    r.get("class_categories", d.class_categories);
    r.get("detector_cfg", d.detector_cfg), r.get("detector_weights", d.detector_weights);
    r.get("detector_fingerprint", d.detector_fingerprint), r.get("region_features", d.region_features);
    SIMAD_CHECK(d.grid >= 1 && d.max_words >= 1, "data config: grid and max_words must be >= 1");
    return d;
  }
  // category -> training class, -1 when the category was not trained on.
  int32_t class_of(int32_t category) const {
    for (size_t c = 0; c < class_categories.size(); ++c)
      if (class_categories[c] == category) return int32_t(c);
    return -1;
  }
};

// Either model behind one interface (what the CLI and services hold).
class AnyModel {
 public:
  AnyModel() = default;
  explicit AnyModel(std::unique_ptr<Ion<float>> m) : ion_(std::move(m)) {}
  explicit AnyModel(std::unique_ptr<Totyemb<float>> m) : toty_(std::move(m)) {}

  static AnyModel from_config(const nlohmann::json& cfg) {
    std::string kind;
    JsonReader(cfg, "model config").get("kind", kind);
    if (kind == "ion") return AnyModel(std::make_unique<Ion<float>>(IonConfig::from_json(cfg)));
    if (kind == "totyemb") return AnyModel(std::make_unique<Totyemb<float>>(TotyembConfig::from_json(cfg)));
    ::simad::detail::throw_error(::simad::detail::concat("model config: unknown kind '", kind, "' (expected ion or totyemb)"), SourceLocation::current());
  }

  bool is_ion() const { return ion_ != nullptr; }
  Ion<float>& ion() { return *ion_; }
  Totyemb<float>& totyemb() { return *toty_; }
  std::string kind() const { return ion_ ? "ion" : "totyemb"; }
  train::ParamStore<float>& store() { return ion_ ? ion_->store() : toty_->store(); }
  nlohmann::json config_json() const { return ion_ ? ion_->config_json() : toty_->config_json(); }
  int64_t embedding_dim() const { return ion_ ? ion_->embedding_dim() : toty_->embedding_dim(); }
  void embed(const AdBatch<float>& b, float* out) { ion_ ? ion_->embed(b, out) : toty_->embed(b, out); }
  // After embed(): the kept regions (B, k) and every region's text-guided score (B, R).
  const std::vector<int32_t>& kept_regions() const { return ion_ ? ion_->kept_regions() : toty_->kept_regions(); }
  const std::vector<float>& region_scores() const { return ion_ ? ion_->region_scores() : toty_->region_scores(); }

 private:
  std::unique_ptr<Ion<float>> ion_;
  std::unique_ptr<Totyemb<float>> toty_;
};

struct SavedModel {
  AnyModel model;
  DataConfig data;
  text::Vocab words, tags;
};

inline void save_model(const std::filesystem::path& dir, const train::ParamStore<float>& store,
                       const nlohmann::json& config, const DataConfig& data, const text::Vocab& words,
                       const text::Vocab& tags) {
  std::filesystem::create_directories(dir);
  words.save((dir / "words.vocab").string());
  tags.save((dir / "tags.vocab").string());
  io::safetensors::save(dir / "model.safetensors", store,
                        {{"config", config.dump()}, {"data", data.to_json().dump()}, {"format", "simad-model-1"}});
}

inline SavedModel load_model(const std::filesystem::path& dir) {
  const auto file = dir / "model.safetensors";
  SIMAD_CHECK(std::filesystem::exists(file), "model '", dir.string(), "': no model.safetensors there (train one with `simad train`)");
  // Read the metadata first (the config decides the network), then the weights into it.
  io::safetensors::NamedTensors<float> none;
  const io::safetensors::Metadata meta = io::safetensors::load(file, none, false);
  auto field = [&](const char* key) {
    const auto it = meta.find(key);
    SIMAD_CHECK(it != meta.end(), file.string(), ": metadata has no '", key, "' entry (not a simad model?)");
    try {
      return nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& e) {
      fail(file.string(), ": metadata '", key, "' is not valid JSON (", e.what(), ")");
    }
  };
  SavedModel m;
  m.model = AnyModel::from_config(field("config"));
  m.data = DataConfig::from_json(field("data"));
  io::safetensors::load(file, m.model.store());
  m.words = text::Vocab::load((dir / "words.vocab").string());
  m.tags = text::Vocab::load((dir / "tags.vocab").string());
  return m;
}

}  // namespace simad::models
