// Tests of include/simad/train/metrics.hpp: Hit P@k (seen / unseen / all) against a hand-computed case
// and an independent double-precision brute force (full sort by (distance, id)), k beyond the pool,
// nearest(), and classification accuracy with ignored labels.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "simad/train/metrics.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

// The reference: for each query, every other row sorted by (squared L2 in double, id); the whole
// ranking, not a selection, so it shares nothing with the index's top-k.
struct Ranked {
  std::vector<std::vector<int64_t>> order;  // (n, n - 1)
  std::vector<std::vector<double>> dist;    // matching distances
};
Ranked brute_force(const std::vector<float>& emb, int64_t n, int64_t d) {
  Ranked r;
  for (int64_t q = 0; q < n; ++q) {
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t x = 0; x < n; ++x) {
      if (x == q) continue;
      double s = 0;
      for (int64_t j = 0; j < d; ++j) {
        const double diff = double(emb[size_t(q * d + j)]) - double(emb[size_t(x * d + j)]);
        s += diff * diff;
      }
      all.emplace_back(s, x);
    }
    std::sort(all.begin(), all.end());
    std::vector<int64_t> ids;
    std::vector<double> ds;
    for (const auto& [s, x] : all) ids.push_back(x), ds.push_back(s);
    r.order.push_back(ids);
    r.dist.push_back(ds);
  }
  return r;
}

// P@k of one query from a ranking: hits in the first min(k, pool) / k.
double query_precision(const std::vector<int64_t>& order, const std::vector<int32_t>& cat, int64_t q, int k) {
  int hits = 0;
  for (size_t r = 0; r < order.size() && r < size_t(k); ++r) hits += cat[size_t(order[r])] == cat[size_t(q)];
  return double(hits) / double(k);
}

struct Expected {
  std::vector<double> seen, unseen, all;
  int64_t n_seen = 0, n_unseen = 0;
};
Expected reference_metrics(const Ranked& ref, const std::vector<int32_t>& cat, const std::vector<uint8_t>& seen,
                           const std::vector<int>& ks) {
  Expected e;
  const int64_t n = int64_t(cat.size());
  for (int64_t q = 0; q < n; ++q) (seen[size_t(q)] ? e.n_seen : e.n_unseen) += 1;
  for (int k : ks) {
    double s = 0, u = 0;
    for (int64_t q = 0; q < n; ++q) (seen[size_t(q)] ? s : u) += query_precision(ref.order[size_t(q)], cat, q, k);
    e.seen.push_back(s / double(e.n_seen));
    e.unseen.push_back(u / double(e.n_unseen));
    e.all.push_back((s + u) / double(n));
  }
  return e;
}

// n random ads of `categories` categories; the first `seen_categories` are the seen ones.
void random_labels(Rng& rng, int64_t n, uint32_t categories, int32_t seen_categories, std::vector<int32_t>& cat,
                   std::vector<uint8_t>& seen) {
  cat.resize(size_t(n)), seen.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    cat[size_t(i)] = int32_t(rng.next_below(categories));
    seen[size_t(i)] = cat[size_t(i)] < seen_categories ? 1 : 0;
  }
}

}  // namespace

