// tests/lookalike/test_xgboost.cpp: AUC / top-M selection (lookalike/auc.hpp) against hand-computed
// values and a naive pairwise reference, and the XGBoost C API wrapper (lookalike/xgboost.hpp):
// training on a separable set, save/load equality, our AUC against XGBoost's own eval AUC, errors.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "simad/lookalike/auc.hpp"
#include "simad/lookalike/xgboost.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad;
using namespace simad::lookalike;
namespace fs = std::filesystem;

double naive_auc(const std::vector<float>& s, const std::vector<uint8_t>& y) {
  double wins = 0, pairs = 0;
  for (size_t i = 0; i < s.size(); ++i)
    for (size_t j = 0; j < s.size(); ++j)
      if (y[i] && !y[j]) wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0, pairs += 1;
  return wins / pairs;
}

// A random binary problem: label = [x0 + 0.5 x1 + noise > 0.3], other columns noise.
struct Toy {
  std::vector<float> x, y;
  int64_t rows = 0, cols = 0;
};
Toy make_toy(Rng& rng, int64_t rows, int64_t cols, double noise) {
  Toy t;
  t.rows = rows, t.cols = cols;
  t.x.resize(size_t(rows * cols));
  t.y.resize(size_t(rows));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) t.x[size_t(r * cols + c)] = float(rng.next_uniform());
    const double v = t.x[size_t(r * cols)] + 0.5 * t.x[size_t(r * cols + 1)] + noise * rng.next_normal();
    t.y[size_t(r)] = v > 0.8 ? 1.0f : 0.0f;
  }
  return t;
}

std::vector<uint8_t> as_labels(const std::vector<float>& y) {
  std::vector<uint8_t> l(y.size());
  for (size_t i = 0; i < y.size(); ++i) l[i] = y[i] > 0.5f;
  return l;
}

TEST_CASE("lookalike/auc: a hand-computed case with ties") {
  // Positives 0.35, 0.8, 0.4 against negatives 0.1, 0.4: pairs won 1+0, 1+1, 1+0.5 of 6 -> 0.75.
  const std::vector<float> s = {0.1f, 0.4f, 0.35f, 0.8f, 0.4f};
  const std::vector<uint8_t> y = {0, 0, 1, 1, 1};
  CHECK(auc(s, y) == doctest::Approx(0.75).epsilon(1e-12));
  // Perfect, reversed, all tied.
  CHECK(auc(std::vector<float>{1, 2, 3, 4}, std::vector<uint8_t>{0, 0, 1, 1}) == 1.0);
  CHECK(auc(std::vector<float>{4, 3, 2, 1}, std::vector<uint8_t>{0, 0, 1, 1}) == 0.0);
  CHECK(auc(std::vector<float>{5, 5, 5, 5}, std::vector<uint8_t>{0, 1, 1, 0}) == 0.5);
  // No positive or no negative: undefined.
  CHECK(std::isnan(auc(std::vector<float>{1, 2}, std::vector<uint8_t>{1, 1})));
  CHECK(std::isnan(auc(std::vector<float>{}, std::vector<uint8_t>{})));
  CHECK_THROWS_AS(auc(std::vector<float>{1, 2}, std::vector<uint8_t>{1}), Error);
}

TEST_CASE("lookalike/auc: equals the naive pairwise count on random scores with many ties") {
  Rng rng = testing::test_rng();
  for (int trial = 0; trial < 20; ++trial) {
    const size_t n = 1 + rng.next_below(300);
    const uint32_t levels = 1 + rng.next_below(12);  // few distinct scores: many ties
    std::vector<float> s(n);
    std::vector<uint8_t> y(n);
    for (size_t i = 0; i < n; ++i) s[i] = float(rng.next_below(levels)) * 0.25f, y[i] = rng.next_uniform() < 0.3;
    y[0] = 1;
    if (n > 1) y[n - 1] = 0;
    if (n < 2) continue;
    INFO("trial ", trial, " n ", n, " levels ", levels);
    CHECK(auc(s, y) == doctest::Approx(naive_auc(s, y)).epsilon(1e-12));
  }
}

TEST_CASE("lookalike/auc: select_top picks the highest scores and counts their clicks") {
  const std::vector<float> s = {0.2f, 0.9f, 0.5f, 0.9f, 0.1f};
  const std::vector<uint8_t> c = {1, 0, 1, 1, 1};
  Selection sel = select_top(s, c, 3);  // 0.9 (index 1), 0.9 (index 3), 0.5 (index 2)
  CHECK(sel.selected == 3);
  CHECK(sel.clicked == 2);
  CHECK(sel.ctr() == doctest::Approx(2.0 / 3));
  sel = select_top(s, c, 1);  // the tie at 0.9 goes to the lower index: not clicked
  CHECK(sel.clicked == 0);
  sel = select_top(s, c, 99);
  CHECK(sel.selected == 5);
  CHECK(sel.clicked == 4);
  CHECK(std::isnan(select_top(s, c, 0).ctr()));
}

