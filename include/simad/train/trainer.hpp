// simad/train/trainer.hpp: the training loop shared by ION, ToTYEmb and ToTYEmb's text
// pre-training: batches, Adam with a learning-rate schedule, gradient clipping, validation at each
// epoch end with the best epoch kept, checkpoints a run resumes from bit for bit, a progress line
// and a JSONL metrics log.
//
//   train::TrainerOptions o;  o.epochs = 30;  o.checkpoint = "run.ckpt";  o.metrics_log = "run.jsonl";
//   train::TrainResult r = train::train(model, train_ads, validation_ads, o);
//   // later, after a crash: o.resume = "run.ckpt"; train::train(fresh_model, ...) ends with the same bits
//
// One step: make_batch -> zero_grad -> forward(training, dropout stream) -> backward -> clip ->
// Adam step at the scheduled lr. Models that need P x K batches (the triplet loss) get them from
// BatchSampler::pk, the others plain shuffled batches. Validation runs forward(training = false)
// over the validation set (P x K batches from a fixed seed for P x K models, so the triplet loss has
// positives; in order otherwise); the loss is the mean over ads.
//
// Bit-identical resume on the CPU: everything that decides the next step is either a pure
// function of (seed, epoch, step) (the batches, the lr, the dropout masks: positions of a Philox
// stream) or in the checkpoint (parameters, Adam's moments and t, the dropout offset, the epoch's
// loss sums, the history and the best parameters). The options that change the trajectory must be
// the checkpoint's, and so must the data (a fingerprint of ids, labels and sizes).
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/models/batch.hpp"
#include "simad/nn/transformer.hpp"
#include "simad/train/checkpoint.hpp"
#include "simad/train/optimizer.hpp"
#include "simad/train/param_store.hpp"
#include "simad/train/sampler.hpp"

namespace simad::train {

// ------------------------------------------------------------------------------------------------
// What the trainer needs of a model.
template <typename M>
concept AdModel = requires(M& m, const M& cm, const models::AdBatch<typename M::value_type>& b, bool training,
                           nn::DropoutStream* drop, typename M::value_type* out) {
  requires std::floating_point<typename M::value_type>;
  { m.store() } -> std::same_as<ParamStore<typename M::value_type>&>;  // parameters + gradients
  { m.forward(b, training, drop) } -> std::same_as<models::LossTerms>;  // loss; caches for backward
  m.backward();                                                          // ACCUMULATES gradients
  m.embed(b, out);                                                       // (B, embedding_dim()), eval mode
  { cm.embedding_dim() } -> std::convertible_to<int64_t>;
  { cm.config_json() } -> std::convertible_to<nlohmann::json>;
  { M::kind() } -> std::convertible_to<std::string_view>;  // "ion", "totyemb", ...
  { cm.needs_pk_batches() } -> std::same_as<bool>;       // triplet loss: P classes x K ads per batch
};

// ------------------------------------------------------------------------------------------------
// Options

enum class LrSchedule {
  constant,  // lr (after the warmup)
  cosine,    // lr * (1 + cos(pi * progress)) / 2 from the end of the warmup to the last step
};

inline const char* schedule_name(LrSchedule s) { return s == LrSchedule::cosine ? "cosine" : "constant"; }
inline LrSchedule parse_schedule(std::string_view s) {
  if (s == "constant") return LrSchedule::constant;
  if (s == "cosine") return LrSchedule::cosine;
  fail("unknown learning-rate schedule '", s, "' (expected constant or cosine)");
}

struct TrainerOptions {
  int epochs = 10;
  int64_t batch_size = 32;          // plain batches
  int64_t classes_per_batch = 8;    // P (P x K batches)
  int64_t ads_per_class = 4;        // K
  int64_t max_words = 32;           // texts cut to this many words (make_batch)
  double lr = 1e-3;
  LrSchedule schedule = LrSchedule::constant;
  int64_t warmup_steps = 0;         // linear warmup from lr / warmup_steps to lr
  double weight_decay = 0.0;        // Adam's L2 penalty (torch.optim.Adam)
  double clip_norm = 1.0;           // clip the global gradient norm to this; 0 = off
  uint64_t seed = 1;                // batches and dropout (the model's init is the caller's)
  std::string checkpoint;           // path; empty = none. Written at each epoch end and every checkpoint_every steps
  int64_t checkpoint_every = 0;     // steps; 0 = epoch ends only
  std::string resume;               // checkpoint to continue from; empty = a fresh run
  std::string metrics_log;          // JSONL, appended: one line per step and per epoch
  bool progress = true;             // progress line on stderr
  int64_t stop_after_steps = -1;    // tests: stop (as if killed) once this many steps are done, after
                                    // the checkpoint then due; -1 = never
  bool keep_best = true;            // end with the parameters of the best epoch by validation loss

