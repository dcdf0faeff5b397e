// Tests of include/simad/train/{sampler,checkpoint,trainer}.hpp with a tiny fake model written
// here (a linear softmax classifier over the mean region feature and the mean word embedding, with
// input dropout from the trainer's stream, forward and backward by hand): the sampler's coverage
// and determinism, checkpoint round trips and their errors, learning, bit-identical resume
// (mid-epoch and at an epoch end, float and double, plain and P x K batches), the best-epoch
// restore, the option checks of a resume, and the metrics log.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/train/checkpoint.hpp"
#include "simad/train/sampler.hpp"
#include "simad/train/trainer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using simad::testing::error_of;
using models::AdBatch;
using models::AdExample;
using models::LossTerms;
using train::BatchSampler;
using train::TrainerOptions;
using train::TrainResult;
namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------------------------------------
// The fake model: x = [mean region feature | mean word embedding] (B, F), dropout on x in training,
// logits = x W^T + b (B, C), loss = mean cross-entropy over the rows with a label.
struct FakeConfig {
  int64_t vocab = 16, word_dim = 3, region_dim = 4, classes = 4;
  double dropout = 0.2;
  bool pk = false;
};

template <typename T>
class FakeModel {
 public:
  using value_type = T;
  static constexpr const char* kind() { return "fake"; }

  explicit FakeModel(const FakeConfig& c) : cfg_(c) {
    store_.add("word_emb", {c.vocab, c.word_dim});
    store_.add("proj.weight", {c.classes, features()});
    store_.add("proj.bias", {c.classes});
    store_.allocate();
  }
  void init(uint64_t seed) {
    Rng rng(seed, 3);
    store_.init_normal("word_emb", rng, 0.0, 0.5);
    store_.init_normal("proj.weight", rng, 0.0, 0.3);
  }

  train::ParamStore<T>& store() { return store_; }
  nlohmann::json config_json() const {
    return {{"kind", "fake"}, {"vocab", cfg_.vocab}, {"word_dim", cfg_.word_dim}, {"region_dim", cfg_.region_dim},
            {"classes", cfg_.classes}, {"dropout", cfg_.dropout}, {"pk", cfg_.pk}};
  }
  int64_t embedding_dim() const { return cfg_.classes; }
  bool needs_pk_batches() const { return cfg_.pk; }

  LossTerms forward(const AdBatch<T>& b, bool training, nn::DropoutStream* drop) {
    const int64_t B = b.B, N = b.N, R = b.R, D = cfg_.region_dim, W = cfg_.word_dim, F = features(), C = cfg_.classes;
    REQUIRE(b.Din == D);
    B_ = B, N_ = N;
    words_ = b.words, word_mask_ = b.word_mask, labels_ = b.labels;
    x_.assign(size_t(B * F), T(0));
    keep_.assign(size_t(B * F), T(1));
    const T* emb = store_.param("word_emb").data();
    for (int64_t i = 0; i < B; ++i) {
      int64_t regions = 0, words = 0;
      for (int64_t r = 0; r < R; ++r) regions += b.region_mask[size_t(i * R + r)];
      for (int64_t r = 0; r < R; ++r)
        if (b.region_mask[size_t(i * R + r)])
          for (int64_t c = 0; c < D; ++c)
            x_[size_t(i * F + c)] += b.region_features[size_t((i * R + r) * D + c)] / T(regions);
      for (int64_t t = 0; t < N; ++t) words += b.word_mask[size_t(i * N + t)];
      for (int64_t t = 0; t < N; ++t)
        if (b.word_mask[size_t(i * N + t)])
          for (int64_t c = 0; c < W; ++c)
            x_[size_t(i * F + D + c)] += emb[size_t(b.words[size_t(i * N + t)] * W + c)] / T(words);
    }
    if (training && cfg_.dropout > 0) {
      REQUIRE((drop && drop->rng));
      const T scale = T(1.0 / (1.0 - cfg_.dropout));
      for (int64_t j = 0; j < B * F; ++j) {
        keep_[size_t(j)] = drop->rng->uniform_at(drop->offset + uint64_t(j)) >= cfg_.dropout ? scale : T(0);
        x_[size_t(j)] *= keep_[size_t(j)];
      }
      drop->offset += uint64_t(B * F);
    }
    const T* w = store_.param("proj.weight").data();
    const T* bias = store_.param("proj.bias").data();
    probs_.assign(size_t(B * C), T(0));
    logits_.assign(size_t(B * C), T(0));
    LossTerms loss;
    labelled_ = 0;
    double sum = 0;
    for (int64_t i = 0; i < B; ++i) {
      T top = -std::numeric_limits<T>::infinity();
      for (int64_t k = 0; k < C; ++k) {
        T z = bias[k];
        for (int64_t f = 0; f < F; ++f) z += w[k * F + f] * x_[size_t(i * F + f)];
        logits_[size_t(i * C + k)] = z;
        top = std::max(top, z);
      }
      T total = 0;
      for (int64_t k = 0; k < C; ++k) total += (probs_[size_t(i * C + k)] = std::exp(logits_[size_t(i * C + k)] - top));
      int64_t arg = 0;
      for (int64_t k = 0; k < C; ++k) {
        probs_[size_t(i * C + k)] /= total;
        if (probs_[size_t(i * C + k)] > probs_[size_t(i * C + arg)]) arg = k;
      }
      const int32_t label = labels_[size_t(i)];
      if (label >= 0) {
        ++labelled_;
        sum -= std::log(double(probs_[size_t(i * C + label)]));
        loss.correct += arg == label;
      }
    }
    loss.main = labelled_ ? sum / double(labelled_) : 0.0;
    loss.total = loss.main;
    return loss;
  }

