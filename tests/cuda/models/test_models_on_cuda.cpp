// tests/cuda/models/test_models_on_cuda.cpp: ION and ToTYEmb, the same model code, trained on CPU
// tensors and on (emulated) CUDA tensors from the same initial weights: 5 Adam steps on tiny
// configurations (encoder layers with dropout). ION: the paper's model (KSG, SCA with k2 = 3, bilinear
// DFA) and three ablations (soft gate, w/o SCA, w/o DFA); ToTYEmb: the thesis' model (pointer,
// text-guided ranking, POS tags) and two ablations (w/o pointer, w/o text clue). Each step's loss terms must agree within 1e-4 relative, the
// final weights within 1e-4 + 1e-3 |cpu| (except the attention's key biases, whose true gradient is 0:
// Adam turns the runs' rounding noise there into steps of +-lr; see test_transformer_on_cuda.cpp),
// the kept regions must be the same, and the embeddings of the trained models within 1e-4 + 1e-3 |cpu|.
// Batches have an empty text, a one-region ad, padding everywhere.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/models/batch.hpp"
#include "simad/models/ion.hpp"
#include "simad/models/totyemb.hpp"
#include "simad/ops/dispatch/adam.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "models/random_ads.hpp"
#include "cuda/kernels/cuda_compare.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::Device;
using simad::Rng;
using simad::Tensor;
using namespace simad::models;
namespace ops = simad::ops;
namespace train = simad::train;

constexpr int64_t kVocab = 23, kRegionDim = 4;

std::vector<AdExample> random_ads(uint64_t seed, int64_t B, int32_t classes) {
  return simad::testing::random_ads(seed, B, classes, {kVocab, 5, 0, kRegionDim});
}

IonConfig tiny_ion() {
  IonConfig c;
  c.encoder.d_model = 8, c.encoder.num_heads = 2, c.encoder.num_layers = 2, c.encoder.ffn_dim = 12;
  c.encoder.dropout = 0.1, c.encoder.vocab_size = kVocab, c.encoder.pos_tag_count = 0;
  c.region_dim = kRegionDim, c.k2 = 3, c.embedding_dim = 6, c.rho = 0.3, c.margin = 0.5;
  c.distance = simad::ops::TripletDistance::Euclidean;
  return c;
}

TotyembConfig tiny_totyemb() {
  TotyembConfig c;
  c.encoder.d_model = 8, c.encoder.num_heads = 2, c.encoder.num_layers = 1, c.encoder.ffn_dim = 12;
  c.encoder.dropout = 0.1, c.encoder.vocab_size = kVocab, c.encoder.pos_tag_count = 5;
  c.region_dim = kRegionDim, c.num_classes = 4, c.kp = 3, c.K = 3, c.embedding_dim = 6;
  return c;
}

struct Run {
  std::vector<LossTerms> losses;
  std::vector<std::vector<int32_t>> kept;
  Tensor<float> params, embeddings;
};

template <typename Model, typename Config>
Run train_on(Device device, const Config& cfg, const AdBatch<float>& batch) {
  Model model(cfg);
  Rng init(2026);
  model.init(init);
  model.to(device);
  REQUIRE(model.device() == device);
  train::ParamStore<float>& store = model.store();
  const Tensor<float> m = Tensor<float>::empty(store.params().shape(), device);
  const Tensor<float> v = Tensor<float>::empty(store.params().shape(), device);
  ops::fill(m, 0.0f), ops::fill(v, 0.0f);
  train::AdamOptions adam;
  adam.lr = 3e-3;
  const Rng drop_rng(99);
  simad::nn::DropoutStream drop{&drop_rng, 0};
  Run run;
  for (int step = 1; step <= 5; ++step) {
    ops::fill(store.grads(), 0.0f);
    run.losses.push_back(model.forward(batch, true, &drop));
    run.kept.push_back(model.kept_regions());
    model.backward();
    train::adam_update(store.params(), store.grads(), m, v, step, adam, train::WeightDecay::l2);
  }
  run.params = simad::testing::from_gpu(store.params());
  run.embeddings = Tensor<float>::empty({batch.B, cfg.embedding_dim});
  model.embed(batch, run.embeddings.data());
  return run;
}