  void validate() const {
    SIMAD_CHECK(epochs >= 0, "trainer: epochs must be >= 0, got ", epochs);
    SIMAD_CHECK(batch_size >= 1, "trainer: batch_size must be >= 1, got ", batch_size);
    SIMAD_CHECK(classes_per_batch >= 1 && ads_per_class >= 1, "trainer: classes_per_batch and ads_per_class must be >= 1, got ",
                classes_per_batch, " and ", ads_per_class);
    SIMAD_CHECK(max_words >= 1, "trainer: max_words must be >= 1, got ", max_words);
    SIMAD_CHECK(std::isfinite(lr) && lr >= 0, "trainer: invalid learning rate ", lr);
    SIMAD_CHECK(warmup_steps >= 0, "trainer: warmup_steps must be >= 0, got ", warmup_steps);
    SIMAD_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, "trainer: invalid weight_decay ", weight_decay);
    SIMAD_CHECK(std::isfinite(clip_norm) && clip_norm >= 0, "trainer: invalid clip_norm ", clip_norm, " (0 = off)");
    SIMAD_CHECK(checkpoint_every >= 0, "trainer: checkpoint_every must be >= 0, got ", checkpoint_every);
    SIMAD_CHECK(stop_after_steps >= -1, "trainer: stop_after_steps must be >= -1, got ", stop_after_steps);
  }

  nlohmann::json to_json() const {
    return {{"epochs", epochs}, {"batch_size", batch_size}, {"classes_per_batch", classes_per_batch},
            {"ads_per_class", ads_per_class}, {"max_words", max_words}, {"lr", lr},
            {"schedule", schedule_name(schedule)}, {"warmup_steps", warmup_steps}, {"weight_decay", weight_decay},
            {"clip_norm", clip_norm}, {"seed", seed}, {"checkpoint", checkpoint},
            {"checkpoint_every", checkpoint_every}, {"resume", resume}, {"metrics_log", metrics_log},
            {"progress", progress}, {"stop_after_steps", stop_after_steps}, {"keep_best", keep_best}};
  }
};