TEST_CASE("lookalike/xgboost: a separable set gives AUC near 1 on fresh data") {
  Rng rng = testing::test_rng();
  const Toy train = make_toy(rng, 400, 5, 0.0), test = make_toy(rng, 400, 5, 0.0);
  xgb::DMatrix dtrain = xgb::DMatrix::from_dense(train.x.data(), train.rows, train.cols);
  dtrain.set_labels(train.y);
  CHECK(dtrain.rows() == 400);
  CHECK(dtrain.cols() == 5);
  xgb::Params p;
  p.rounds = 40, p.nthread = 2;
  const xgb::Booster model = xgb::Booster::train(dtrain, p);
  CHECK(model.rounds() == 40);
  const xgb::DMatrix dtest = xgb::DMatrix::from_dense(test.x.data(), test.rows, test.cols);
  const std::vector<float> pred = model.predict(dtest);
  REQUIRE(pred.size() == 400);
  for (float v : pred) REQUIRE((v >= 0.0f && v <= 1.0f));
  CHECK(auc(pred, as_labels(test.y)) > 0.98);
}

TEST_CASE("lookalike/xgboost: our AUC equals XGBoost's eval AUC") {
  Rng rng = testing::test_rng();
  const Toy t = make_toy(rng, 500, 4, 0.3);  // noisy: AUC well below 1
  xgb::DMatrix d = xgb::DMatrix::from_dense(t.x.data(), t.rows, t.cols);
  d.set_labels(t.y);
  xgb::Params p;
  p.rounds = 3, p.max_depth = 2, p.nthread = 1;
  p.extra = {{"eval_metric", "auc"}};
  std::vector<std::string> log;
  const xgb::Booster model = xgb::Booster::train(d, p, {{"train", &d}}, &log);
  REQUIRE(log.size() == 3);
  const std::string& last = log.back();
  const size_t at = last.find("train-auc:");
  REQUIRE(at != std::string::npos);
  const double theirs = std::stod(last.substr(at + 10));
  const double ours = auc(model.predict(d), as_labels(t.y));
  INFO("xgboost: ", last, " ours: ", ours);
  CHECK(ours < 0.99);
  CHECK(ours == doctest::Approx(theirs).epsilon(2e-5));
}

TEST_CASE("lookalike/xgboost: save/load (file and buffer) gives identical predictions") {
  Rng rng = testing::test_rng();
  const Toy t = make_toy(rng, 300, 6, 0.2);
  xgb::DMatrix d = xgb::DMatrix::from_dense(t.x.data(), t.rows, t.cols);
  d.set_labels(t.y);
  xgb::Params p;
  p.rounds = 10, p.nthread = 2;
  const xgb::Booster model = xgb::Booster::train(d, p);
  const std::vector<float> before = model.predict(d);
  testing::TempDir dir("simad_test_xgboost");
  for (const char* name : {"model.json", "model.ubj"}) {
    model.save(dir.path / name);
    const xgb::Booster again = xgb::Booster::load(dir.path / name);
    CHECK(again.rounds() == 10);
    CHECK(again.predict(d) == before);
  }
  const std::vector<char> bytes = model.save_to_buffer();
  CHECK(xgb::Booster::load_from_buffer(bytes).predict(d) == before);
  // CSR input with the same values predicts the same.
  std::vector<size_t> indptr = {0};
  std::vector<unsigned> idx;
  std::vector<float> val;
  for (int64_t r = 0; r < t.rows; ++r) {
    for (int64_t c = 0; c < t.cols; ++c) idx.push_back(unsigned(c)), val.push_back(t.x[size_t(r * t.cols + c)]);
    indptr.push_back(val.size());
  }
  CHECK(model.predict(xgb::DMatrix::from_csr(indptr, idx, val, t.cols)) == before);
}

TEST_CASE("lookalike/xgboost: errors carry XGBoost's message") {
  const std::vector<float> x = {0, 1, 2, 3}, y = {0, 1};
  xgb::DMatrix d = xgb::DMatrix::from_dense(x.data(), 2, 2);
  CHECK_THROWS_AS(d.set_labels(std::vector<float>{1, 0, 1}), Error);
  d.set_labels(y);
  xgb::Params p;
  p.rounds = 1;
  p.objective = "no-such:objective";
  try {
    (void)xgb::Booster::train(d, p);
    FAIL("an unknown objective trained");
  } catch (const Error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("xgboost: ") != std::string::npos);
    CHECK(m.find("no-such:objective") != std::string::npos);  // XGBoost names it
  }
  CHECK_THROWS_AS(xgb::Booster::load("no/such/model.json"), Error);
  const std::vector<char> junk = {'n', 'o', 't', ' ', 'a', ' ', 'm', 'o', 'd', 'e', 'l'};
  CHECK_THROWS_AS(xgb::Booster::load_from_buffer(junk), Error);
}

}  // namespace

}  // namespace SIMAD_TEST_FILE_ID