// Trains the configuration on both devices and compares the runs (see the file comment).
template <typename Model, typename Config>
void check_same_training(const Config& cfg, const AdBatch<float>& batch) {
  const Run cpu = train_on<Model>(Device::cpu, cfg, batch);
  const Run gpu = train_on<Model>(Device::cuda, cfg, batch);
  for (size_t s = 0; s < cpu.losses.size(); ++s) {
    CAPTURE(s);
    CHECK(std::abs(gpu.losses[s].main - cpu.losses[s].main) <= 1e-4 * std::abs(cpu.losses[s].main) + 1e-6);
    CHECK(std::abs(gpu.losses[s].keyword - cpu.losses[s].keyword) <= 1e-4 * std::abs(cpu.losses[s].keyword));
    CHECK(gpu.losses[s].skipped_anchors == cpu.losses[s].skipped_anchors);
    CHECK(gpu.losses[s].correct == cpu.losses[s].correct);
    CHECK(gpu.kept[s] == cpu.kept[s]);
  }
  CHECK(cpu.losses.back().total < cpu.losses.front().total);  // it learns
  // Weights, but the key biases (rows d..2d of each in_proj_bias).
  Model layout(cfg);
  std::vector<uint8_t> compared(static_cast<size_t>(cpu.params.numel()), 1);
  int64_t excluded = 0;
  for (const train::ParamSlice& sl : layout.store())
    if (sl.name.ends_with("self_attn.in_proj_bias")) {
      std::fill_n(compared.begin() + sl.offset + cfg.encoder.d_model, cfg.encoder.d_model, uint8_t(0));
      excluded += cfg.encoder.d_model;
    }
  CHECK(excluded == cfg.encoder.d_model * cfg.encoder.num_layers);
  int64_t bad = 0;
  for (int64_t i = 0; i < cpu.params.numel(); ++i) {
    if (!compared[size_t(i)]) continue;
    const double a = cpu.params.data()[i], b = gpu.params.data()[i];
    if (!(std::abs(a - b) <= 1e-4 + 1e-3 * std::abs(a)) && bad++ < 5) MESSAGE("weight ", i, ": cpu ", a, " cuda ", b);
  }
  CHECK(bad == 0);
  simad::testing::check_close(gpu.embeddings, std::span<const float>(cpu.embeddings.span()), 1e-4, 1e-3,
                              "embeddings after training");
}

AdBatch<float> test_batch() {
  static const std::vector<AdExample> ads = random_ads(7, 12, 4);
  std::vector<const AdExample*> rows;
  for (const AdExample& a : ads) rows.push_back(&a);
  return make_batch<float>(rows, 8);
}

}  // namespace

TEST_CASE("cuda/models: ION trains on CUDA tensors as on the CPU (the paper's model and three ablations)") {
  const AdBatch<float> batch = test_batch();
  struct Case {
    const char* name;
    IonConfig cfg;
  };
  std::vector<Case> cases = {{"ION", tiny_ion()}};
  {
    IonConfig c = tiny_ion();
    c.gate = KeywordGate::soft;
    cases.push_back({"soft KSG", c});
  }
  {
    IonConfig c = tiny_ion();
    c.ranking = RegionRanking::confidence;
    cases.push_back({"w/o SCA", c});
  }
  {
    IonConfig c = tiny_ion();
    c.fusion = FusionMode::concat;
    cases.push_back({"w/o DFA", c});
  }
  for (const Case& c : cases) {
    CAPTURE(std::string(c.name));
    check_same_training<Ion<float>>(c.cfg, batch);
  }
}

TEST_CASE("cuda/models: ToTYEmb trains on CUDA tensors as on the CPU (the thesis' model and two ablations)") {
  const AdBatch<float> batch = test_batch();
  struct Case {
    const char* name;
    TotyembConfig cfg;
  };
  std::vector<Case> cases = {{"ToTYEmb", tiny_totyemb()}};
  {
    TotyembConfig c = tiny_totyemb();
    c.use_pointer = false;
    cases.push_back({"w/o pointer", c});
  }
  {
    TotyembConfig c = tiny_totyemb();
    c.ranking = RegionRanking::confidence;
    cases.push_back({"w/o text clue", c});
  }
  for (const Case& c : cases) {
    CAPTURE(std::string(c.name));
    check_same_training<Totyemb<float>>(c.cfg, batch);
  }
}

}  // namespace SIMAD_TEST_FILE_ID