TEST_CASE("train/metrics: hand-computed 1-d case, ties broken by the smaller id, k beyond the pool") {
  // Five ads on a line (d = 1); category A (0) is seen in training, B (1) is not.
  //   id:   0    1    2    3    4
  //   x:    0    1    3    3.5  6
  //   cat:  A    A    B    A    B
  // Squared distances are exact in float here, so the ties below are exact ties.
  // Rankings (others by distance, ties -> smaller id):
  //   q0 (A): 1 (1), 2 (9), 3 (12.25), 4 (36)             -> A B A B
  //   q1 (A): 0 (1), 2 (4), 3 (6.25), 4 (25)              -> A B A B
  //   q2 (B): 3 (0.25), 1 (4), 0 (9), 4 (9)   tie 0 < 4   -> A A A B
  //   q3 (A): 2 (0.25), 1 (6.25), 4 (6.25), 0 (12.25) tie -> B A B A
  //   q4 (B): 3 (6.25), 2 (9), 1 (25), 0 (36)             -> A B A A
  // Per query P@1, P@2, P@3, P@10 (k = 10 > pool 4: all hits / 10):
  //   q0: 1, 1/2, 2/3, 2/10     q1: 1, 1/2, 2/3, 2/10     q3: 0, 1/2, 1/3, 2/10
  //   q2: 0, 0,   0,   1/10     q4: 0, 1/2, 1/3, 1/10
  // seen (q0 q1 q3):  2/3, 1/2, 5/9, 1/5;  unseen (q2 q4): 0, 1/4, 1/6, 1/10;  all: 2/5, 2/5, 2/5, 4/25.
  const std::vector<float> emb = {0.0f, 1.0f, 3.0f, 3.5f, 6.0f};
  const std::vector<int32_t> cat = {0, 0, 1, 0, 1};
  const std::vector<uint8_t> seen = {1, 1, 0, 1, 0};
  const train::RetrievalMetrics m = train::precision_at_k(emb.data(), 5, 1, cat, seen, {1, 2, 3, 10});
  CHECK(m.ks == std::vector<int>{1, 2, 3, 10});
  CHECK(m.queries_seen == 3);
  CHECK(m.queries_unseen == 2);
  const std::vector<double> want_seen = {2.0 / 3, 0.5, 5.0 / 9, 0.2}, want_unseen = {0.0, 0.25, 1.0 / 6, 0.1},
                            want_all = {0.4, 0.4, 0.4, 0.16};
  REQUIRE(m.p_seen.size() == 4);
  REQUIRE(m.p_unseen.size() == 4);
  REQUIRE(m.p_all.size() == 4);
  for (size_t j = 0; j < 4; ++j) {
    CHECK(m.p_seen[j] == doctest::Approx(want_seen[j]).epsilon(1e-12));
    CHECK(m.p_unseen[j] == doctest::Approx(want_unseen[j]).epsilon(1e-12));
    CHECK(m.p_all[j] == doctest::Approx(want_all[j]).epsilon(1e-12));
  }
  const auto nn = train::nearest(emb.data(), 5, 1, 3);
  CHECK(nn == std::vector<std::vector<int64_t>>{{1, 2, 3}, {0, 2, 3}, {3, 1, 0}, {2, 1, 4}, {3, 2, 1}});
  // k beyond the pool: every list holds the n - 1 others, no -1 padding.
  const auto all = train::nearest(emb.data(), 5, 1, 50);
  for (const auto& row : all) CHECK(row.size() == 4);
  CHECK(all[2] == std::vector<int64_t>{3, 1, 0, 4});
}

TEST_CASE("train/metrics: equals a double brute force on grid embeddings (exact arithmetic, ties by id)") {
  // Coordinates are multiples of 2^-10 in [-1/2, 1/2] and d = 8: every product, norm and distance is
  // a multiple of 2^-20 below 8, exact in float, so the index's float distances equal the double
  // reference's exactly and even tied distances must rank identically (by id).
  Rng rng = testing::test_rng();
  const int64_t n = 260, d = 8;
  std::vector<float> emb(size_t(n * d));
  for (float& v : emb) v = float(int32_t(rng.next_below(1025)) - 512) * 0x1p-10f;
  std::vector<int32_t> cat;
  std::vector<uint8_t> seen;
  random_labels(rng, n, 5, 3, cat, seen);
  const std::vector<int> ks = {1, 5, 10, 37};
  const Ranked ref = brute_force(emb, n, d);
  const Expected e = reference_metrics(ref, cat, seen, ks);
  const train::RetrievalMetrics m = train::precision_at_k(emb.data(), n, d, cat, seen, ks);
  CHECK(m.queries_seen == e.n_seen);
  CHECK(m.queries_unseen == e.n_unseen);
  CHECK(m.queries_seen + m.queries_unseen == n);
  for (size_t j = 0; j < ks.size(); ++j) {
    CHECK(m.p_seen[j] == doctest::Approx(e.seen[j]).epsilon(1e-12));
    CHECK(m.p_unseen[j] == doctest::Approx(e.unseen[j]).epsilon(1e-12));
    CHECK(m.p_all[j] == doctest::Approx(e.all[j]).epsilon(1e-12));
  }
  const auto nn = train::nearest(emb.data(), n, d, 12);
  int mismatches = 0;
  for (int64_t q = 0; q < n; ++q)
    mismatches += nn[size_t(q)] != std::vector<int64_t>(ref.order[size_t(q)].begin(), ref.order[size_t(q)].begin() + 12);
  CHECK(mismatches == 0);
}