// The learning rate of update `step` (0 = the first) of a run of total_steps updates.
inline double scheduled_lr(const TrainerOptions& o, int64_t step, int64_t total_steps) {
  if (o.warmup_steps > 0 && step < o.warmup_steps) return o.lr * double(step + 1) / double(o.warmup_steps);
  if (o.schedule == LrSchedule::constant) return o.lr;
  const int64_t span = std::max<int64_t>(1, total_steps - o.warmup_steps);
  const double progress = std::clamp(double(step - o.warmup_steps) / double(span), 0.0, 1.0);
  return o.lr * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

// ------------------------------------------------------------------------------------------------
// Results

struct EpochStats {
  int64_t epoch = 0;  // from 1
  int64_t steps = 0;  // optimizer steps at the end of the epoch (all epochs so far)
  double train_loss = std::numeric_limits<double>::quiet_NaN();  // mean of the batches' total loss
  double train_main = std::numeric_limits<double>::quiet_NaN();
  double train_keyword = std::numeric_limits<double>::quiet_NaN();
  int64_t ads = 0;              // training ads seen in the epoch
  int64_t skipped_anchors = 0;  // summed over the epoch's batches (ION)
  int64_t correct = 0;          // summed (ToTYEmb): correct / ads = training accuracy
  double validation_loss = std::numeric_limits<double>::quiet_NaN();  // NaN: no validation set
  double validation_main = std::numeric_limits<double>::quiet_NaN();
  double validation_keyword = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;  // training + validation wall time (not bit-reproducible, of course)
};

struct TrainResult {
  int64_t steps = 0;   // optimizer steps, all runs of a resumed training together
  int64_t epochs = 0;  // epochs completed
  int64_t best_epoch = 0;  // from 1, by validation loss (the last epoch without a validation set); 0 = none
  double best_validation_loss = std::numeric_limits<double>::quiet_NaN();
  double final_train_loss = std::numeric_limits<double>::quiet_NaN();  // of the last completed epoch
  std::vector<EpochStats> history;  // one per completed epoch
  bool stopped = false;        // stop_after_steps ended the run
  bool restored_best = false;  // the model now holds the parameters of best_epoch
  int64_t resumed_from_step = -1;  // the checkpoint's step when resumed
};

// ------------------------------------------------------------------------------------------------
// Validation

// The validation batches: P x K from a fixed seed for P x K models (plain in-order batches when no
// class has two ads), in-order batches of batch_size otherwise.
inline std::vector<std::vector<int64_t>> validation_batches(std::span<const models::AdExample> set, bool pk,
                                                            const TrainerOptions& o) {
  constexpr uint64_t kValidationSeed = 0x7A11DA7Eu;
  if (pk) {
    std::vector<int32_t> labels;
    for (const models::AdExample& a : set) labels.push_back(a.label);
    const BatchSampler s = BatchSampler::pk(labels, o.classes_per_batch, o.ads_per_class, kValidationSeed);
    if (s.batches_per_epoch() > 0) return s.epoch(0);
  }
  std::vector<std::vector<int64_t>> batches;
  const int64_t n = int64_t(set.size());
  for (int64_t b = 0; b < n; b += o.batch_size) {
    batches.emplace_back();
    for (int64_t i = b; i < std::min(n, b + o.batch_size); ++i) batches.back().push_back(i);
  }
  return batches;
}

struct ValidationLoss {  // means over ads; NaN without a batch
  double total = std::numeric_limits<double>::quiet_NaN();
  double main = std::numeric_limits<double>::quiet_NaN();
  double keyword = std::numeric_limits<double>::quiet_NaN();
  int64_t ads = 0;
};

// forward(training = false) over the batches; the batch losses weighted by their sizes.
template <AdModel M>
ValidationLoss validation_loss(M& model, std::span<const models::AdExample> set,
                               const std::vector<std::vector<int64_t>>& batches, int64_t max_words) {
  using T = typename M::value_type;
  ValidationLoss v;
  double total = 0, main = 0, keyword = 0;
  std::vector<const models::AdExample*> rows;
  for (const std::vector<int64_t>& batch : batches) {
    if (batch.empty()) continue;
    rows.clear();
    for (int64_t i : batch) rows.push_back(&set[size_t(i)]);
    const models::AdBatch<T> b = models::make_batch<T>(rows, max_words);
    const models::LossTerms l = model.forward(b, false, nullptr);
    const double w = double(b.B);
    total += w * l.total, main += w * l.main, keyword += w * l.keyword;
    v.ads += b.B;
  }
  if (v.ads > 0) v.total = total / double(v.ads), v.main = main / double(v.ads), v.keyword = keyword / double(v.ads);
  return v;
}

// ------------------------------------------------------------------------------------------------
// Weights of a model (a weights-only file; see checkpoint.hpp)

template <AdModel M>
void save_weights(const std::filesystem::path& path, M& model, const io::safetensors::Metadata& extra = {}) {
  save_weights(path, model.store(), M::kind(), model.config_json(), extra);
}

namespace detail {
// "config differs at /encoder/d_model" (the first difference), for messages.
inline std::string first_difference(const nlohmann::json& a, const nlohmann::json& b) {
  const nlohmann::json patch = nlohmann::json::diff(a, b);
  if (patch.empty()) return "";
  const nlohmann::json& op = patch.front();
  const std::string path = op.value("path", std::string("/"));
  std::string out = "at '" + (path.empty() ? std::string("/") : path) + "'";
  const nlohmann::json::json_pointer ptr(path);
  out += ": " + (a.contains(ptr) ? a.at(ptr).dump() : std::string("<absent>")) + " vs " +
         (b.contains(ptr) ? b.at(ptr).dump() : std::string("<absent>"));
  return out;
}
}  // namespace detail

// Loads a weights file (or a checkpoint's weights) into the model; the file's kind and config must
// be the model's.
template <AdModel M>
WeightsInfo load_weights(const std::filesystem::path& path, M& model) {
  const WeightsInfo info = read_weights_info(path);
  SIMAD_CHECK(info.kind == M::kind(), "weights '", path.string(), "' are of a '", info.kind, "' model, not '",
              M::kind(), "'");
  const nlohmann::json cfg = model.config_json();
  SIMAD_CHECK(info.config == cfg, "weights '", path.string(), "': the file's model config differs from this model's ",
              detail::first_difference(info.config, cfg), " (file vs model)");
  return load_weights(path, model.store());
}

// ------------------------------------------------------------------------------------------------
// Internals of train()

namespace detail {

// The Philox stream of the dropout masks (substream of the seed apart from the sampler's).
inline constexpr uint64_t kDropoutStream = 0xD209u;

// Hash of what decides the batches (ids, labels, text and region sizes): a resume must see the
// same data.
inline std::string data_fingerprint(std::span<const models::AdExample> set) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xffu)) * 1099511628211ull;
  };
  mix(set.size());
  for (const models::AdExample& a : set) {
    mix(uint64_t(a.id)), mix(uint64_t(uint32_t(a.label))), mix(a.words.size()), mix(uint64_t(a.regions));
    mix(uint64_t(a.region_dim));
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// Exact doubles inside the checkpoint's JSON: as text (NaN and inf included).
inline nlohmann::json exact(double v) { return double_text(v); }
inline double exact_double(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  SIMAD_CHECK(it != j.end() && it->is_string(), "checkpoint bookkeeping: missing number '", key, "'");
  const std::string s = it->get<std::string>();
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  SIMAD_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size(), "checkpoint bookkeeping: '", key, "' = '", s,
              "' is not a number");
  return v;
}

