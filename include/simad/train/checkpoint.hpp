// simad/train/checkpoint.hpp: everything a resumed run needs, in ONE safetensors file, and the
// weights-only file `simad embed` reads.
//
//   save_checkpoint("run.ckpt", store, adam, state, &best);        // atomic: temporary + rename
//   CheckpointState s = load_checkpoint("run.ckpt", store, adam, &best);
//   save_weights("model.safetensors", store, "ion", config_json);
//   WeightsInfo w = read_weights_info("model.safetensors");        // kind + config, no tensor read
//   load_weights("model.safetensors", store);                      // also reads a checkpoint's weights
//
// A checkpoint holds what llm.c's save_state holds (FACTS.md 5): the parameters under their store
// names, Adam's moments as "adam.m.<name>" and "adam.v.<name>", optionally the parameters of the
// best epoch so far as "best.<name>" (so keep_best restores the same weights after a resume), all in
// the training dtype (a resume must continue from the very same bits), and string metadata:
//   format               "simad-checkpoint-1"
//   kind, config         the model's kind and config JSON (the keys weights files use too)
//   trainer.options      the trainer's options JSON
//   trainer.step         optimizer steps taken
//   trainer.epoch        epochs completed (= the index of the epoch in progress, from 0)
//   trainer.batch        batches of that epoch done (the sampler's position)
//   adam.step            Adam's t
//   dropout.offset       next unused position of the dropout stream
//   rng.seed, rng.stream, rng.position   the dropout stream's generator
//   best.validation_loss, best.epoch     best so far (epoch from 1; 0 = none yet)
//   best.params          "1" when best.<name> tensors are present
//   trainer.extra        JSON of the trainer's own bookkeeping (epoch sums, history, data check)
// Integers are decimal text; doubles are the shortest text that reads back to the same bits
// (std::to_chars), "inf"/"nan" included. Every error names the file and the key or tensor.
#pragma once

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/io/safetensors.hpp"
#include "simad/train/optimizer.hpp"
#include "simad/train/param_store.hpp"

namespace simad::train {

inline constexpr const char* kCheckpointFormat = "simad-checkpoint-1";
inline constexpr const char* kWeightsFormat = "simad-weights-1";

// The scalar state of a run (the tensors travel beside it).
struct CheckpointState {
  std::string kind;                        // model kind ("ion", "totyemb", ...)
  nlohmann::json config;                   // model config
  nlohmann::json trainer_options;          // TrainerOptions::to_json()
  int64_t step = 0;                        // optimizer steps taken
  int64_t epoch = 0;                       // epochs completed
  int64_t batch = 0;                       // batches of the epoch in progress done
  int64_t adam_step = 0;                   // Adam's t
  uint64_t dropout_offset = 0;             // next unused dropout stream position
  uint64_t rng_seed = 0, rng_stream = 0, rng_position = 0;  // the dropout stream's Rng
  double best_validation_loss = std::numeric_limits<double>::infinity();
  int64_t best_epoch = 0;                  // from 1; 0 = none yet
  bool has_best_params = false;            // set by save/load: best.<name> tensors present
  nlohmann::json extra = nlohmann::json::object();  // the trainer's bookkeeping

  bool operator==(const CheckpointState&) const = default;
};

// What a weights file (or a checkpoint read as one) says about its model.
struct WeightsInfo {
  std::string kind;
  nlohmann::json config;
  io::safetensors::Metadata metadata;  // all of it (callers' extra keys, e.g. "data")
  bool is_checkpoint = false;
};

namespace detail {

// Shortest decimal text that parses back to the same double (inf, -inf, nan too).
inline std::string double_text(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

class MetaReader {
 public:
  MetaReader(const io::safetensors::Metadata& meta, std::string what) : meta_(meta), what_(std::move(what)) {}

  bool has(const std::string& key) const { return meta_.count(key) > 0; }
  const std::string& text(const std::string& key) const {
    const auto it = meta_.find(key);
    SIMAD_CHECK(it != meta_.end(), what_, ": metadata has no '", key, "' entry");
    return it->second;
  }
  template <typename I>
  I integer(const std::string& key) const {
    const std::string& s = text(key);
    I v{};
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    SIMAD_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size(), what_, ": metadata '", key, "' = '", s,
                "' is not an integer of the expected range");
    return v;
  }
  double real(const std::string& key) const {
    const std::string& s = text(key);
    double v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    SIMAD_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size(), what_, ": metadata '", key, "' = '", s,
                "' is not a number");
    return v;
  }
  nlohmann::json json(const std::string& key) const {
    try {
      return nlohmann::json::parse(text(key));
    } catch (const nlohmann::json::exception& e) {
      fail(what_, ": metadata '", key, "' is not valid JSON (", e.what(), ")");
    }
  }

