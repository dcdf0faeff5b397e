// Gradient checks of both full models (ION, ToTYEmb) at double precision on tiny configurations,
// every ablation switch included: every parameter's analytic gradient against central finite
// differences of the total loss. Plus float against double, masks (an ad with no word, an ad with
// one region), and the configs' JSON round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "simad/core/rng.hpp"
#include "simad/models/batch.hpp"
#include "simad/models/ion.hpp"
#include "simad/models/text_pretrain.hpp"
#include "simad/models/totyemb.hpp"
#include "models/random_ads.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using namespace simad::models;

namespace {

constexpr int64_t kVocab = 23, kTags = 9, kRegionDim = 4;

std::vector<AdExample> random_ads(uint64_t seed, int64_t B, int32_t classes) {
  return testing::random_ads(seed, B, classes, {kVocab, kTags, 4, kRegionDim});
}

template <typename T>
AdBatch<T> batch_of(const std::vector<AdExample>& ads) {
  std::vector<const AdExample*> rows;
  for (const AdExample& a : ads) rows.push_back(&a);
  return make_batch<T>(rows, 8);
}

nn::TransformerConfig tiny_encoder(int64_t layers, int64_t tags) {
  nn::TransformerConfig e;
  e.d_model = 8, e.num_heads = 2, e.num_layers = layers, e.ffn_dim = 12, e.dropout = 0.0;
  e.vocab_size = kVocab, e.pos_tag_count = tags;
  return e;
}

// Central differences over every parameter; returns the worst error measure max |a - n| / (atol + rtol |n|).
template <typename Model>
double gradient_check(Model& m, const AdBatch<double>& b, const char* what) {
  auto& store = m.store();
  store.zero_grad();
  m.forward(b, true, nullptr);
  m.backward();
  std::vector<double> analytic(store.grads().span().begin(), store.grads().span().end());
  double* p = store.params().data();
  const double eps = 1e-6, atol = 1e-7, rtol = 1e-5;
  double worst = 0;
  int64_t checked = 0, nonzero = 0;
  for (const auto& s : store) {
    for (int64_t k = 0; k < s.numel; ++k) {
      const int64_t i = s.offset + k;
      const double saved = p[i];
      p[i] = saved + eps;
      const double up = m.forward(b, true, nullptr).total;
      p[i] = saved - eps;
      const double down = m.forward(b, true, nullptr).total;
      p[i] = saved;
      const double numeric = (up - down) / (2 * eps);
      const double err = std::abs(analytic[size_t(i)] - numeric) / (atol + rtol * std::abs(numeric));
      if (err > 1 && err > worst) MESSAGE(std::string(what) << ": " << s.name << "[" << k << "] analytic " << analytic[size_t(i)] << " numeric " << numeric);
      worst = std::max(worst, err);
      ++checked;
      nonzero += std::abs(analytic[size_t(i)]) > 1e-9;
    }
  }
  MESSAGE(std::string(what) << ": " << checked << " parameters, " << nonzero << " with a nonzero gradient, worst error " << worst);
  CHECK(nonzero > checked / 4);  // the check would pass vacuously on an all-zero gradient
  return worst;
}

IonConfig tiny_ion() {
  IonConfig c;
  c.encoder = tiny_encoder(2, 0);
  c.region_dim = kRegionDim, c.k2 = 3, c.embedding_dim = 6, c.rho = 0.3, c.margin = 0.5;
  return c;
}

TotyembConfig tiny_totyemb() {
  TotyembConfig c;
  c.encoder = tiny_encoder(1, kTags);
  c.region_dim = kRegionDim, c.num_classes = 4, c.kp = 3, c.K = 3, c.embedding_dim = 6;
  return c;
}

}  // namespace