// Sums over the batches of the epoch in progress.
struct EpochSums {
  double loss = 0, main = 0, keyword = 0, seconds = 0;
  int64_t batches = 0, ads = 0, skipped_anchors = 0, correct = 0;

  nlohmann::json to_json() const {
    return {{"loss", exact(loss)}, {"main", exact(main)}, {"keyword", exact(keyword)}, {"seconds", exact(seconds)},
            {"batches", batches}, {"ads", ads}, {"skipped_anchors", skipped_anchors}, {"correct", correct}};
  }
  static EpochSums from_json(const nlohmann::json& j) {
    EpochSums s;
    s.loss = exact_double(j, "loss"), s.main = exact_double(j, "main"), s.keyword = exact_double(j, "keyword");
    s.seconds = exact_double(j, "seconds");
    s.batches = j.at("batches").get<int64_t>(), s.ads = j.at("ads").get<int64_t>();
    s.skipped_anchors = j.at("skipped_anchors").get<int64_t>(), s.correct = j.at("correct").get<int64_t>();
    return s;
  }
};

inline nlohmann::json epoch_to_exact_json(const EpochStats& e) {
  return {{"epoch", e.epoch}, {"steps", e.steps}, {"train_loss", exact(e.train_loss)},
          {"train_main", exact(e.train_main)}, {"train_keyword", exact(e.train_keyword)}, {"ads", e.ads},
          {"skipped_anchors", e.skipped_anchors}, {"correct", e.correct},
          {"validation_loss", exact(e.validation_loss)}, {"validation_main", exact(e.validation_main)},
          {"validation_keyword", exact(e.validation_keyword)}, {"seconds", exact(e.seconds)}};
}
inline EpochStats epoch_from_exact_json(const nlohmann::json& j) {
  EpochStats e;
  e.epoch = j.at("epoch").get<int64_t>(), e.steps = j.at("steps").get<int64_t>();
  e.train_loss = exact_double(j, "train_loss"), e.train_main = exact_double(j, "train_main");
  e.train_keyword = exact_double(j, "train_keyword");
  e.ads = j.at("ads").get<int64_t>(), e.skipped_anchors = j.at("skipped_anchors").get<int64_t>();
  e.correct = j.at("correct").get<int64_t>();
  e.validation_loss = exact_double(j, "validation_loss"), e.validation_main = exact_double(j, "validation_main");
  e.validation_keyword = exact_double(j, "validation_keyword");
  e.seconds = exact_double(j, "seconds");
  return e;
}