TEST_CASE("train/metrics: equals a double brute force on random float embeddings") {
  // Continuous random floats: no exact ties, but float and double may order two candidates whose
  // distances agree to ~1e-6 differently. Queries whose reference ranking has such a near-tie within
  // the first kmax + 1 are set aside (and counted); every other query must match exactly.
  Rng rng = testing::test_rng();
  const int64_t n = 300, d = 16;
  const std::vector<float> emb = testing::random_vector<float>(rng, size_t(n * d));
  std::vector<int32_t> cat;
  std::vector<uint8_t> seen;
  random_labels(rng, n, 4, 2, cat, seen);
  const std::vector<int> ks = {1, 5, 10};
  const Ranked ref = brute_force(emb, n, d);
  const auto nn = train::nearest(emb.data(), n, d, 10);
  std::vector<uint8_t> near_tie(size_t(n), 0);
  int64_t ambiguous_seen = 0, ambiguous_unseen = 0;
  for (int64_t q = 0; q < n; ++q) {
    const std::vector<double>& ds = ref.dist[size_t(q)];
    for (size_t r = 0; r + 1 < ds.size() && r < 11; ++r)
      if (ds[r + 1] - ds[r] <= 1e-5 * std::max(1.0, ds[r + 1])) near_tie[size_t(q)] = 1;
    if (near_tie[size_t(q)]) {
      (seen[size_t(q)] ? ambiguous_seen : ambiguous_unseen) += 1;
      continue;
    }
    CHECK(nn[size_t(q)] == std::vector<int64_t>(ref.order[size_t(q)].begin(), ref.order[size_t(q)].begin() + 10));
  }
  INFO("queries set aside for float/double near-ties: ", ambiguous_seen + ambiguous_unseen, " of ", n);
  CHECK(ambiguous_seen + ambiguous_unseen < n / 10);  // the comparison must not be vacuous
  const Expected e = reference_metrics(ref, cat, seen, ks);
  const train::RetrievalMetrics m = train::precision_at_k(emb.data(), n, d, cat, seen, ks);
  // A set-aside query can move its own P@k by at most 1 (one group mean by 1 / group size).
  const double tol_seen = double(ambiguous_seen) / double(e.n_seen) + 1e-12;
  const double tol_unseen = double(ambiguous_unseen) / double(e.n_unseen) + 1e-12;
  const double tol_all = double(ambiguous_seen + ambiguous_unseen) / double(n) + 1e-12;
  for (size_t j = 0; j < ks.size(); ++j) {
    CHECK(std::abs(m.p_seen[j] - e.seen[j]) <= tol_seen);
    CHECK(std::abs(m.p_unseen[j] - e.unseen[j]) <= tol_unseen);
    CHECK(std::abs(m.p_all[j] - e.all[j]) <= tol_all);
  }
}

TEST_CASE("train/metrics: seen/unseen split, all is the query-weighted mean, an empty group is NaN") {
  Rng rng = testing::test_rng();
  const int64_t n = 120, d = 6;
  const std::vector<float> emb = testing::random_vector<float>(rng, size_t(n * d));
  std::vector<int32_t> cat;
  std::vector<uint8_t> seen;
  random_labels(rng, n, 6, 4, cat, seen);
  const train::RetrievalMetrics m = train::precision_at_k(emb.data(), n, d, cat, seen);
  CHECK(m.ks == std::vector<int>{1, 5, 10});  // the default cut-offs
  REQUIRE(m.queries_seen > 0);
  REQUIRE(m.queries_unseen > 0);
  for (size_t j = 0; j < 3; ++j) {
    const double mix = (m.p_seen[j] * double(m.queries_seen) + m.p_unseen[j] * double(m.queries_unseen)) / double(n);
    CHECK(m.p_all[j] == doctest::Approx(mix).epsilon(1e-12));
  }
  // Flipping the flags swaps the groups, the ranking is untouched.
  std::vector<uint8_t> flipped(seen.size());
  for (size_t i = 0; i < seen.size(); ++i) flipped[i] = seen[i] ? 0 : 1;
  const train::RetrievalMetrics f = train::precision_at_k(emb.data(), n, d, cat, flipped);
  CHECK(f.queries_seen == m.queries_unseen);
  CHECK(f.p_seen == m.p_unseen);
  CHECK(f.p_unseen == m.p_seen);
  CHECK(f.p_all == m.p_all);
  // Every category seen: no unseen query, NaN (not a fake 0), and all == seen.
  const std::vector<uint8_t> all_seen(size_t(n), 1);
  const train::RetrievalMetrics s = train::precision_at_k(emb.data(), n, d, cat, all_seen);
  CHECK(s.queries_unseen == 0);
  for (size_t j = 0; j < 3; ++j) {
    CHECK(std::isnan(s.p_unseen[j]));
    CHECK(s.p_all[j] == s.p_seen[j]);
  }
}