TEST_CASE("models/ion: gradient check of the whole model in double, every ablation") {
  const std::vector<AdExample> ads = random_ads(11, 8, 3);
  const AdBatch<double> b = batch_of<double>(ads);
  struct Case { const char* name; IonConfig cfg; };
  std::vector<Case> cases;
  cases.push_back({"ION (hard KSG, SCA, bilinear DFA)", tiny_ion()});
  { IonConfig c = tiny_ion(); c.gate = KeywordGate::soft; cases.push_back({"soft KSG", c}); }
  { IonConfig c = tiny_ion(); c.use_ksg = false; cases.push_back({"w/o KSG", c}); }
  { IonConfig c = tiny_ion(); c.ranking = RegionRanking::confidence; cases.push_back({"w/o SCA", c}); }
  { IonConfig c = tiny_ion(); c.fusion = FusionMode::concat; cases.push_back({"w/o DFA", c}); }
  { IonConfig c = tiny_ion(); c.bilinear = false; cases.push_back({"identity W_f", c}); }
  { IonConfig c = tiny_ion(); c.ranking = RegionRanking::all; c.k2 = 6; cases.push_back({"all regions", c}); }
  { IonConfig c = tiny_ion(); c.fusion = FusionMode::text_only; cases.push_back({"text only", c}); }
  { IonConfig c = tiny_ion(); c.fusion = FusionMode::image_only; cases.push_back({"image only", c}); }
  for (const Case& c : cases) {
    Ion<double> m(c.cfg);
    Rng rng(5);
    m.init(rng);
    CHECK_MESSAGE(gradient_check(m, b, c.name) <= 1.0, c.name);
  }
}

TEST_CASE("models/totyemb: gradient check of the whole model in double, every ablation") {
  const std::vector<AdExample> ads = random_ads(12, 8, 4);
  const AdBatch<double> b = batch_of<double>(ads);
  struct Case { const char* name; TotyembConfig cfg; };
  std::vector<Case> cases;
  cases.push_back({"ToTYEmb (pointer, text-guided ranking)", tiny_totyemb()});
  { TotyembConfig c = tiny_totyemb(); c.use_pointer = false; cases.push_back({"w/o pointer", c}); }
  { TotyembConfig c = tiny_totyemb(); c.ranking = RegionRanking::confidence; cases.push_back({"w/o text clue", c}); }
  { TotyembConfig c = tiny_totyemb(); c.ranking = RegionRanking::all; c.K = 6; cases.push_back({"grid", c}); }
  { TotyembConfig c = tiny_totyemb(); c.fusion = FusionMode::text_only; cases.push_back({"text only", c}); }
  { TotyembConfig c = tiny_totyemb(); c.fusion = FusionMode::image_only; cases.push_back({"image only", c}); }
  { TotyembConfig c = tiny_totyemb(); c.K = 1; c.kp = 1; cases.push_back({"K = kp = 1", c}); }
  for (const Case& c : cases) {
    Totyemb<double> m(c.cfg);
    Rng rng(6);
    m.init(rng);
    CHECK_MESSAGE(gradient_check(m, b, c.name) <= 1.0, c.name);
  }
}

TEST_CASE("models: float forward and backward agree with double") {
  const std::vector<AdExample> ads = random_ads(13, 8, 4);
  auto compare = [&](auto& md, auto& mf) {
    Rng rng(7);
    md.init(rng);
    const auto pd = md.store().params().span();
    auto pf = mf.store().params().span();
    for (size_t i = 0; i < pd.size(); ++i) pf[i] = float(pd[i]);
    const double ld = md.forward(batch_of<double>(ads), false, nullptr).total;
    const double lf = mf.forward(batch_of<float>(ads), false, nullptr).total;
    CHECK(std::abs(ld - lf) <= 1e-4 * (1 + std::abs(ld)));
    md.store().zero_grad(), mf.store().zero_grad();
    md.backward(), mf.backward();
    const auto gd = md.store().grads().span();
    const auto gf = mf.store().grads().span();
    double scale = 0, diff = 0;
    for (size_t i = 0; i < gd.size(); ++i) scale = std::max(scale, std::abs(gd[i])), diff = std::max(diff, std::abs(gd[i] - double(gf[i])));
    CHECK(diff <= 1e-3 * scale);
    std::vector<double> ed(size_t(8 * md.embedding_dim()), std::nan(""));
    std::vector<float> ef(ed.size(), std::nanf(""));
    md.embed(batch_of<double>(ads), ed.data());
    mf.embed(batch_of<float>(ads), ef.data());
    for (size_t i = 0; i < ed.size(); ++i) REQUIRE(std::abs(ed[i] - double(ef[i])) <= 1e-4 * (1 + std::abs(ed[i])));
  };
  {
    Ion<double> md(tiny_ion());
    Ion<float> mf(tiny_ion());
    compare(md, mf);
  }
  {
    Totyemb<double> md(tiny_totyemb());
    Totyemb<float> mf(tiny_totyemb());
    compare(md, mf);
  }
}