  void backward() {
    const int64_t B = B_, N = N_, D = cfg_.region_dim, W = cfg_.word_dim, F = features(), C = cfg_.classes;
    if (labelled_ == 0) return;
    const T* w = store_.param("proj.weight").data();
    T* dw = store_.grad("proj.weight").data();
    T* db = store_.grad("proj.bias").data();
    T* demb = store_.grad("word_emb").data();
    std::vector<T> dx(static_cast<size_t>(F));
    for (int64_t i = 0; i < B; ++i) {
      const int32_t label = labels_[size_t(i)];
      if (label < 0) continue;
      std::fill(dx.begin(), dx.end(), T(0));
      for (int64_t k = 0; k < C; ++k) {
        const T dz = (probs_[size_t(i * C + k)] - T(k == label ? 1 : 0)) / T(labelled_);
        db[k] += dz;
        for (int64_t f = 0; f < F; ++f) {
          dw[k * F + f] += dz * x_[size_t(i * F + f)];
          dx[size_t(f)] += dz * w[k * F + f];
        }
      }
      int64_t words = 0;
      for (int64_t t = 0; t < N; ++t) words += word_mask_[size_t(i * N + t)];
      for (int64_t t = 0; t < N; ++t)
        if (word_mask_[size_t(i * N + t)])
          for (int64_t c = 0; c < W; ++c)
            demb[size_t(words_[size_t(i * N + t)] * W + c)] +=
                dx[size_t(D + c)] * keep_[size_t(i * F + D + c)] / T(words);
    }
  }

  void embed(const AdBatch<T>& b, T* out) {
    forward(b, false, nullptr);
    std::copy(logits_.begin(), logits_.end(), out);
  }

 private:
  int64_t features() const { return cfg_.region_dim + cfg_.word_dim; }

  FakeConfig cfg_;
  train::ParamStore<T> store_;
  int64_t B_ = 0, N_ = 0, labelled_ = 0;
  std::vector<int32_t> words_, labels_;
  std::vector<uint8_t> word_mask_;
  std::vector<T> x_, keep_, logits_, probs_;
};

static_assert(train::AdModel<FakeModel<float>>);
static_assert(train::AdModel<FakeModel<double>>);
static_assert(!train::AdModel<int>);
static_assert(!train::AdModel<train::ParamStore<float>>);

// Ads of a learnable problem: class c has its own region-feature centre and favours words
// 1 + 3c .. 3 + 3c. label_shift relabels (a validation set the model gets worse on). The centres
// do not depend on the seed, so train and validation sets of different seeds share them.
std::vector<AdExample> make_ads(int64_t n, const FakeConfig& c, uint64_t seed, int64_t id_base = 0,
                                int32_t label_shift = 0) {
  Rng centres(99, 7);
  std::vector<float> centre(size_t(c.classes * c.region_dim));
  centres.fill_normal(std::span<float>(centre), 0.0, 1.0);
  Rng rng(seed, 11);
  std::vector<AdExample> ads;
  for (int64_t i = 0; i < n; ++i) {
    AdExample a;
    const int32_t label = int32_t(rng.next_below(uint32_t(c.classes)));
    a.id = id_base + i;
    a.label = int32_t((label + label_shift) % c.classes);
    a.category = label;
    const int64_t words = rng.next_below(5);
    for (int64_t t = 0; t < words; ++t) {
      const bool topical = rng.next_uniform() < 0.6;
      const int64_t word = topical ? 1 + (3 * label + int64_t(rng.next_below(3))) % (c.vocab - 1)
                                   : 1 + int64_t(rng.next_below(uint32_t(c.vocab - 1)));
      a.words.push_back(int32_t(word));
      a.tags.push_back(1);
      a.keyword.push_back(0);
    }
    a.regions = 1 + rng.next_below(3);
    a.region_dim = c.region_dim;
    for (int64_t r = 0; r < a.regions; ++r) {
      for (int64_t d = 0; d < c.region_dim; ++d)
        a.region_features.push_back(centre[size_t(label * c.region_dim + d)] + float(0.7 * rng.next_normal()));
      for (int64_t g = 0; g < models::kGeometryDim; ++g) a.region_geometry.push_back(rng.next_float());
    }
    ads.push_back(std::move(a));
  }
  return ads;
}

