// simad/lookalike/expansion.hpp: audience expansion of one ad package (MODELS.md "Lookalike").
//   1. The package's impression users of the training period are split by user: test_share (10%) of
//      them are held out BEFORE anything else (the same users for M_initial and M_expanded).
//   2. Similar ads: exact L2 search over every ad's embedding, excluding the package's own ads.
//      ExpandMode::package (ION): the m ads nearest to the centroid of the package's embeddings;
//      ExpandMode::per_ad (ToTYEmb): the m nearest ads of each of the package's ads, merged.
//   3. Their clickers (training period) become positives. With package-level impressions (SynthAds'
//      impressions.csv: one row per package, not per ad), a similar ad stands for its package: its
//      clickers are the clickers of its package; with ad-level impressions, of the ad itself. Held-out
//      users of the package are never added. A user who saw the package without clicking but clicked a
//      similar ad counts as a positive (and leaves the negative pool).
//   4. Negatives: sampled without replacement from the package's own non-clicking training users,
//      negative_ratio (3) per positive, or all of them when there are fewer.
// No XGBoost here (lookalike.hpp trains and evaluates the models).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/lookalike/data.hpp"
#include "simad/search/flat_index.hpp"

namespace simad::lookalike {

enum class ExpandMode { package, per_ad };

inline const char* mode_name(ExpandMode m) { return m == ExpandMode::package ? "package" : "per-ad"; }

// Users with a click flag (any impression clicked), sorted by user row.
struct LabelledUsers {
  std::vector<int32_t> users;
  std::vector<uint8_t> clicked;
  int64_t clickers() const { return std::count(clicked.begin(), clicked.end(), uint8_t(1)); }
};

// The impression users of `keys` in `period` (a user seen under several keys: clicked if any click).
inline LabelledUsers impression_users(const ImpressionTable& t, std::span<const int64_t> keys, int32_t period) {
  std::map<int32_t, uint8_t> seen;
  for (int64_t k : keys) {
    const auto [b, e] = t.range(k);
    for (int64_t i = b; i < e; ++i)
      if (t.period[size_t(i)] == period) seen[t.user[size_t(i)]] |= t.clicked[size_t(i)];
  }
  LabelledUsers out;
  for (const auto& [u, c] : seen) out.users.push_back(u), out.clicked.push_back(c);
  return out;
}

// The impression keys of a package: its id (package-level data) or its ads (ad-level data).
inline std::vector<int64_t> package_keys(const ImpressionTable& t, int64_t package, std::span<const int64_t> own_ads) {
  if (t.kind == KeyKind::package) return {package};
  return {own_ads.begin(), own_ads.end()};
}

// The embeddings of every ad, searchable, with ad ids as labels.
struct AdIndex {
  search::FlatIndex<float> index;
  explicit AdIndex(int64_t dim) : index(dim) {}
};

// Row i of `emb` (n, dim) is ad ids[i].
inline AdIndex build_ad_index(const float* emb, int64_t n, int64_t dim, std::span<const int64_t> ids) {
  SIMAD_CHECK(int64_t(ids.size()) == n, "lookalike: " + std::to_string(n) + " embeddings but " +
                                            std::to_string(ids.size()) + " ids");
  AdIndex a(dim);
  a.index.add(emb, ids.data(), n);
  return a;
}

// Similar ads of a package, best first, own ads excluded: one list (mode package) or one per own ad
// (mode per_ad), each up to max_m long. Own ads without an embedding are skipped (counted).
struct Neighbours {
  std::vector<std::vector<int64_t>> lists;
  int64_t own_without_embedding = 0;
};

inline Neighbours similar_ads(const AdIndex& a, std::span<const int64_t> own_ads, ExpandMode mode, int64_t max_m) {
  Neighbours nb;
  const int64_t d = a.index.dim();
  std::vector<int64_t> own;
  for (int64_t id : own_ads) {
    if (a.index.contains(id)) own.push_back(id);
    else ++nb.own_without_embedding;
  }
  if (own.empty() || max_m <= 0) return nb;
  const std::unordered_set<int64_t> own_set(own.begin(), own.end());
  std::vector<float> queries;
  if (mode == ExpandMode::package) {
    std::vector<double> c(size_t(d), 0.0);
    for (int64_t id : own) {
      const std::vector<float> v = a.index.vector_of(id);
      for (int64_t j = 0; j < d; ++j) c[size_t(j)] += v[size_t(j)];
    }
    for (int64_t j = 0; j < d; ++j) queries.push_back(float(c[size_t(j)] / double(own.size())));
  } else {
    for (int64_t id : own) {
      const std::vector<float> v = a.index.vector_of(id);
      queries.insert(queries.end(), v.begin(), v.end());
    }
  }
  const int64_t nq = int64_t(queries.size()) / d;
  const int64_t k = std::min<int64_t>(a.index.size(), max_m + int64_t(own.size()));
  std::vector<float> dist(size_t(nq * k));
  std::vector<int64_t> labels(size_t(nq * k));
  a.index.search(queries.data(), nq, k, dist.data(), labels.data());
  for (int64_t q = 0; q < nq; ++q) {
    std::vector<int64_t> list;
    for (int64_t j = 0; j < k && int64_t(list.size()) < max_m; ++j) {
      const int64_t id = labels[size_t(q * k + j)];
      if (id >= 0 && !own_set.count(id)) list.push_back(id);
    }
    nb.lists.push_back(std::move(list));
  }
  return nb;
}

// The first m of each list, merged (first occurrence order).
inline std::vector<int64_t> take_similar(const Neighbours& nb, int64_t m) {
  std::vector<int64_t> out;
  std::unordered_set<int64_t> seen;
  for (const auto& list : nb.lists)
    for (int64_t j = 0; j < std::min<int64_t>(m, int64_t(list.size())); ++j)
      if (seen.insert(list[size_t(j)]).second) out.push_back(list[size_t(j)]);
  return out;
}

// A training set: user rows and 0/1 labels.
struct TrainingSet {
  std::vector<int32_t> users;
  std::vector<float> labels;
  int64_t positives = 0, negatives = 0;
  int64_t added_positives = 0;  // positives borrowed from similar ads
  int64_t similar_keys = 0;     // packages (or ads) whose clickers were borrowed
};

// The package's split: test users held out of the training period's impression users.
struct PackageSplit {
  LabelledUsers train, test;
};

inline PackageSplit split_users(const LabelledUsers& all, double test_share, uint64_t seed, int64_t package,
                                const UserTable& users) {
  PackageSplit s;
  const Rng r = Rng(seed, 0x7E57u).substream(uint64_t(package));
  for (size_t i = 0; i < all.users.size(); ++i) {
    const bool test = r.uniform_at(uint64_t(users.ids[size_t(all.users[i])])) < test_share;
    LabelledUsers& dst = test ? s.test : s.train;
    dst.users.push_back(all.users[i]), dst.clicked.push_back(all.clicked[i]);
  }
  return s;
}

// Positives = the package's training clickers + (with `similar_keys`) the training-period clickers of
// those keys, minus the package's held-out users; negatives sampled from the package's training
// non-clickers at `ratio` per positive.
inline TrainingSet assemble(const ImpressionTable& t, const PackageSplit& split, std::span<const int64_t> similar_keys,
                            int32_t period, double ratio, uint64_t seed) {
  TrainingSet ts;
  std::unordered_set<int32_t> positives, held_out(split.test.users.begin(), split.test.users.end());
  std::vector<int32_t> order;
  for (size_t i = 0; i < split.train.users.size(); ++i)
    if (split.train.clicked[i] && positives.insert(split.train.users[i]).second) order.push_back(split.train.users[i]);
  const int64_t own = int64_t(order.size());
  for (int64_t k : similar_keys) {
    const auto [b, e] = t.range(k);
    for (int64_t i = b; i < e; ++i) {
      const int32_t u = t.user[size_t(i)];
      if (t.period[size_t(i)] == period && t.clicked[size_t(i)] && !held_out.count(u) && positives.insert(u).second)
        order.push_back(u);
    }
  }
  ts.similar_keys = int64_t(similar_keys.size());
  ts.added_positives = int64_t(order.size()) - own;
  std::vector<int32_t> pool;
  for (size_t i = 0; i < split.train.users.size(); ++i)
    if (!split.train.clicked[i] && !positives.count(split.train.users[i])) pool.push_back(split.train.users[i]);
  const int64_t want = std::min<int64_t>(int64_t(pool.size()), int64_t(std::llround(ratio * double(order.size()))));
  Rng r = Rng(seed, 0x4E6u).substream(uint64_t(order.size()));
  for (int64_t i = 0; i < want; ++i) {  // partial Fisher-Yates
    const int64_t j = i + int64_t(r.next_below(uint32_t(int64_t(pool.size()) - i)));
    std::swap(pool[size_t(i)], pool[size_t(j)]);
  }
  for (int32_t u : order) ts.users.push_back(u), ts.labels.push_back(1.0f);
  for (int64_t i = 0; i < want; ++i) ts.users.push_back(pool[size_t(i)]), ts.labels.push_back(0.0f);
  ts.positives = int64_t(order.size()), ts.negatives = want;
  return ts;
}

// Keys whose clickers the similar ads bring: their packages (package-level data, without the
// package itself) or the ads themselves (ad-level data).
inline std::vector<int64_t> keys_of_similar(const ImpressionTable& t, const AdTable& ads, std::span<const int64_t> similar,
                                            int64_t package) {
  std::vector<int64_t> keys;
  std::unordered_set<int64_t> seen;
  for (int64_t id : similar) {
    int64_t k = id;
    if (t.kind == KeyKind::package) {
      const int32_t row = ads.find(id);
      if (row < 0) continue;
      k = ads.package[size_t(row)];
      if (k == package) continue;
    }
    if (seen.insert(k).second) keys.push_back(k);
  }
  return keys;
}

}  // namespace simad::lookalike