TEST_CASE("train/metrics: k beyond the pool divides by k, tiny and empty pools") {
  // Three ads of one category: each query's pool is the other 2, both hits. P@1 = 1, P@2 = 1,
  // P@5 = 2/5 (divided by k, not clamped), P@100 = 2/100.
  const std::vector<float> emb = {0.f, 0.f, 1.f, 0.f, 0.f, 2.f};
  const std::vector<int32_t> cat = {7, 7, 7};
  const std::vector<uint8_t> seen = {1, 1, 1};
  const train::RetrievalMetrics m = train::precision_at_k(emb.data(), 3, 2, cat, seen, {1, 2, 5, 100});
  const std::vector<double> want = {1.0, 1.0, 0.4, 0.02};
  for (size_t j = 0; j < 4; ++j) CHECK(m.p_seen[j] == doctest::Approx(want[j]).epsilon(1e-12));
  // One ad: no other ad to find, the query counts with P@k = 0.
  const train::RetrievalMetrics one = train::precision_at_k(emb.data(), 1, 2, std::span(cat).first(1),
                                                            std::span(seen).first(1), {1, 10});
  CHECK(one.queries_seen == 1);
  CHECK(one.p_seen == std::vector<double>{0.0, 0.0});
  CHECK(one.p_all == std::vector<double>{0.0, 0.0});
  CHECK(train::nearest(emb.data(), 1, 2, 3) == std::vector<std::vector<int64_t>>{{}});
  // No ad at all: no query anywhere.
  const train::RetrievalMetrics none = train::precision_at_k(nullptr, 0, 2, {}, {}, {1});
  CHECK(none.queries_seen + none.queries_unseen == 0);
  CHECK(std::isnan(none.p_all[0]));
  CHECK(train::nearest(nullptr, 0, 2, 3).empty());
}

TEST_CASE("train/metrics: bad input is rejected") {
  const std::vector<float> emb = {0.f, 1.f, 2.f, 3.f};
  const std::vector<int32_t> cat = {0, 1};
  const std::vector<uint8_t> seen = {1, 1};
  CHECK_THROWS_AS(train::precision_at_k(emb.data(), 2, 2, std::span(cat).first(1), seen), Error);
  CHECK_THROWS_AS(train::precision_at_k(emb.data(), 2, 2, cat, std::span(seen).first(1)), Error);
  CHECK_THROWS_AS(train::precision_at_k(emb.data(), 2, 2, cat, seen, {}), Error);
  CHECK_THROWS_AS(train::precision_at_k(emb.data(), 2, 2, cat, seen, {5, 0}), Error);
  CHECK_THROWS_AS(train::precision_at_k(emb.data(), 2, 0, cat, seen), Error);
  CHECK_THROWS_AS(train::nearest(emb.data(), 2, 2, 0), Error);
  const std::vector<float> bad = {0.f, std::numeric_limits<float>::quiet_NaN(), 2.f, 3.f};
  CHECK_THROWS_AS(train::precision_at_k(bad.data(), 2, 2, cat, seen), Error);
}

TEST_CASE("train/metrics: classification accuracy ignores labels of -1") {
  const std::vector<int32_t> predicted = {1, 2, 3, 4, 5, 0};
  const std::vector<int32_t> label = {1, -1, 3, 0, -1, 0};  // counted: 1 ok, 3 ok, 0 != 4, 0 ok
  CHECK(train::classification_accuracy(predicted, label) == doctest::Approx(0.75).epsilon(1e-15));
  const std::vector<int32_t> none = {-1, -1, -1, -1, -1, -1};
  CHECK(std::isnan(train::classification_accuracy(predicted, none)));
  CHECK(std::isnan(train::classification_accuracy({}, {})));
  const std::vector<int32_t> wrong = {1, -2, 3, 0, -1, 0};
  CHECK_THROWS_AS(train::classification_accuracy(predicted, wrong), Error);
  CHECK_THROWS_AS(train::classification_accuracy(std::span(predicted).first(5), label), Error);
  // A prediction of -1 (no class) is simply wrong.
  const std::vector<int32_t> abstain = {-1, -1, -1, -1, -1, -1};
  CHECK(train::classification_accuracy(abstain, label) == 0.0);
}

}  // namespace SIMAD_TEST_FILE_ID