template <typename T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.numel() == b.numel() && std::memcmp(a.data(), b.data(), size_t(a.numel()) * sizeof(T)) == 0;
}

template <typename T>
FakeModel<T> fresh_model(const FakeConfig& c, uint64_t seed = 5) {
  FakeModel<T> m(c);
  m.init(seed);
  return m;
}

// Two results of the same run (one of them resumed) have the same bookkeeping, bit for bit.
void check_same_history(const TrainResult& a, const TrainResult& b) {
  CHECK(a.steps == b.steps);
  CHECK(a.epochs == b.epochs);
  CHECK(a.best_epoch == b.best_epoch);
  CHECK(std::memcmp(&a.best_validation_loss, &b.best_validation_loss, sizeof(double)) == 0);
  CHECK(std::memcmp(&a.final_train_loss, &b.final_train_loss, sizeof(double)) == 0);
  REQUIRE(a.history.size() == b.history.size());
  for (size_t e = 0; e < a.history.size(); ++e) {
    INFO("epoch ", e + 1);
    CHECK(a.history[e].epoch == b.history[e].epoch);
    CHECK(a.history[e].steps == b.history[e].steps);
    CHECK(a.history[e].ads == b.history[e].ads);
    CHECK(a.history[e].correct == b.history[e].correct);
    CHECK(std::memcmp(&a.history[e].train_loss, &b.history[e].train_loss, sizeof(double)) == 0);
    CHECK(std::memcmp(&a.history[e].validation_loss, &b.history[e].validation_loss, sizeof(double)) == 0);
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Sampler

TEST_CASE("train/sampler: plain epochs hold every example once, deterministic from (seed, epoch)") {
  const BatchSampler s = BatchSampler::plain(103, 10, 42);
  CHECK(!s.is_pk());
  CHECK(s.batches_per_epoch() == 11);
  CHECK(s.examples_per_epoch() == 103);
  for (int64_t e = 0; e < 3; ++e) {
    const auto batches = s.epoch(e);
    REQUIRE(int64_t(batches.size()) == 11);
    std::vector<int> seen(103, 0);
    for (size_t b = 0; b < batches.size(); ++b) {
      CHECK(batches[b].size() == (b + 1 < batches.size() ? 10u : 3u));  // the last partial batch is kept
      for (int64_t i : batches[b]) {
        REQUIRE((i >= 0 && i < 103));
        ++seen[size_t(i)];
      }
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](int k) { return k == 1; }));
  }
  CHECK(s.epoch(2) == s.epoch(2));
  CHECK(s.epoch(2) == BatchSampler::plain(103, 10, 42).epoch(2));  // a new sampler: same batches (resume)
  CHECK(s.epoch(1) != s.epoch(2));
  CHECK(s.epoch(1) != BatchSampler::plain(103, 10, 43).epoch(1));
  CHECK(BatchSampler::plain(0, 4, 1).epoch(0).empty());
  CHECK_THROWS_AS(BatchSampler::plain(10, 0, 1), Error);
}

