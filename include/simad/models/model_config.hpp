// simad/models/model_config.hpp: JSON for the models' configs (saved beside the weights, so a
// model file says how to rebuild its network). Reading is strict: a field of the wrong type is an
// error naming it; an absent field keeps its default (configs written by older versions load).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/nn/transformer.hpp"

namespace simad::models {

class JsonReader {
 public:
  JsonReader(const nlohmann::json& j, std::string what) : j_(j), what_(std::move(what)) {
    SIMAD_CHECK(j_.is_object(), what_, ": expected a JSON object");
  }
  // Reads j[key] into out if present; returns whether it was.
  template <typename V>
  bool get(const char* key, V& out) const {
    const auto it = j_.find(key);
    if (it == j_.end()) return false;
    try {
      out = it->template get<V>();
    } catch (const nlohmann::json::exception& e) {
      fail(what_, ": field '", key, "' has the wrong type (", e.what(), ")");
    }
    return true;
  }
  const nlohmann::json& object(const char* key) const {
    const auto it = j_.find(key);
    SIMAD_CHECK(it != j_.end() && it->is_object(), what_, ": missing object field '", key, "'");
    return *it;
  }
  void expect_kind(const char* kind) const {
    std::string k;
    SIMAD_CHECK(get("kind", k) && k == kind, what_, ": 'kind' is '", k, "', expected '", kind, "'");
  }

 private:
  const nlohmann::json& j_;
  std::string what_;
};

inline nlohmann::json encoder_to_json(const nn::TransformerConfig& e) {
  return {{"d_model", e.d_model},
          {"num_heads", e.num_heads},
          {"ffn_dim", e.ffn_dim},
          {"num_layers", e.num_layers},
          {"activation", e.activation == nn::FfnActivation::relu ? "relu" : "gelu"},
          {"dropout", e.dropout},
          {"layernorm_eps", e.layernorm_eps},
          {"vocab_size", e.vocab_size},
          {"pos_tag_count", e.pos_tag_count},
          {"scale_embedding", e.scale_embedding}};
}

inline nn::TransformerConfig encoder_from_json(const nlohmann::json& j) {
  nn::TransformerConfig e;
  JsonReader r(j, "encoder config");
  r.get("d_model", e.d_model), r.get("num_heads", e.num_heads), r.get("ffn_dim", e.ffn_dim);
  r.get("num_layers", e.num_layers), r.get("dropout", e.dropout), r.get("layernorm_eps", e.layernorm_eps);
  r.get("vocab_size", e.vocab_size), r.get("pos_tag_count", e.pos_tag_count);
  r.get("scale_embedding", e.scale_embedding);
  std::string act;
  if (r.get("activation", act)) {
    SIMAD_CHECK(act == "relu" || act == "gelu", "encoder config: activation must be relu or gelu, got '", act, "'");
    e.activation = act == "relu" ? nn::FfnActivation::relu : nn::FfnActivation::gelu;
  }
  e.validate();
  return e;
}

}  // namespace simad::models