// The options that decide the trajectory: a resume must use the checkpoint's.
inline std::vector<std::string> trajectory_keys(const TrainerOptions& o) {
  std::vector<std::string> keys = {"batch_size", "classes_per_batch", "ads_per_class", "max_words", "lr", "schedule",
                                   "warmup_steps", "weight_decay", "clip_norm", "seed", "keep_best"};
  if (o.schedule == LrSchedule::cosine) keys.push_back("epochs");  // the schedule spans all epochs
  return keys;
}

// One JSON object per line, appended and flushed (a killed run keeps every line it wrote).
class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path) : path_(path) {
    if (path.empty()) return;
    file_.open(path, std::ios::app);
    SIMAD_CHECK(file_.good(), "trainer: cannot open the metrics log '", path, "' for appending");
  }
  void write(const nlohmann::json& line) {
    if (!file_.is_open()) return;
    // NaN (no validation set) is written as null (dump's choice), so every line stays valid JSON.
    file_ << line.dump() << '\n';
    file_.flush();
    SIMAD_CHECK(file_.good(), "trainer: cannot write the metrics log '", path_, "'");
  }

 private:
  std::string path_;
  std::ofstream file_;
};

// The epoch's progress line on stderr: a bar plus the running loss terms and throughput. On a
// terminal it redraws in place at most ~10 times a second; otherwise it prints at every 10%.
class EpochProgress {
 public:
  EpochProgress(std::string label, int64_t total, int64_t done, bool enabled)
      : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), enabled_(enabled),
        tty_(isatty(fileno(stderr)) != 0), last_decile_(int(10 * std::min(done, total_) / total_)) {}

  void update(int64_t done, const std::string& suffix) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    const int decile = int(10 * std::min(done, total_) / total_);
    if (tty_ ? now - last_draw_ < std::chrono::milliseconds(100) : decile == last_decile_) return;
    last_draw_ = now, last_decile_ = decile;
    draw(done, suffix, false);
  }
  void finish(int64_t done, const std::string& suffix) {
    if (enabled_) draw(done, suffix, true);
  }

 private:
  void draw(int64_t done, const std::string& suffix, bool last) {
    const double fraction = double(std::min(done, total_)) / double(total_);
    const int width = 24, filled = int(fraction * width + 0.5);
    std::string bar(size_t(filled), '#');
    bar.resize(size_t(width), ' ');
    std::fprintf(stderr, "%s%s [%s] %3d%% %lld/%lld %s%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(),
                 int(fraction * 100 + 0.5), static_cast<long long>(done), static_cast<long long>(total_),
                 suffix.c_str(), tty_ && !last ? "\033[K" : "\n");
    std::fflush(stderr);
  }

  std::string label_;
  int64_t total_;
  bool enabled_, tty_;
  int last_decile_;
  std::chrono::steady_clock::time_point last_draw_{};
};