TEST_CASE("train/sampler: P x K batches are P chunks of up to K ads of one class, every labelled ad once per epoch") {
  // Class sizes: 0:7 1:4 2:2 3:1 4:5 5:3 6:6 7:1, and 3 unlabelled ads; shuffled input order.
  std::vector<int32_t> labels;
  const int sizes[] = {7, 4, 2, 1, 5, 3, 6, 1};
  for (int c = 0; c < 8; ++c)
    for (int k = 0; k < sizes[c]; ++k) labels.push_back(c);
  labels.insert(labels.end(), {-1, -1, -1});
  Rng rng = testing::test_rng();
  for (size_t i = labels.size(); i > 1; --i) std::swap(labels[i - 1], labels[rng.next_below(uint32_t(i))]);

  const int64_t K = 4;
  const BatchSampler s = BatchSampler::pk(labels, 3, K, 7);
  CHECK(s.is_pk());
  CHECK(s.num_classes() == 6);
  CHECK(s.skipped_classes() == 2);  // classes 3 and 7: a single ad, no positive
  CHECK(s.unlabelled() == 3);
  // Chunks: 7 -> 4+3, 4 -> 4, 2 -> 2, 5 -> 5 (a lone 5th joins), 3 -> 3, 6 -> 4+2: 8 chunks, P = 3.
  CHECK(s.num_chunks() == 8);
  CHECK(s.batches_per_epoch() == 3);
  CHECK(s.examples_per_epoch() == 7 + 4 + 2 + 5 + 3 + 6);
  for (int64_t e = 0; e < 4; ++e) {
    const auto batches = s.epoch(e);
    REQUIRE(batches.size() == 3u);
    std::multiset<int64_t> seen;
    for (const auto& batch : batches) {
      std::map<int32_t, int64_t> per_class;
      for (int64_t i : batch) ++per_class[labels[size_t(i)]], seen.insert(i);
      CHECK(per_class.size() >= 2u);  // every batch has a negative
      for (const auto& [label, count] : per_class) {
        CHECK(label >= 0);
        CHECK(count >= 2);  // and a positive for each of its ads
      }
    }
    std::multiset<int64_t> want;
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] >= 0 && labels[i] != 3 && labels[i] != 7) want.insert(int64_t(i));
    CHECK(seen == want);  // each labelled ad of a class of >= 2 exactly once
  }
  CHECK(s.epoch(3) == BatchSampler::pk(labels, 3, K, 7).epoch(3));
  CHECK(s.epoch(0) != s.epoch(1));

  // No class with two ads: no batch at all.
  CHECK(BatchSampler::pk(std::vector<int32_t>{0, 1, 2, -1}, 2, 2, 1).batches_per_epoch() == 0);
}

// ------------------------------------------------------------------------------------------------
// Checkpoints

namespace {

template <typename T>
train::ParamStore<T> checkpoint_store(int64_t w_rows = 3) {
  train::ParamStore<T> s;
  s.add("emb", {5, 3});
  s.add("w", {w_rows, 7});
  s.add("b", {1});
  s.allocate();
  return s;
}

train::CheckpointState sample_state() {
  train::CheckpointState s;
  s.kind = "fake";
  s.config = {{"kind", "fake"}, {"d", 3}};
  s.trainer_options = TrainerOptions{}.to_json();
  s.step = 17, s.epoch = 2, s.batch = 5, s.adam_step = 17;
  s.dropout_offset = 123456789012345ull;
  s.rng_seed = 0xFFFFFFFFFFFFFFFFull, s.rng_stream = 0xD209u, s.rng_position = 3;
  s.best_validation_loss = 1.0 / 3.0;
  s.best_epoch = 2;
  s.extra = {{"anything", {1, 2, 3}}};
  return s;
}

}  // namespace