TEST_CASE("models: ION embeddings are unit vectors, and an ad embeds the same alone or in a batch") {
  const std::vector<AdExample> ads = random_ads(14, 8, 3);
  Ion<double> m(tiny_ion());
  Rng rng(8);
  m.init(rng);
  std::vector<double> all(size_t(8 * 6), std::nan(""));
  m.embed(batch_of<double>(ads), all.data());
  for (int64_t i = 0; i < 8; ++i) {
    double n = 0;
    for (int64_t c = 0; c < 6; ++c) n += all[size_t(i * 6 + c)] * all[size_t(i * 6 + c)];
    CHECK(std::abs(n - 1) < 1e-12);
    std::vector<double> one(6, std::nan(""));
    m.embed(batch_of<double>({ads[size_t(i)]}), one.data());
    for (int64_t c = 0; c < 6; ++c) CHECK(std::abs(one[size_t(c)] - all[size_t(i * 6 + c)]) < 1e-12);
  }
}

TEST_CASE("models: configs round-trip through JSON and bad fields are named") {
  IonConfig ion = tiny_ion();
  ion.gate = KeywordGate::soft, ion.ranking = RegionRanking::confidence, ion.fusion = FusionMode::concat;
  const IonConfig back = IonConfig::from_json(ion.to_json());
  CHECK(back.to_json() == ion.to_json());
  TotyembConfig t = tiny_totyemb();
  t.use_pointer = false, t.K = 2;
  CHECK(TotyembConfig::from_json(t.to_json()).to_json() == t.to_json());
  nlohmann::json bad = ion.to_json();
  bad["k2"] = "ten";
  CHECK_THROWS_WITH(IonConfig::from_json(bad), doctest::Contains("'k2'"));
  bad = ion.to_json();
  bad["fusion"] = "magic";
  CHECK_THROWS_WITH(IonConfig::from_json(bad), doctest::Contains("magic"));
  CHECK_THROWS_WITH(TotyembConfig::from_json(ion.to_json()), doctest::Contains("kind"));
}

TEST_CASE("models/text_pretrain: gradient check in double, masks come from the stream, encoder copies into ToTYEmb") {
  std::vector<AdExample> ads = random_ads(15, 8, 3);
  for (size_t i = 0; i < ads.size(); ++i) ads[i].industry = int32_t(i % 3) - (i == 5 ? 1 : 0);  // ad 5: none
  const AdBatch<double> b = batch_of<double>(ads);
  TextPretrainConfig cfg;
  cfg.encoder = tiny_encoder(1, kTags);
  cfg.num_industries = 3;
  cfg.mask_rate = 0.4;  // more masked positions in a tiny batch
  TextPretrainer<double> m(cfg);
  Rng rng(9);
  m.init(rng);
  // Without a stream the masks are fixed, so the finite differences see one loss function.
  CHECK(gradient_check(m, b, "text pre-training") <= 1.0);
  // Training mode draws its masks from the stream: two offsets, two different losses; same offset, same loss.
  const Rng stream(3);
  nn::DropoutStream s1{&stream, 0}, s2{&stream, 0}, s3{&stream, 1000};
  const double l1 = m.forward(b, true, &s1).total, l2 = m.forward(b, true, &s2).total, l3 = m.forward(b, true, &s3).total;
  CHECK(l1 == l2);
  CHECK(l1 != l3);
  CHECK(s1.offset >= uint64_t(b.B * b.N));
  // The encoder goes into a ToTYEmb of the same encoder config.
  TotyembConfig t = tiny_totyemb();
  Totyemb<double> toty(t);
  m.copy_encoder_to(toty.store());
  const auto w = toty.store().param("encoder.layers.0.linear1.weight").span();
  const auto v = m.store().param("encoder.layers.0.linear1.weight").span();
  CHECK(std::equal(w.begin(), w.end(), v.begin()));
}

}  // namespace SIMAD_TEST_FILE_ID