inline std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// The loop

template <AdModel M>
TrainResult train(M& model, std::span<const models::AdExample> train_set,
                  std::span<const models::AdExample> validation_set, const TrainerOptions& o) {
  using T = typename M::value_type;
  using Clock = std::chrono::steady_clock;
  using detail::fixed;
  o.validate();
  ParamStore<T>& store = model.store();
  SIMAD_CHECK(store.allocated(), "train: the model's parameter store is not allocated");
  SIMAD_CHECK(!train_set.empty(), "train: the training set is empty");
  const std::string kind = M::kind();

  // Batches.
  const bool pk = model.needs_pk_batches();
  std::vector<int32_t> labels;
  if (pk)
    for (const models::AdExample& a : train_set) labels.push_back(a.label);
  const BatchSampler sampler = pk ? BatchSampler::pk(labels, o.classes_per_batch, o.ads_per_class, o.seed)
                                  : BatchSampler::plain(int64_t(train_set.size()), o.batch_size, o.seed);
  SIMAD_CHECK(sampler.batches_per_epoch() > 0, "train: a ", kind,
              " model needs P x K batches, but no class of the training set has two ads (",
              sampler.skipped_classes(), " single-ad classes, ", sampler.unlabelled(), " unlabelled ads)");
  const int64_t per_epoch = sampler.batches_per_epoch();
  const int64_t total_steps = per_epoch * o.epochs;
  const std::vector<std::vector<int64_t>> val_batches = validation_batches(validation_set, pk, o);
  const bool has_validation = !val_batches.empty();
  const bool track_best = o.keep_best && has_validation;

  // State.
  Adam<T> adam(store, AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  const Rng dropout_rng(o.seed, detail::kDropoutStream);
  nn::DropoutStream drop{&dropout_rng, 0};
  Tensor<T> best;  // the parameters of the best epoch (flat, like the store)
  if (track_best) best = Tensor<T>::zeros({store.buffer_size()});
  int64_t step = 0, epoch = 0, batch = 0, best_epoch = 0;
  double best_loss = std::numeric_limits<double>::infinity();
  detail::EpochSums sums;
  TrainResult result;
  const std::string train_fp = detail::data_fingerprint(train_set);
  const std::string val_fp = detail::data_fingerprint(validation_set);

  if (!o.resume.empty()) {
    const std::string what = "resume: checkpoint '" + o.resume + "'";
    // Everything is checked before any tensor is loaded into the model.
    const CheckpointState s = read_checkpoint_state(o.resume);
    SIMAD_CHECK(s.kind == kind, what, " is of a '", s.kind, "' model, this one is '", kind, "'");
    const nlohmann::json cfg = model.config_json();
    SIMAD_CHECK(s.config == cfg, what, ": its model config differs from this model's ",
                detail::first_difference(s.config, cfg), " (checkpoint vs now)");
    const nlohmann::json now = o.to_json();
    for (const std::string& key : detail::trajectory_keys(o)) {
      const nlohmann::json was = s.trainer_options.contains(key) ? s.trainer_options.at(key) : nlohmann::json();
      SIMAD_CHECK(was == now.at(key), what, ": option '", key, "' was ", was.dump(), ", now ", now.at(key).dump(),
                  " (a resume continues the same run)");
    }
    const nlohmann::json& x = s.extra;
    SIMAD_CHECK(x.value("train_data", std::string()) == train_fp, what,
                " was written for a different training set (fingerprint ", x.value("train_data", std::string()),
                ", now ", train_fp, ")");
    SIMAD_CHECK(x.value("validation_data", std::string()) == val_fp, what,
                " was written for a different validation set (fingerprint ", x.value("validation_data", std::string()),
                ", now ", val_fp, ")");
    SIMAD_CHECK(s.rng_seed == dropout_rng.seed() && s.rng_stream == dropout_rng.stream(), what,
                ": its dropout generator (seed ", s.rng_seed, ", stream ", s.rng_stream, ") is not this run's");
    SIMAD_CHECK(s.batch <= per_epoch && s.step == s.epoch * per_epoch + s.batch, what, ": step ", s.step, " at epoch ",
                s.epoch, " batch ", s.batch, " does not fit ", per_epoch, " batches per epoch");
    SIMAD_CHECK(!track_best || s.best_epoch == 0 || s.has_best_params, what,
                " has no best parameters (best.*) although keep_best is on");
    const CheckpointState loaded = load_checkpoint(o.resume, store, adam, track_best ? &best : nullptr);
    step = loaded.step, epoch = loaded.epoch, batch = loaded.batch;
    drop.offset = loaded.dropout_offset;
    best_epoch = loaded.best_epoch, best_loss = loaded.best_validation_loss;
    sums = detail::EpochSums::from_json(x.at("sums"));
    for (const nlohmann::json& e : x.at("history")) result.history.push_back(detail::epoch_from_exact_json(e));
    result.resumed_from_step = step;
  }

  detail::MetricsLog log(o.metrics_log);
  log.write({{"type", o.resume.empty() ? "start" : "resume"}, {"model", kind}, {"step", step}, {"epoch", epoch + 1},
             {"batches_per_epoch", per_epoch}, {"train_ads", train_set.size()},
             {"validation_ads", validation_set.size()}, {"parameters", store.num_params()}, {"options", o.to_json()}});

  auto save = [&]() {
    CheckpointState s;
    s.kind = kind, s.config = model.config_json(), s.trainer_options = o.to_json();
    s.step = step, s.epoch = epoch, s.batch = batch, s.adam_step = adam.step_count();
    s.dropout_offset = drop.offset;
    s.rng_seed = dropout_rng.seed(), s.rng_stream = dropout_rng.stream(), s.rng_position = dropout_rng.position();
    s.best_validation_loss = best_loss, s.best_epoch = best_epoch;
    nlohmann::json history = nlohmann::json::array();
    for (const EpochStats& e : result.history) history.push_back(detail::epoch_to_exact_json(e));
    s.extra = {{"train_data", train_fp}, {"validation_data", val_fp}, {"batches_per_epoch", per_epoch},
               {"sums", sums.to_json()}, {"history", history}};
    save_checkpoint(o.checkpoint, store, adam, s, track_best && best_epoch > 0 ? &best : nullptr);
  };
  auto finish = [&](bool stopped) {
    result.steps = step, result.epochs = epoch, result.stopped = stopped;
    result.best_epoch = best_epoch;
    result.best_validation_loss = best_epoch > 0 && has_validation ? best_loss : std::numeric_limits<double>::quiet_NaN();
    if (!result.history.empty()) result.final_train_loss = result.history.back().train_loss;
    if (!stopped && track_best && best_epoch > 0) {
      std::copy(best.data(), best.data() + best.numel(), store.params().data());
      result.restored_best = true;
    }
    return result;
  };
  auto stop_due = [&]() { return o.stop_after_steps >= 0 && step >= o.stop_after_steps; };
  auto running = [&]() {  // the progress line's loss terms
    const double n = double(std::max<int64_t>(sums.batches, 1));
    std::string s = "loss " + fixed(sums.loss / n, 4);
    if (sums.keyword != 0) s += " (main " + fixed(sums.main / n, 4) + ", keyword " + fixed(sums.keyword / n, 4) + ")";
    if (sums.seconds > 0) s += " " + fixed(double(sums.ads) / sums.seconds, 0) + " ads/s";
    return s;
  };

  std::vector<const models::AdExample*> rows;
  while (epoch < o.epochs) {
    const std::vector<std::vector<int64_t>> batches = sampler.epoch(epoch);
    detail::EpochProgress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs), per_epoch, batch,
                              o.progress);
    while (batch < per_epoch) {
      if (stop_due()) return finish(true);
      const auto t0 = Clock::now();
      rows.clear();
      for (int64_t i : batches[size_t(batch)]) rows.push_back(&train_set[size_t(i)]);
      const models::AdBatch<T> b = models::make_batch<T>(rows, o.max_words);
      store.zero_grad();
      const models::LossTerms l = model.forward(b, true, &drop);
      SIMAD_CHECK(std::isfinite(l.total), "train: non-finite loss ", l.total, " at step ", step + 1, " (epoch ",
                  epoch + 1, ", batch ", batch + 1, "); lower the learning rate or resume from the last checkpoint");
      model.backward();
      double norm = std::numeric_limits<double>::quiet_NaN();
      if (o.clip_norm > 0) {
        norm = clip_grad_norm(store, o.clip_norm);
        SIMAD_CHECK(std::isfinite(norm), "train: non-finite gradient norm at step ", step + 1, " (epoch ", epoch + 1,
                    ", batch ", batch + 1, ")");
      }
      const double lr = scheduled_lr(o, step, total_steps);
      adam.options().lr = lr;
      adam.step();
      ++step, ++batch;
      const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      sums.loss += l.total, sums.main += l.main, sums.keyword += l.keyword, sums.seconds += seconds;
      ++sums.batches, sums.ads += b.B, sums.skipped_anchors += l.skipped_anchors, sums.correct += l.correct;
      log.write({{"type", "step"}, {"model", kind}, {"step", step}, {"epoch", epoch + 1}, {"batch", batch},
                 {"ads", b.B}, {"loss", l.total}, {"main", l.main}, {"keyword", l.keyword},
                 {"skipped_anchors", l.skipped_anchors}, {"correct", l.correct}, {"lr", lr}, {"grad_norm", norm},
                 {"seconds", seconds}, {"ads_per_s", seconds > 0 ? double(b.B) / seconds : 0.0}});
      bar.update(batch, running());
      if (!o.checkpoint.empty() && o.checkpoint_every > 0 && step % o.checkpoint_every == 0) save();
    }

    // Epoch end: validation, best epoch, history; then the state moves to the next epoch and the
    // checkpoint records it.
    const auto t0 = Clock::now();
    const ValidationLoss v = validation_loss(model, validation_set, val_batches, o.max_words);
    sums.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const double n = double(std::max<int64_t>(sums.batches, 1));
    EpochStats e;
    e.epoch = epoch + 1, e.steps = step;
    e.train_loss = sums.loss / n, e.train_main = sums.main / n, e.train_keyword = sums.keyword / n;
    e.ads = sums.ads, e.skipped_anchors = sums.skipped_anchors, e.correct = sums.correct;
    e.validation_loss = v.total, e.validation_main = v.main, e.validation_keyword = v.keyword;
    e.seconds = sums.seconds;
    result.history.push_back(e);
    const bool improved = has_validation ? std::isfinite(v.total) && (best_epoch == 0 || v.total < best_loss) : true;
    if (improved) {
      best_epoch = epoch + 1, best_loss = has_validation ? v.total : std::numeric_limits<double>::infinity();
      if (track_best) std::copy(store.params().data(), store.params().data() + store.buffer_size(), best.data());
    }
    log.write({{"type", "epoch"}, {"model", kind}, {"epoch", epoch + 1}, {"steps", step}, {"train_loss", e.train_loss},
               {"train_main", e.train_main}, {"train_keyword", e.train_keyword}, {"ads", e.ads},
               {"skipped_anchors", e.skipped_anchors}, {"correct", e.correct}, {"validation_loss", v.total},
               {"validation_main", v.main}, {"validation_keyword", v.keyword}, {"best_epoch", best_epoch},
               {"seconds", e.seconds}, {"ads_per_s", e.seconds > 0 ? double(e.ads) / e.seconds : 0.0}});
    std::string line = running();
    if (has_validation) line += ", validation " + fixed(v.total, 4) + (improved ? " (best)" : "");
    bar.finish(per_epoch, line);
    ++epoch, batch = 0, sums = {};
    if (!o.checkpoint.empty()) save();
  }
  return finish(false);
}

}  // namespace simad::train