TEST_CASE_TEMPLATE("train/checkpoint: round trip restores parameters, Adam moments and state bit for bit", T, float,
                   double) {
  testing::TempDir dir("simad_test_trainer");
  const fs::path path = dir.path / "run.ckpt";
  Rng rng = testing::test_rng();
  train::ParamStore<T> store = checkpoint_store<T>();
  for (const train::ParamSlice& s : store) rng.fill_normal(store.param(s.name).span(), 0.0, 1.0);  // padding stays 0
  train::Adam<T> adam(store, {.lr = 0.01});
  for (int k = 0; k < 3; ++k) {
    store.zero_grad();
    for (const train::ParamSlice& s : store) rng.fill_normal(store.grad(s.name).span(), 0.0, 1.0);
    adam.step();
  }
  Tensor<T> best = Tensor<T>::zeros({store.buffer_size()});
  for (const train::ParamSlice& s : store) rng.fill_normal(best.view(s.offset, s.shape).span(), 0.0, 1.0);
  train::CheckpointState state = sample_state();
  state.adam_step = adam.step_count();
  train::save_checkpoint(path, store, adam, state, &best);

  train::ParamStore<T> store2 = checkpoint_store<T>();
  train::Adam<T> adam2(store2);
  Tensor<T> best2 = Tensor<T>::zeros({store2.buffer_size()});
  const train::CheckpointState loaded = train::load_checkpoint(path, store2, adam2, &best2);
  CHECK(same_bits(store.params(), store2.params()));
  CHECK(same_bits(adam.m(), adam2.m()));
  CHECK(same_bits(adam.v(), adam2.v()));
  CHECK(same_bits(best, best2));
  CHECK(adam2.step_count() == 3);
  state.has_best_params = true;
  CHECK(loaded == state);
  CHECK(train::read_checkpoint_state(path) == state);

  // Extreme doubles survive the text metadata exactly.
  for (double v : {std::numeric_limits<double>::infinity(), 0.1 + 0.2, 5e-324, -1.7976931348623157e308}) {
    state.best_validation_loss = v;
    train::save_checkpoint(path, store, adam, state);
    CHECK(train::read_checkpoint_state(path).best_validation_loss == v);
  }
  CHECK(!train::read_checkpoint_state(path).has_best_params);

  // The file is also a weights file for `simad embed`: parameters only, optimizer state skipped.
  train::ParamStore<T> store3 = checkpoint_store<T>();
  const train::WeightsInfo info = train::load_weights(path, store3);
  CHECK(info.is_checkpoint);
  CHECK(info.kind == "fake");
  CHECK(info.config == state.config);
  CHECK(same_bits(store.params(), store3.params()));

  // save_weights / load_weights.
  const fs::path weights = dir.path / "model.safetensors";
  train::save_weights(weights, store, "fake", state.config, {{"data", "{\"max_words\":8}"}});
  train::ParamStore<T> store4 = checkpoint_store<T>();
  const train::WeightsInfo w = train::load_weights(weights, store4);
  CHECK(!w.is_checkpoint);
  CHECK(w.metadata.at("data") == "{\"max_words\":8}");
  CHECK(same_bits(store.params(), store4.params()));
  CHECK(fs::directory_iterator(dir.path) != fs::directory_iterator());
  for (const auto& entry : fs::directory_iterator(dir.path))  // atomic writes leave no temporary behind
    CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("train/checkpoint: a missing tensor, a wrong shape or dtype, an extra tensor are named") {
  testing::TempDir dir("simad_test_trainer");
  const fs::path path = dir.path / "run.ckpt";
  train::ParamStore<float> store = checkpoint_store<float>();
  train::Adam<float> adam(store);
  train::save_checkpoint(path, store, adam, sample_state());

  {  // Drop "adam.v.w" from the file.
    io::safetensors::Reader reader(path);
    io::safetensors::NamedTensors<float> all;
    for (const auto& t : reader.tensors())
      if (t.name != "adam.v.w") all.emplace_back(t.name, reader.read<float>(t.name));
    io::safetensors::save(dir.path / "missing.ckpt", all, reader.metadata());
  }
  train::ParamStore<float> s1 = checkpoint_store<float>();
  train::Adam<float> a1(s1);
  std::string msg = error_of([&] { train::load_checkpoint(dir.path / "missing.ckpt", s1, a1); });
  CHECK(msg.find("'adam.v.w'") != std::string::npos);
  CHECK(msg.find("missing.ckpt") != std::string::npos);

  train::ParamStore<float> s2 = checkpoint_store<float>(4);  // w is (4, 7) here, (3, 7) in the file
  train::Adam<float> a2(s2);
  msg = error_of([&] { train::load_checkpoint(path, s2, a2); });
  CHECK(msg.find("'w'") != std::string::npos);
  CHECK(msg.find("(3, 7)") != std::string::npos);
  CHECK(msg.find("run.ckpt") != std::string::npos);
  msg = error_of([&] { train::load_weights(path, s2); });
  CHECK(msg.find("'w'") != std::string::npos);

  train::ParamStore<double> s3 = checkpoint_store<double>();  // trains in F64, the file is F32
  train::Adam<double> a3(s3);
  msg = error_of([&] { train::load_checkpoint(path, s3, a3); });
  CHECK(msg.find("F32") != std::string::npos);
  CHECK(train::load_weights(path, s3).kind == "fake");  // weights convert

  train::ParamStore<float> s4;  // no "b": the file has a parameter this model lacks
  s4.add("emb", {5, 3});
  s4.add("w", {3, 7});
  s4.allocate();
  train::Adam<float> a4(s4);
  msg = error_of([&] { train::load_checkpoint(path, s4, a4); });
  CHECK(msg.find("'b'") != std::string::npos);
  msg = error_of([&] { train::load_weights(path, s4); });
  CHECK(msg.find("'b'") != std::string::npos);

  // Not a checkpoint at all.
  io::safetensors::save(dir.path / "plain.safetensors", store);
  msg = error_of([&] { train::read_checkpoint_state(dir.path / "plain.safetensors"); });
  CHECK(msg.find("not a simad checkpoint") != std::string::npos);
  msg = error_of([&] { train::read_weights_info(dir.path / "plain.safetensors"); });
  CHECK(msg.find("not simad weights") != std::string::npos);
}

// ------------------------------------------------------------------------------------------------
// Trainer

TEST_CASE("train/trainer: learning-rate schedule") {
  TrainerOptions o;
  o.lr = 0.1;
  CHECK(train::scheduled_lr(o, 0, 100) == 0.1);
  o.warmup_steps = 4;
  CHECK(train::scheduled_lr(o, 0, 100) == doctest::Approx(0.025));
  CHECK(train::scheduled_lr(o, 3, 100) == doctest::Approx(0.1));
  CHECK(train::scheduled_lr(o, 50, 100) == 0.1);
  o.schedule = train::LrSchedule::cosine;
  CHECK(train::scheduled_lr(o, 4, 104) == doctest::Approx(0.1));
  CHECK(train::scheduled_lr(o, 54, 104) == doctest::Approx(0.05));
  CHECK(train::scheduled_lr(o, 104, 104) == doctest::Approx(0.0));
  CHECK(train::parse_schedule("cosine") == train::LrSchedule::cosine);
  CHECK_THROWS_AS(train::parse_schedule("linear"), Error);
}

TEST_CASE_TEMPLATE("train/trainer: the loss decreases on a learnable problem", T, float, double) {
  const FakeConfig c;
  const std::vector<AdExample> train_ads = make_ads(200, c, 1), val_ads = make_ads(60, c, 2, 1000);
  FakeModel<T> model = fresh_model<T>(c);
  TrainerOptions o;
  o.epochs = 8, o.batch_size = 16, o.lr = 0.05, o.progress = false;
  const TrainResult r = train::train(model, train_ads, val_ads, o);
  REQUIRE(r.history.size() == 8u);
  CHECK(r.steps == 8 * 13);
  CHECK(r.epochs == 8);
  CHECK(!r.stopped);
  INFO("train loss ", r.history.front().train_loss, " -> ", r.history.back().train_loss, ", validation ",
       r.history.front().validation_loss, " -> ", r.history.back().validation_loss);
  CHECK(r.history.back().train_loss < 0.6 * r.history.front().train_loss);
  CHECK(r.history.back().validation_loss < r.history.front().validation_loss);
  CHECK(r.best_validation_loss < std::log(double(c.classes)));
  CHECK(double(r.history.back().correct) / double(r.history.back().ads) > 0.6);
  CHECK(r.history.back().ads == 200);

  // P x K batches train too (the fake's loss does not need them, but the path is the same).
  FakeConfig pk = c;
  pk.pk = true;
  FakeModel<T> pk_model = fresh_model<T>(pk);
  o.classes_per_batch = 2, o.ads_per_class = 8;
  const TrainResult rp = train::train(pk_model, train_ads, val_ads, o);
  std::vector<int32_t> labels;
  for (const AdExample& a : train_ads) labels.push_back(a.label);
  const int64_t per_epoch = BatchSampler::pk(labels, 2, 8, o.seed).batches_per_epoch();
  CHECK(per_epoch >= 2);
  CHECK(rp.steps == o.epochs * per_epoch);
  CHECK(rp.history.back().ads == 200);  // a P x K epoch also sees every labelled ad once
  CHECK(rp.history.back().train_loss < rp.history.front().train_loss);
}

TEST_CASE_TEMPLATE("train/trainer: a resumed run equals the uninterrupted one bit for bit", T, float, double) {
  for (const bool pk : {false, true}) {
    for (const bool at_epoch_end : {false, true}) {
      CAPTURE(pk);
      CAPTURE(at_epoch_end);
      testing::TempDir dir("simad_test_trainer");
      FakeConfig c;
      c.pk = pk, c.classes = pk ? 8 : 4;
      const std::vector<AdExample> train_ads = make_ads(150, c, 3), val_ads = make_ads(40, c, 4, 1000);
      TrainerOptions o;
      o.epochs = 4, o.batch_size = 16, o.classes_per_batch = 3, o.ads_per_class = 4, o.lr = 0.03;
      o.schedule = train::LrSchedule::cosine, o.warmup_steps = 3, o.weight_decay = 1e-3, o.clip_norm = 0.5;
      o.progress = false, o.seed = 77;
      std::vector<int32_t> labels;
      for (const AdExample& a : train_ads) labels.push_back(a.label);
      // 150 / 16 -> 10 plain batches; P x K: chunks of the 8 classes, 3 a batch.
      const int64_t per_epoch = pk ? BatchSampler::pk(labels, 3, 4, o.seed).batches_per_epoch() : 10;
      REQUIRE(per_epoch >= 4);

      FakeModel<T> a = fresh_model<T>(c);
      const TrainResult ra = train::train(a, train_ads, val_ads, o);
      REQUIRE(ra.steps == 4 * per_epoch);

      TrainerOptions ob = o;
      ob.checkpoint = (dir.path / "run.ckpt").string();
      // Mid-epoch: stop at epoch 2, batch 2, right after the checkpoint of that step.
      ob.stop_after_steps = at_epoch_end ? per_epoch : per_epoch + 2;
      ob.checkpoint_every = at_epoch_end ? 0 : ob.stop_after_steps;
      FakeModel<T> b = fresh_model<T>(c);
      const TrainResult rb = train::train(b, train_ads, val_ads, ob);
      CHECK(rb.stopped);
      CHECK(rb.steps == ob.stop_after_steps);
      CHECK(!rb.restored_best);
      const train::CheckpointState cs = train::read_checkpoint_state(ob.checkpoint);
      CHECK(cs.step == ob.stop_after_steps);
      CHECK(cs.epoch == 1);
      CHECK(cs.batch == (at_epoch_end ? 0 : 2));
      CHECK(cs.dropout_offset > 0);
      CHECK(cs.best_epoch == 1);
      CHECK(cs.has_best_params);

      TrainerOptions oc = o;
      oc.resume = ob.checkpoint;
      oc.checkpoint = ob.checkpoint;  // continue writing the same file
      FakeModel<T> cm = fresh_model<T>(c, 999);  // the checkpoint overwrites every parameter
      const TrainResult rc = train::train(cm, train_ads, val_ads, oc);
      CHECK(rc.resumed_from_step == ob.stop_after_steps);
      CHECK(!rc.stopped);
      CHECK(rc.restored_best == ra.restored_best);
      CHECK(same_bits(a.store().params(), cm.store().params()));
      check_same_history(ra, rc);
      CHECK(train::read_checkpoint_state(ob.checkpoint).step == 4 * per_epoch);
    }
  }
}

TEST_CASE("train/trainer: the parameters of the best epoch are kept") {
  testing::TempDir dir("simad_test_trainer");
  const FakeConfig c;
  // The validation labels are shifted: the better the model learns the training labels, the worse
  // its validation loss, so the first epoch is the best.
  const std::vector<AdExample> train_ads = make_ads(160, c, 5), val_ads = make_ads(60, c, 6, 1000, 1);
  TrainerOptions o;
  o.epochs = 4, o.batch_size = 16, o.lr = 0.05, o.progress = false;

  FakeModel<double> kept = fresh_model<double>(c);
  const TrainResult r = train::train(kept, train_ads, val_ads, o);
  REQUIRE(r.history.size() == 4u);
  const auto best = std::min_element(r.history.begin(), r.history.end(), [](const auto& x, const auto& y) {
    return x.validation_loss < y.validation_loss;
  });
  CHECK(r.best_epoch == best->epoch);
  CHECK(r.best_validation_loss == best->validation_loss);
  REQUIRE(r.best_epoch < 4);  // else this test shows nothing
  CHECK(r.restored_best);

  // Equal to a run that stopped after the best epoch (constant lr: the same first epochs).
  TrainerOptions short_run = o;
  short_run.epochs = int(r.best_epoch), short_run.keep_best = false;
  FakeModel<double> shorter = fresh_model<double>(c);
  train::train(shorter, train_ads, val_ads, short_run);
  CHECK(same_bits(kept.store().params(), shorter.store().params()));

  // keep_best = false ends with the last epoch's parameters.
  TrainerOptions last = o;
  last.keep_best = false;
  FakeModel<double> last_model = fresh_model<double>(c);
  const TrainResult rl = train::train(last_model, train_ads, val_ads, last);
  CHECK(!rl.restored_best);
  CHECK(rl.best_epoch == r.best_epoch);
  CHECK(!same_bits(last_model.store().params(), kept.store().params()));

  // Without a validation set the last epoch is the best and nothing is restored.
  FakeModel<double> no_val = fresh_model<double>(c);
  const TrainResult rn = train::train(no_val, train_ads, {}, o);
  CHECK(rn.best_epoch == 4);
  CHECK(std::isnan(rn.best_validation_loss));
  CHECK(!rn.restored_best);
  CHECK(same_bits(no_val.store().params(), last_model.store().params()));
}

TEST_CASE("train/trainer: a resume checks the model, the options and the data") {
  testing::TempDir dir("simad_test_trainer");
  const FakeConfig c;
  const std::vector<AdExample> train_ads = make_ads(64, c, 7), val_ads = make_ads(20, c, 8, 1000);
  TrainerOptions o;
  o.epochs = 2, o.batch_size = 16, o.progress = false;
  o.checkpoint = (dir.path / "run.ckpt").string();
  o.stop_after_steps = 2, o.checkpoint_every = 2;
  FakeModel<float> m = fresh_model<float>(c);
  train::train(m, train_ads, val_ads, o);

  TrainerOptions r = o;
  r.resume = o.checkpoint, r.checkpoint.clear(), r.stop_after_steps = -1;
  std::string msg;
  {
    TrainerOptions changed = r;
    changed.lr = 0.5;
    FakeModel<float> f = fresh_model<float>(c);
    msg = error_of([&] { train::train(f, train_ads, val_ads, changed); });
    CHECK(msg.find("option 'lr'") != std::string::npos);
  }
  {
    FakeModel<float> f = fresh_model<float>(c);
    const std::vector<AdExample> other = make_ads(64, c, 70);
    msg = error_of([&] { train::train(f, other, val_ads, r); });
    CHECK(msg.find("different training set") != std::string::npos);
  }
  {
    FakeConfig wider = c;
    wider.word_dim = 5;
    FakeModel<float> f = fresh_model<float>(wider);
    msg = error_of([&] { train::train(f, train_ads, val_ads, r); });
    CHECK(msg.find("/word_dim") != std::string::npos);
  }
  {
    FakeModel<double> f = fresh_model<double>(c);
    msg = error_of([&] { train::train(f, train_ads, val_ads, r); });
    CHECK(msg.find("F32") != std::string::npos);
  }
  {
    TrainerOptions missing = r;
    missing.resume = (dir.path / "nope.ckpt").string();
    FakeModel<float> f = fresh_model<float>(c);
    msg = error_of([&] { train::train(f, train_ads, val_ads, missing); });
    CHECK(msg.find("nope.ckpt") != std::string::npos);
  }
  // The run itself resumes fine, and more epochs may follow with a constant schedule.
  TrainerOptions longer = r;
  longer.epochs = 3;
  FakeModel<float> f = fresh_model<float>(c);
  const TrainResult res = train::train(f, train_ads, val_ads, longer);
  CHECK(res.epochs == 3);
  CHECK(res.steps == 12);

  // Model weights: save from the model, load into a fresh one; a different config is refused.
  const fs::path weights = dir.path / "model.safetensors";
  train::save_weights(weights, f);
  FakeModel<float> g = fresh_model<float>(c, 1234);
  CHECK(train::load_weights(weights, g).kind == "fake");
  CHECK(same_bits(f.store().params(), g.store().params()));
  FakeConfig other = c;
  other.dropout = 0.3;
  FakeModel<float> h = fresh_model<float>(other);
  msg = error_of([&] { train::load_weights(weights, h); });
  CHECK(msg.find("/dropout") != std::string::npos);
}

TEST_CASE("train/trainer: every metrics log line is JSON with the loss terms, lr and throughput") {
  testing::TempDir dir("simad_test_trainer");
  const FakeConfig c;
  const std::vector<AdExample> train_ads = make_ads(50, c, 9), val_ads = make_ads(20, c, 10, 1000);
  TrainerOptions o;
  o.epochs = 2, o.batch_size = 16, o.progress = true;  // the progress lines go to stderr
  o.metrics_log = (dir.path / "metrics.jsonl").string();
  FakeModel<float> m = fresh_model<float>(c);
  const TrainResult r = train::train(m, train_ads, val_ads, o);
  std::ifstream in(o.metrics_log);
  std::string line;
  int64_t steps = 0, epochs = 0, starts = 0;
  while (std::getline(in, line)) {
    nlohmann::json j;
    REQUIRE_NOTHROW(j = nlohmann::json::parse(line));
    REQUIRE(j.contains("type"));
    CHECK(j.at("model") == "fake");
    const std::string type = j.at("type");
    if (type == "start") {
      ++starts;
      CHECK(j.at("options").at("batch_size") == 16);
    } else if (type == "step") {
      ++steps;
      CHECK(j.at("step") == steps);
      for (const char* key : {"loss", "main", "keyword", "lr", "ads_per_s", "grad_norm", "ads"})
        CHECK_MESSAGE(j.at(key).is_number(), key);
      CHECK(j.at("lr").get<double>() == o.lr);
    } else if (type == "epoch") {
      ++epochs;
      for (const char* key : {"train_loss", "validation_loss", "ads_per_s", "seconds"})
        CHECK_MESSAGE(j.at(key).is_number(), key);
    }
  }
  CHECK(starts == 1);
  CHECK(steps == r.steps);
  CHECK(steps == 2 * 4);
  CHECK(epochs == 2);
}

}  // namespace SIMAD_TEST_FILE_ID
