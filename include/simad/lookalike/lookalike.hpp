// simad/lookalike/lookalike.hpp: the lookalike experiment of one ad package (MODELS.md "Lookalike",
// both papers' section 4): M_initial (XGBoost on the package's own clickers against 3x as many of its
// non-clicking impression users) against M_expanded (clickers of similar ads added,
// expansion.hpp), for each expansion size m of a sweep, on the same held-out users:
//   - AUC on the held-out 10% of the training period's impression users (auc_test), and on the
//     next period's impression users (auc_next: more clickers, so less noisy);
//   - the ION paper's CTR simulation: each model selects its top-M of the next period's impression
//     users (M = select_share of them); CTR = clicked / selected, against the period's overall CTR
//     (what a random selection gets).
// M_initial is trained only when the package has at least min_clickers training clickers (the
// papers: 1,000 on production data); a smaller package still gets its expanded models.
// Needs XGBoost (see xgboost.hpp on linking).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "simad/lookalike/auc.hpp"
#include "simad/lookalike/data.hpp"
#include "simad/lookalike/expansion.hpp"
#include "simad/lookalike/xgboost.hpp"

namespace simad::lookalike {

struct LookalikeOptions {
  ExpandMode mode = ExpandMode::package;
  std::vector<int64_t> m_values = {10};  // expansion sizes (similar ads: in total, or per ad)
  double negative_ratio = 3.0;
  double test_share = 0.1;
  int32_t train_period = 1, next_period = 2;
  double select_share = 0.1;       // top-M = this share of the next period's impression users
  int64_t min_clickers = 10;       // fewer training clickers: no M_initial (the papers: 1000)
  uint64_t seed = 1;
  xgb::Params xgb;
  // Training sets smaller than this train (and predict) on one thread: XGBoost's OpenMP threads meet
  // at barriers many times per round, which costs more than the work on a few thousand rows, and
  // far more when another process holds a core (measured: 56 small models took 8.5 s on 2 idle
  // cores and 220 s beside a compiler, with 2 threads each).
  int64_t single_thread_below = 50000;
};

struct ModelResult {
  std::string name;         // "initial" or "expanded m=10"
  int64_t m = 0;            // 0: initial
  bool trained = false;
  std::string note;         // why not trained
  int64_t positives = 0, negatives = 0, added_positives = 0, similar_ads = 0, similar_keys = 0;
  double same_category = std::numeric_limits<double>::quiet_NaN();  // share of similar ads of the package's category
  double auc_test = std::numeric_limits<double>::quiet_NaN(), auc_next = std::numeric_limits<double>::quiet_NaN();
  int64_t selected = 0, selected_clicked = 0;
  double ctr = std::numeric_limits<double>::quiet_NaN();
};

struct PackageResult {
  int64_t package = 0;
  int64_t ads = 0, ads_without_embedding = 0;
  int64_t train_users = 0, train_clickers = 0, test_users = 0, test_clickers = 0;
  int64_t next_users = 0, next_clickers = 0;
  double next_ctr = std::numeric_limits<double>::quiet_NaN();  // random selection's CTR
  std::string note;  // why nothing ran (empty package, no impressions)
  std::vector<ModelResult> models;  // initial first, then one per m
  double seconds_retrieval = 0, seconds_assembly = 0, seconds_xgboost = 0;  // XGBoost: train + predict
  double seconds_predict = 0;                                                // of which predicting
};

namespace detail {

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

inline xgb::DMatrix dmatrix(const UserTable& users, const FeatureLayout& layout, std::span<const int32_t> rows) {
  const Csr c = encode_users(users, layout, rows);
  return xgb::DMatrix::from_csr(c.indptr, c.indices, c.values, c.cols);
}

}  // namespace detail

// Everything one package's experiment reads.
struct World {
  const UserTable* users = nullptr;
  const AdTable* ads = nullptr;
  const ImpressionTable* impressions = nullptr;
  const AdIndex* index = nullptr;
};

inline PackageResult run_package(const World& w, int64_t package, const LookalikeOptions& opt) {
  using clock = std::chrono::steady_clock;
  PackageResult res;
  res.package = package;
  const std::vector<int64_t> own = w.ads->ads_of_package(package);
  res.ads = int64_t(own.size());
  if (own.empty()) {
    res.note = "empty package: no ad of ads.jsonl has package " + std::to_string(package);
    return res;
  }
  auto t0 = clock::now();
  const std::vector<int64_t> keys = package_keys(*w.impressions, package, own);
  const LabelledUsers all = impression_users(*w.impressions, keys, opt.train_period);
  const uint64_t seed = opt.seed * 1000003u + uint64_t(package);
  const PackageSplit split = split_users(all, opt.test_share, opt.seed, package, *w.users);
  const LabelledUsers next = impression_users(*w.impressions, keys, opt.next_period);
  res.train_users = int64_t(split.train.users.size()), res.train_clickers = split.train.clickers();
  res.test_users = int64_t(split.test.users.size()), res.test_clickers = split.test.clickers();
  res.next_users = int64_t(next.users.size()), res.next_clickers = next.clickers();
  if (res.next_users > 0) res.next_ctr = double(res.next_clickers) / double(res.next_users);
  const FeatureLayout layout = feature_layout(*w.users);
  res.seconds_assembly += detail::seconds_since(t0);
  if (all.users.empty()) {
    res.note = "no impressions of the package in period " + std::to_string(opt.train_period);
    return res;
  }
  t0 = clock::now();
  int64_t max_m = 0;
  for (int64_t m : opt.m_values) max_m = std::max(max_m, m);
  const Neighbours nb = similar_ads(*w.index, own, opt.mode, max_m);
  res.ads_without_embedding = nb.own_without_embedding;
  res.seconds_retrieval += detail::seconds_since(t0);

  t0 = clock::now();
  const xgb::DMatrix test = detail::dmatrix(*w.users, layout, split.test.users);
  const xgb::DMatrix next_m = detail::dmatrix(*w.users, layout, next.users);
  const int64_t select_m = std::max<int64_t>(1, std::llround(opt.select_share * double(next.users.size())));
  res.seconds_assembly += detail::seconds_since(t0);
  // The package's category (most of its ads'): for the share of similar ads of the same category.
  int64_t category = -1;
  {
    std::map<int64_t, int> count;
    for (int64_t id : own) ++count[w.ads->category[size_t(w.ads->find(id))]];
    int best = 0;
    for (const auto& [c, n] : count)
      if (c >= 0 && n > best) best = n, category = c;
  }

  auto train_eval = [&](ModelResult& r, const TrainingSet& ts) {
    r.positives = ts.positives, r.negatives = ts.negatives, r.added_positives = ts.added_positives;
    r.similar_keys = ts.similar_keys;
    if (ts.positives == 0 || ts.negatives == 0) {
      r.note = ts.positives == 0 ? "no positives" : "no negatives";
      return;
    }
    auto t1 = clock::now();
    xgb::DMatrix d = detail::dmatrix(*w.users, layout, ts.users);
    d.set_labels(ts.labels);
    res.seconds_assembly += detail::seconds_since(t1);
    t1 = clock::now();
    xgb::Params params = opt.xgb;
    if (int64_t(ts.users.size()) < opt.single_thread_below) params.nthread = 1;
    xgb::Booster model = xgb::Booster::train(d, params);
    if (params.nthread != opt.xgb.nthread && opt.xgb.nthread > 0 &&
        int64_t(split.test.users.size() + next.users.size()) >= opt.single_thread_below)
      model.set("nthread", std::to_string(opt.xgb.nthread));  // many users to score: all threads again
    const auto t2 = clock::now();
    const std::vector<float> p_test = model.predict(test), p_next = model.predict(next_m);
    res.seconds_predict += detail::seconds_since(t2);
    res.seconds_xgboost += detail::seconds_since(t1);
    r.trained = true;
    r.auc_test = auc(p_test, split.test.clicked);
    r.auc_next = auc(p_next, next.clicked);
    const Selection s = select_top(p_next, next.clicked, select_m);
    r.selected = s.selected, r.selected_clicked = s.clicked, r.ctr = s.ctr();
  };

  ModelResult initial;
  initial.name = "initial";
  if (res.train_clickers < std::max<int64_t>(opt.min_clickers, 1)) {
    initial.positives = res.train_clickers;
    initial.note = std::to_string(res.train_clickers) + " clickers < " + std::to_string(std::max<int64_t>(opt.min_clickers, 1)) +
                   ": no initial model";
  } else {
    t0 = clock::now();
    const TrainingSet ts = assemble(*w.impressions, split, {}, opt.train_period, opt.negative_ratio, seed);
    res.seconds_assembly += detail::seconds_since(t0);
    train_eval(initial, ts);
  }
  res.models.push_back(initial);

  for (int64_t m : opt.m_values) {
    ModelResult r;
    r.name = "expanded m=" + std::to_string(m);
    r.m = m;
    t0 = clock::now();
    const std::vector<int64_t> similar = take_similar(nb, m);
    r.similar_ads = int64_t(similar.size());
    if (category >= 0 && !similar.empty()) {
      int64_t same = 0;
      for (int64_t id : similar) same += w.ads->category[size_t(w.ads->find(id))] == category;
      r.same_category = double(same) / double(similar.size());
    }
    const std::vector<int64_t> sk = keys_of_similar(*w.impressions, *w.ads, similar, package);
    const TrainingSet ts = assemble(*w.impressions, split, sk, opt.train_period, opt.negative_ratio, seed);
    res.seconds_assembly += detail::seconds_since(t0);
    train_eval(r, ts);
    res.models.push_back(r);
  }
  return res;
}

// The packages with the lowest training-period CTR among those with at least `min_clickers`
// clickers there (the ION paper's "low-CTR packages"), restricted to `candidates` when not empty.
inline std::vector<int64_t> low_ctr_packages(const ImpressionTable& t, const AdTable& ads, int64_t count,
                                             int32_t period, int64_t min_clickers,
                                             const std::vector<int64_t>& candidates = {}) {
  std::vector<int64_t> pkgs = candidates;
  if (pkgs.empty()) {
    pkgs = ads.package;
    std::sort(pkgs.begin(), pkgs.end());
    pkgs.erase(std::unique(pkgs.begin(), pkgs.end()), pkgs.end());
  }
  std::unordered_map<int64_t, std::vector<int64_t>> ads_of;  // one pass, not one per package
  for (int64_t i = 0; i < ads.size(); ++i) ads_of[ads.package[size_t(i)]].push_back(ads.ids[size_t(i)]);
  std::vector<std::pair<double, int64_t>> ranked;
  for (int64_t p : pkgs) {
    const auto it = ads_of.find(p);
    if (it == ads_of.end()) continue;
    const LabelledUsers u = impression_users(t, package_keys(t, p, it->second), period);
    const int64_t c = u.clickers();
    if (u.users.empty() || c < min_clickers) continue;
    ranked.emplace_back(double(c) / double(u.users.size()), p);
  }
  std::sort(ranked.begin(), ranked.end());
  std::vector<int64_t> out;
  for (size_t i = 0; i < ranked.size() && int64_t(i) < count; ++i) out.push_back(ranked[i].second);
  return out;
}

}  // namespace simad::lookalike