 private:
  const io::safetensors::Metadata& meta_;
  std::string what_;
};

inline std::string describe(const std::filesystem::path& path, bool checkpoint) {
  return std::string(checkpoint ? "checkpoint '" : "weights '") + path.string() + "'";
}

// Reads `wanted` from the file: every name must be there with the destination's shape (and, with
// exact_dtype, in T's dtype); a tensor of the file that is neither wanted nor under one of the
// `ignored` prefixes is an error (the model is not the one that wrote the file). All names and
// shapes are checked before any destination is written.
template <typename T>
void read_tensors(io::safetensors::Reader& reader, const std::string& what, const io::safetensors::NamedTensors<T>& wanted,
                  bool exact_dtype, std::span<const std::string_view> ignored) {
  namespace st = io::safetensors;
  const st::Header& h = reader.header();
  std::set<std::string_view> names;
  for (const auto& [name, t] : wanted) {
    names.insert(name);
    const st::TensorInfo* info = h.find(name);
    if (!info) fail(what, ": no tensor '", name, "' (expected shape ", t.shape(), ")");
    if (exact_dtype && info->dtype != st::dtype_of<T>())
      fail(what, ": tensor '", name, "' is ", st::dtype_name(info->dtype), " but this run trains in ",
           st::dtype_name(st::dtype_of<T>()), " (a resume continues from the same bits)");
    bool same = int(info->shape.size()) == t.shape().rank;
    for (int i = 0; same && i < t.shape().rank; ++i) same = info->shape[size_t(i)] == t.shape()[i];
    if (!same) fail(what, ": tensor '", name, "' has shape ", st::shape_str(info->shape), ", the model expects ", t.shape());
  }
  std::string extra;
  size_t count = 0;
  for (const st::TensorInfo& t : h.tensors) {
    if (names.count(t.name)) continue;
    bool skip = false;
    for (std::string_view prefix : ignored) skip = skip || std::string_view(t.name).starts_with(prefix);
    if (skip) continue;
    if (count < 8) extra += (count ? ", '" : "'") + t.name + "'";
    ++count;
  }
  if (count)
    fail(what, ": ", count, " tensor(s) the model does not have: ", extra, count > 8 ? ", ..." : "",
         " (written by a different model?)");
  for (const auto& [name, t] : wanted) reader.read_into(name, t);
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// Checkpoints

// Writes a checkpoint atomically. adam must be bound to store; best_params (optional) is a flat
// buffer laid out like the store (store.buffer_size() elements). state.has_best_params is ignored
// (the pointer decides).
template <typename T>
void save_checkpoint(const std::filesystem::path& path, const ParamStore<T>& store, const Adam<T>& adam,
                     const CheckpointState& state, const Tensor<T>* best_params = nullptr) {
  using detail::double_text;
  SIMAD_CHECK(adam.m().numel() == store.buffer_size(), "save_checkpoint('", path.string(),
              "'): the optimizer is not bound to this store");
  SIMAD_CHECK(!best_params || (best_params->defined() && best_params->numel() == store.buffer_size()),
              "save_checkpoint('", path.string(), "'): best_params must hold ", store.buffer_size(), " elements");
  io::safetensors::NamedTensors<T> tensors;
  for (const ParamSlice& s : store) tensors.emplace_back(s.name, store.param(s.name));
  for (const ParamSlice& s : store) tensors.emplace_back("adam.m." + s.name, adam.m(s.name));
  for (const ParamSlice& s : store) tensors.emplace_back("adam.v." + s.name, adam.v(s.name));
  if (best_params)
    for (const ParamSlice& s : store) tensors.emplace_back("best." + s.name, best_params->view(s.offset, s.shape));
  const io::safetensors::Metadata meta = {
      {"format", kCheckpointFormat},
      {"kind", state.kind},
      {"config", state.config.dump()},
      {"trainer.options", state.trainer_options.dump()},
      {"trainer.step", std::to_string(state.step)},
      {"trainer.epoch", std::to_string(state.epoch)},
      {"trainer.batch", std::to_string(state.batch)},
      {"adam.step", std::to_string(state.adam_step)},
      {"dropout.offset", std::to_string(state.dropout_offset)},
      {"rng.seed", std::to_string(state.rng_seed)},
      {"rng.stream", std::to_string(state.rng_stream)},
      {"rng.position", std::to_string(state.rng_position)},
      {"best.validation_loss", double_text(state.best_validation_loss)},
      {"best.epoch", std::to_string(state.best_epoch)},
      {"best.params", best_params ? "1" : "0"},
      {"trainer.extra", state.extra.dump()},
  };
  io::safetensors::save(path, tensors, meta);
}

// The scalar state of a checkpoint (no tensor is read).
inline CheckpointState read_checkpoint_state(const std::filesystem::path& path) {
  const io::safetensors::Header h = io::safetensors::read_header(path);
  const std::string what = detail::describe(path, true);
  const detail::MetaReader m(h.metadata, what);
  SIMAD_CHECK(m.has("format") && m.text("format") == kCheckpointFormat, what, ": not a simad checkpoint (metadata 'format' is '",
              m.has("format") ? m.text("format") : std::string("<missing>"), "', expected '", kCheckpointFormat, "')");
  CheckpointState s;
  s.kind = m.text("kind");
  s.config = m.json("config");
  s.trainer_options = m.json("trainer.options");
  s.step = m.integer<int64_t>("trainer.step");
  s.epoch = m.integer<int64_t>("trainer.epoch");
  s.batch = m.integer<int64_t>("trainer.batch");
  s.adam_step = m.integer<int64_t>("adam.step");
  s.dropout_offset = m.integer<uint64_t>("dropout.offset");
  s.rng_seed = m.integer<uint64_t>("rng.seed");
  s.rng_stream = m.integer<uint64_t>("rng.stream");
  s.rng_position = m.integer<uint64_t>("rng.position");
  s.best_validation_loss = m.real("best.validation_loss");
  s.best_epoch = m.integer<int64_t>("best.epoch");
  s.has_best_params = m.integer<int>("best.params") != 0;
  s.extra = m.json("trainer.extra");
  SIMAD_CHECK(s.step >= 0 && s.epoch >= 0 && s.batch >= 0 && s.adam_step >= 0 && s.best_epoch >= 0, what,
              ": negative step, epoch, batch or best epoch in the metadata");
  return s;
}

// Restores parameters, Adam's moments and step count, and (when best_params is given and the file
// has them) the best parameters; returns the scalar state. The store and the optimizer must be the
// model's that wrote the file: same names, shapes and dtype.
template <typename T>
CheckpointState load_checkpoint(const std::filesystem::path& path, const ParamStore<T>& store, Adam<T>& adam,
                                const Tensor<T>* best_params = nullptr) {
  const std::string what = detail::describe(path, true);
  SIMAD_CHECK(adam.m().numel() == store.buffer_size(), what, ": the optimizer is not bound to this store");
  SIMAD_CHECK(!best_params || (best_params->defined() && best_params->numel() == store.buffer_size()), what,
              ": best_params must hold ", store.buffer_size(), " elements");
  CheckpointState s = read_checkpoint_state(path);
  io::safetensors::Reader reader(path);
  io::safetensors::NamedTensors<T> wanted;
  for (const ParamSlice& p : store) wanted.emplace_back(p.name, store.param(p.name));
  for (const ParamSlice& p : store) wanted.emplace_back("adam.m." + p.name, adam.m(p.name));
  for (const ParamSlice& p : store) wanted.emplace_back("adam.v." + p.name, adam.v(p.name));
  const bool read_best = best_params && s.has_best_params;
  if (read_best)
    for (const ParamSlice& p : store) wanted.emplace_back("best." + p.name, best_params->view(p.offset, p.shape));
  const std::string_view best_prefix[] = {"best."};
  detail::read_tensors(reader, what, wanted, true,
                       s.has_best_params && !read_best ? std::span<const std::string_view>(best_prefix)
                                                       : std::span<const std::string_view>());
  adam.set_step_count(s.adam_step);
  return s;
}

// ------------------------------------------------------------------------------------------------
// Weights only (what `simad embed` and `simad eval` need)

// Writes the parameters with metadata format, kind and config, plus `extra` (e.g. "data").
template <typename T>
void save_weights(const std::filesystem::path& path, const ParamStore<T>& store, std::string_view kind,
                  const nlohmann::json& config, const io::safetensors::Metadata& extra = {}) {
  io::safetensors::Metadata meta = extra;
  meta["format"] = kWeightsFormat;
  meta["kind"] = std::string(kind);
  meta["config"] = config.dump();
  io::safetensors::save(path, store, meta);
}

// Kind and config of a weights file or a checkpoint (no tensor is read): build the model from them,
// then load_weights().
inline WeightsInfo read_weights_info(const std::filesystem::path& path) {
  const io::safetensors::Header h = io::safetensors::read_header(path);
  const std::string what = detail::describe(path, false);
  const detail::MetaReader m(h.metadata, what);
  const std::string format = m.has("format") ? m.text("format") : std::string("<missing>");
  SIMAD_CHECK(format == kWeightsFormat || format == kCheckpointFormat, what,
              ": not simad weights (metadata 'format' is '", format, "', expected '", kWeightsFormat, "' or '",
              kCheckpointFormat, "')");
  WeightsInfo w;
  w.kind = m.text("kind");
  w.config = m.json("config");
  w.metadata = h.metadata;
  w.is_checkpoint = format == kCheckpointFormat;
  return w;
}

// Reads the parameters of a weights file, or of a checkpoint (its optimizer state and best
// parameters are skipped), into store, converting from the file's dtype. Every store slice must be
// in the file with its shape, and the file must hold no other parameter.
template <typename T>
WeightsInfo load_weights(const std::filesystem::path& path, const ParamStore<T>& store) {
  WeightsInfo w = read_weights_info(path);
  const std::string what = detail::describe(path, w.is_checkpoint);
  io::safetensors::Reader reader(path);
  io::safetensors::NamedTensors<T> wanted;
  for (const ParamSlice& p : store) wanted.emplace_back(p.name, store.param(p.name));
  const std::string_view checkpoint_prefixes[] = {"adam.m.", "adam.v.", "best."};
  detail::read_tensors(reader, what, wanted, false,
                       w.is_checkpoint ? std::span<const std::string_view>(checkpoint_prefixes)
                                       : std::span<const std::string_view>());
  return w;
}

}  // namespace simad::train
