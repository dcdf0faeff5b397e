// tests/search/test_flat_index.cpp: simad::search::FlatIndex against brute force in double written
// here (every distance computed directly as sum (q_j - x_j)^2 or sum q_j x_j, sorted by (distance,
// id) with std::sort).
// - Integer-valued vectors (coordinates in [-3, 3]): every float operation is exact, so the index
//   must reproduce the reference EXACTLY, ties included (duplicates and equal distances are frequent),
//   for every k from 1 to N + 3.
// - Continuous random vectors: distances within 1e-5 relative (plus 1e-5 absolute: the clamp and the
//   norm expansion lose digits near 0); returned ids are a valid top-k of the true distances.
// - Exclusion of self, batch invariance (bit-identical alone / in a batch / on 1 or 2 threads), add
//   and remove, bad input.
// - Every kernel the CPU has (AVX-512, AVX2 + FMA, portable), each forced with cpu::IsaScope: exact
//   on integer data, and bit-identical to each other on random data for every tile shape (query
//   counts 1-3 take the AVX-512 few-query tile, others the 14-row tile and its remainders; base sizes
//   not a multiple of the 8- and 2-block steps).
// - KSelect with a ceiling (what the int8 prefilter's rescan uses): keys equal to it are kept.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/search/flat_index.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace t = simad::testing;
using simad::search::FlatIndex;
using simad::search::Metric;

struct Ref {
  std::vector<double> dist;  // (nq, k)
  std::vector<int64_t> ids;  // (nq, k)
};

// Brute force: for each query all (distance, id) pairs, sorted, best k (padded with -1 / worst).
template <typename T>
Ref brute_force(const std::vector<T>& base, const std::vector<int64_t>& ids, const std::vector<T>& q, int64_t d,
                int64_t k, Metric m, const std::vector<int64_t>* exclude = nullptr) {
  const int64_t n = int64_t(ids.size()), nq = int64_t(q.size()) / d;
  Ref r{std::vector<double>(size_t(nq * k)), std::vector<int64_t>(size_t(nq * k))};
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t j = 0; j < n; ++j) {
      if (exclude && (*exclude)[size_t(i)] == ids[size_t(j)]) continue;
      double s = 0;
      for (int64_t c = 0; c < d; ++c) {
        const double a = double(q[size_t(i * d + c)]), b = double(base[size_t(j * d + c)]);
        s += m == Metric::L2 ? (a - b) * (a - b) : a * b;
      }
      all.push_back({m == Metric::L2 ? s : -s, ids[size_t(j)]});
    }
    std::sort(all.begin(), all.end());
    for (int64_t j = 0; j < k; ++j) {
      const bool have = j < int64_t(all.size());
      const double key = have ? all[size_t(j)].first : std::numeric_limits<double>::infinity();
      r.dist[size_t(i * k + j)] = m == Metric::L2 ? key : -key;
      r.ids[size_t(i * k + j)] = have ? all[size_t(j)].second : -1;
    }
  }
  return r;
}

// Distinct ids that are neither sequential nor in storage order, so "smaller id first" is tested.
std::vector<int64_t> scrambled_ids(simad::Rng& rng, int64_t n) {
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = (i * 7919 + 13) % 100003 + int64_t(rng.next_below(2)) * 200000;
  return ids;
}

// Integer coordinates in [-3, 3]; some rows are copies of earlier rows (exact duplicates).
template <typename T>
std::vector<T> integer_vectors(simad::Rng& rng, int64_t n, int64_t d) {
  std::vector<T> v(size_t(n * d));
  for (auto& x : v) x = T(int(rng.next_below(7)) - 3);
  for (int64_t i = 1; i < n; i += 3) {
    const int64_t src = int64_t(rng.next_below(uint32_t(i)));
    std::copy_n(v.begin() + src * d, d, v.begin() + i * d);
  }
  return v;
}

template <typename T>
void check_exact(const FlatIndex<T>& index, const std::vector<T>& base, const std::vector<int64_t>& ids,
                 const std::vector<T>& q, int64_t d, int64_t k, const std::vector<int64_t>* exclude = nullptr) {
  const int64_t nq = int64_t(q.size()) / d;
  const Ref want = brute_force(base, ids, q, d, k, index.metric(), exclude);
  std::vector<T> dist(size_t(nq * k));
  std::vector<int64_t> got(size_t(nq * k));
  t::poison(std::span<T>(dist));
  t::poison(std::span<int64_t>(got));
  index.search(q.data(), nq, k, dist.data(), got.data(), exclude ? exclude->data() : nullptr);
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) bad += got[i] != want.ids[i] || double(dist[i]) != want.dist[i];
  CHECK_MESSAGE(bad == 0, bad, " of ", got.size(), " results differ (k ", k, " n ", ids.size(), " d ", d,
                " metric ", simad::search::metric_name(index.metric()), "); seed ", t::test_seed());
}

template <typename T>
void integer_case(Metric metric) {
  auto rng = t::test_rng();
  for (const int64_t n : {1, 15, 16, 17, 40, 70}) {
    for (const int64_t d : {1, 3, 20}) {
      CAPTURE(n);
      CAPTURE(d);
      const auto base = integer_vectors<T>(rng, n, d);
      const auto ids = scrambled_ids(rng, n);
      FlatIndex<T> index(d, metric);
      index.add(base.data(), ids.data(), n);
      // Queries: fresh integer vectors plus copies of stored ones (distance exactly 0 to them).
      auto q = integer_vectors<T>(rng, 9, d);
      std::copy_n(base.begin(), d, q.begin());
      std::copy_n(base.begin() + (n - 1) * d, d, q.begin() + 4 * d);
      for (int64_t k = 1; k <= n + 3; ++k) check_exact(index, base, ids, q, d, k);
    }
  }
}

}  // namespace

TEST_CASE("search/flat_index: integer vectors with duplicates and ties match brute force exactly for every k") {
  integer_case<float>(Metric::L2);
  integer_case<double>(Metric::L2);
}

TEST_CASE("search/flat_index: inner product with ties matches brute force exactly for every k") {
  integer_case<float>(Metric::InnerProduct);
  integer_case<double>(Metric::InnerProduct);
}

TEST_CASE("search/flat_index: continuous random vectors match the double reference") {
  auto rng = t::test_rng();
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    for (const int64_t d : {7, 37, 128}) {
      const int64_t n = 531, nq = 19, k = 25;
      CAPTURE(d);
      const auto base = t::random_vector<float>(rng, size_t(n * d));
      const auto q = t::random_vector<float>(rng, size_t(nq * d));
      std::vector<int64_t> ids = scrambled_ids(rng, n);
      FlatIndex<float> index(d, metric);
      index.add(base.data(), ids.data(), n);
      const auto got = index.search(q.data(), nq, k);
      const Ref want = brute_force(base, ids, q, d, n, metric);  // full order, to look ids up
      const double tol_rel = 1e-5, tol_abs = 1e-5 * double(d);
      int64_t bad = 0;
      for (int64_t i = 0; i < nq; ++i) {
        std::vector<double> true_key(size_t(*std::max_element(ids.begin(), ids.end()) + 1));
        for (int64_t j = 0; j < n; ++j) true_key[size_t(want.ids[size_t(i * n + j)])] = want.dist[size_t(i * n + j)];
        const double kth = want.dist[size_t(i * n + k - 1)];
        for (int64_t j = 0; j < k; ++j) {
          const int64_t id = got.labels[size_t(i * k + j)];
          const double dist = double(got.distances[size_t(i * k + j)]);
          const double truth = true_key[size_t(id)];
          const double tol = tol_abs + tol_rel * std::fabs(truth);
          bad += std::fabs(dist - truth) > tol;  // the distance reported is this id's distance
          // ... and the id belongs to the true top k (up to ties within the tolerance)
          bad += metric == Metric::L2 ? truth > kth + tol : truth < kth - tol;
          if (j > 0) {  // sorted, no repeated id
            const double prev = double(got.distances[size_t(i * k + j - 1)]);
            bad += metric == Metric::L2 ? dist < prev : dist > prev;
            bad += id == got.labels[size_t(i * k + j - 1)];
          }
        }
        // The best one agrees with the reference unless it is a near-tie.
        const double gap = std::fabs(want.dist[size_t(i * n + 1)] - want.dist[size_t(i * n)]);
        if (gap > 1e-3) bad += got.labels[size_t(i * k)] != want.ids[size_t(i * n)];
      }
      CHECK_MESSAGE(bad == 0, bad, " wrong results; seed ", t::test_seed());
    }
  }
}

TEST_CASE("search/flat_index: squared distances are never negative and self-distance is exactly 0") {
  auto rng = t::test_rng();
  const int64_t n = 200, d = 64;
  // Large common offset: ||q||^2 + ||x||^2 - 2<q,x> cancels catastrophically without the clamp.
  auto base = t::random_vector<float>(rng, size_t(n * d), 999.0, 1001.0);
  FlatIndex<float> index(d);
  index.add_sequential(base.data(), n, 0);
  const auto r = index.search(base.data(), n, 5);
  int64_t negative = 0, self_not_zero = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < 5; ++j) negative += r.distances[size_t(i * 5 + j)] < 0.0f;
    self_not_zero += r.distances[size_t(i * 5)] != 0.0f;
  }
  CHECK(negative == 0);
  CHECK(self_not_zero == 0);
}

TEST_CASE("search/flat_index: exclude self skips the query's own id but keeps its duplicates") {
  auto rng = t::test_rng();
  for (const int64_t n : {1, 2, 17, 50}) {
    const int64_t d = 6;
    CAPTURE(n);
    const auto base = integer_vectors<float>(rng, n, d);  // every third row duplicates an earlier one
    const auto ids = scrambled_ids(rng, n);
    FlatIndex<float> index(d);
    index.add(base.data(), ids.data(), n);
    // Queries are the pool itself; query i excludes ids[i]; plus one query excluding nothing (-1).
    std::vector<float> q = base;
    q.insert(q.end(), base.begin(), base.begin() + d);
    std::vector<int64_t> ex = ids;
    ex.push_back(-1);
    for (const int64_t k : {int64_t(1), int64_t(3), n - 1, n, n + 2}) {
      if (k < 1) continue;
      check_exact(index, base, ids, q, d, k, &ex);
    }
    // k = n: the excluded self leaves exactly one missing slot per pooled query.
    const auto r = index.search(q.data(), n, n, ex.data());
    int64_t missing_ok = 0;
    for (int64_t i = 0; i < n; ++i)
      missing_ok += r.labels[size_t(i * n + n - 1)] == -1 && std::isinf(r.distances[size_t(i * n + n - 1)]);
    CHECK(missing_ok == n);
  }
}

TEST_CASE("search/flat_index: results are bit-identical alone and in a batch on 1 or 2 threads") {
  auto rng = t::test_rng();
  const int64_t n = 333, d = 45, nq = 600, k = 7;  // nq crosses the 512-query block
  const auto base = t::random_vector<float>(rng, size_t(n * d));
  const auto q = t::random_vector<float>(rng, size_t(nq * d));
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    FlatIndex<float> index(d, metric);
    index.add_sequential(base.data(), n, 100);
    const int saved = simad::num_threads();
    simad::set_num_threads(2);
    const auto batch = index.search(q.data(), nq, k);
    simad::set_num_threads(1);
    const auto batch1 = index.search(q.data(), nq, k);
    simad::set_num_threads(saved);
    CHECK(std::memcmp(batch.distances.data(), batch1.distances.data(), batch.distances.size() * sizeof(float)) == 0);
    CHECK(batch.labels == batch1.labels);
    int64_t differ = 0;
    for (int64_t i = 0; i < nq; ++i) {
      const auto one = index.search(q.data() + i * d, 1, k);
      differ += std::memcmp(one.distances.data(), batch.distances.data() + i * k, size_t(k) * sizeof(float)) != 0;
      differ += !std::equal(one.labels.begin(), one.labels.end(), batch.labels.begin() + i * k);
    }
    CHECK_MESSAGE(differ == 0, differ, " queries differ alone vs in the batch");
  }
}

TEST_CASE("search/flat_index: add in pieces and remove keep ids and match brute force") {
  auto rng = t::test_rng();
  const int64_t d = 5;
  const auto a = integer_vectors<double>(rng, 30, d);
  const auto b = integer_vectors<double>(rng, 21, d);
  const auto ids_a = scrambled_ids(rng, 30);
  std::vector<int64_t> ids_b(21);
  for (int64_t i = 0; i < 21; ++i) ids_b[size_t(i)] = 500000 + i * 3;
  FlatIndex<double> index(d);
  index.add(a.data(), ids_a.data(), 30);
  index.add(b.data(), ids_b.data(), 21);
  CHECK(index.size() == 51);
  // Remove the first, a middle and the last stored vector, and one id that is not there.
  std::vector<int64_t> gone = {ids_a[0], ids_a[17], ids_b[20], ids_b[4]};
  for (const int64_t id : gone) CHECK(index.remove(id));
  CHECK_FALSE(index.remove(ids_a[0]));
  CHECK_FALSE(index.remove(123456789));
  CHECK(index.size() == 47);
  // The reference pool: what is left, with the same ids.
  std::vector<double> pool;
  std::vector<int64_t> pool_ids;
  for (int part = 0; part < 2; ++part) {
    const auto& v = part ? b : a;
    const auto& ids = part ? ids_b : ids_a;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (std::find(gone.begin(), gone.end(), ids[i]) != gone.end()) continue;
      pool.insert(pool.end(), v.begin() + int64_t(i) * d, v.begin() + int64_t(i + 1) * d);
      pool_ids.push_back(ids[i]);
    }
  }
  for (const int64_t id : pool_ids) CHECK(index.vector_of(id) == std::vector<double>(pool.begin() + (std::find(pool_ids.begin(), pool_ids.end(), id) - pool_ids.begin()) * d, pool.begin() + (std::find(pool_ids.begin(), pool_ids.end(), id) - pool_ids.begin() + 1) * d));
  const auto q = integer_vectors<double>(rng, 11, d);
  for (const int64_t k : {1, 5, 47, 50}) check_exact(index, pool, pool_ids, q, d, k);
  // A removed id can be added again; remove everything and the index is empty.
  index.add(a.data(), ids_a.data(), 1);
  CHECK(index.contains(ids_a[0]));
  for (const int64_t id : std::vector<int64_t>(index.ids().begin(), index.ids().end())) CHECK(index.remove(id));
  CHECK(index.empty());
  CHECK_THROWS_AS(index.search(q.data(), 1, 1), simad::Error);
}

TEST_CASE("search/flat_index: bad input throws with the row") {
  const int64_t d = 4;
  CHECK_THROWS_AS(FlatIndex<float>(0), simad::Error);
  FlatIndex<float> index(d);
  std::vector<float> v(3 * d, 1.0f);
  std::vector<int64_t> ids = {1, 2, 3};
  // Empty index.
  CHECK_THROWS_WITH_AS(index.search(v.data(), 1, 1), doctest::Contains("empty"), simad::Error);
  // NaN / inf in row 2, negative and repeated ids: nothing is added.
  v[2 * d + 1] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(index.add(v.data(), ids.data(), 3), doctest::Contains("row 2"), simad::Error);
  v[2 * d + 1] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(index.add(v.data(), ids.data(), 3), doctest::Contains("row 2"), simad::Error);
  v[2 * d + 1] = 1e30f;  // finite, but its squared norm overflows float
  CHECK_THROWS_WITH_AS(index.add(v.data(), ids.data(), 3), doctest::Contains("row 2"), simad::Error);
  v[2 * d + 1] = 1.0f;
  ids[1] = -5;
  CHECK_THROWS_WITH_AS(index.add(v.data(), ids.data(), 3), doctest::Contains("row 1"), simad::Error);
  ids[1] = 1;
  CHECK_THROWS_WITH_AS(index.add(v.data(), ids.data(), 3), doctest::Contains("row 1"), simad::Error);
  CHECK(index.empty());
  ids[1] = 2;
  index.add(v.data(), ids.data(), 3);
  CHECK_THROWS_WITH_AS(index.add(v.data(), ids.data(), 1), doctest::Contains("already"), simad::Error);
  // k <= 0, NaN in a query row.
  std::vector<float> dist(8);
  std::vector<int64_t> lab(8);
  CHECK_THROWS_AS(index.search(v.data(), 1, 0, dist.data(), lab.data()), simad::Error);
  CHECK_THROWS_AS(index.search(v.data(), 1, -3, dist.data(), lab.data()), simad::Error);
  v[1 * d + 3] = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(index.search(v.data(), 2, 2, dist.data(), lab.data()), doctest::Contains("row 1"),
                       simad::Error);
}

namespace {

// The kernel levels this CPU runs, lowest first (the portable one always).
std::vector<simad::cpu::Isa> kernel_levels() {
  std::vector<simad::cpu::Isa> levels;
  for (simad::cpu::Isa isa : {simad::cpu::Isa::generic, simad::cpu::Isa::avx2, simad::cpu::Isa::avx512})
    if (int(isa) <= int(simad::cpu::best_isa())) levels.push_back(isa);
  return levels;
}

}  // namespace

TEST_CASE("search/flat_index: every kernel level matches brute force exactly on integer data with ties") {
  auto rng = t::test_rng();
  for (const simad::cpu::Isa isa : kernel_levels()) {
    simad::cpu::IsaScope scope(isa);
    CAPTURE(simad::cpu::isa_name(isa));
    REQUIRE(simad::cpu::isa() == isa);
    for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
      // n: one block, 8 blocks + 1 (the few-query tile's 8-block step and its remainder), 2 blocks + 5.
      for (const int64_t n : {int64_t(7), int64_t(129), int64_t(37)}) {
        const int64_t d = 19;
        CAPTURE(n);
        const auto base = integer_vectors<float>(rng, n, d);
        const auto ids = scrambled_ids(rng, n);
        FlatIndex<float> index(d, metric);
        index.add(base.data(), ids.data(), n);
        // 1, 2, 3 queries (few-query tile), 4, 15 (one full 14-row tile + 1) and 31 (2 tiles + 3).
        for (const int64_t nq : {1, 2, 3, 4, 15, 31}) {
          auto q = integer_vectors<float>(rng, nq, d);
          std::copy_n(base.begin() + (n / 2) * d, d, q.begin());  // a stored copy: distance 0, its duplicates tie
          std::vector<int64_t> ex(size_t(nq), -1);
          ex[0] = ids[size_t(n / 2)];
          for (const int64_t k : {int64_t(1), int64_t(10), n + 2}) {
            check_exact(index, base, ids, q, d, k);
            check_exact(index, base, ids, q, d, k, &ex);
          }
        }
      }
    }
  }
}

TEST_CASE("search/flat_index: every kernel level gives the same bits, alone and in batches, on 1 or 2 threads") {
  auto rng = t::test_rng();
  const int64_t n = 1000, d = 37, nq = 45, k = 9;  // n: 62.5 blocks, spread over 2 threads unevenly
  const auto base = t::random_vector<float>(rng, size_t(n * d));
  const auto q = t::random_vector<float>(rng, size_t(nq * d));
  const int saved = simad::num_threads();
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    FlatIndex<float> index(d, metric);
    index.add_sequential(base.data(), n, 7);
    FlatIndex<float>::Result want;
    {
      simad::cpu::IsaScope scope(simad::cpu::Isa::generic);
      simad::set_num_threads(1);
      want = index.search(q.data(), nq, k);
    }
    for (const simad::cpu::Isa isa : kernel_levels()) {
      simad::cpu::IsaScope scope(isa);
      CAPTURE(simad::cpu::isa_name(isa));
      for (const int threads : {1, 2}) {
        simad::set_num_threads(threads);
        const auto batch = index.search(q.data(), nq, k);
        CHECK(std::memcmp(batch.distances.data(), want.distances.data(), want.distances.size() * sizeof(float)) == 0);
        CHECK(batch.labels == want.labels);
        // Alone and in groups of 2 and 3 (the few-query tile) and of 17 (14-row tile + 3).
        int64_t differ = 0;
        for (const int64_t group : {1, 2, 3, 17}) {
          for (int64_t i = 0; i < nq; i += group) {
            const int64_t m = std::min(group, nq - i);
            const auto part = index.search(q.data() + i * d, m, k);
            const size_t bytes = size_t(m * k) * sizeof(float);
            differ += std::memcmp(part.distances.data(), want.distances.data() + i * k, bytes) != 0;
            differ += !std::equal(part.labels.begin(), part.labels.end(), want.labels.begin() + i * k);
          }
        }
        CHECK_MESSAGE(differ == 0, differ, " query groups differ from the batch (", threads, " threads)");
      }
    }
  }
  simad::set_num_threads(saved);
}

TEST_CASE("search/topk: a KSelect ceiling drops keys above it, keeps keys equal to it, and caps the threshold") {
  auto rng = t::test_rng();
  std::vector<simad::search::Candidate<float>> store(4);
  const float ceiling = 0.5f;
  simad::search::KSelect<float> sel(store.data(), 4, ceiling);
  CHECK(sel.threshold() == ceiling);  // not full yet: the ceiling, not +inf
  std::vector<std::pair<float, int64_t>> pushed;
  for (int64_t i = 0; i < 40; ++i) {
    // Two keys under the ceiling, six equal to it (the best four keep two of them: the smaller ids),
    // the rest above it.
    const float key = i == 3 || i == 11 ? float(rng.next_uniform(0.0, 0.4))
                      : i % 7 == 0      ? ceiling
                                        : float(rng.next_uniform(0.51, 1.0));
    sel.push(key, 100 - i);
    pushed.push_back({key, 100 - i});
  }
  // Reference: the 4 best of the pushed pairs with key <= ceiling, by (key, id).
  std::vector<std::pair<float, int64_t>> want;
  for (const auto& p : pushed)
    if (p.first <= ceiling) want.push_back(p);
  std::sort(want.begin(), want.end());
  want.resize(std::min<size_t>(want.size(), 4));
  std::vector<std::pair<float, int64_t>> got;
  for (const auto& c : sel.items()) got.push_back({c.key, c.id});
  std::sort(got.begin(), got.end());
  REQUIRE(want.size() == 4);
  CHECK(want[3].first == ceiling);
  CHECK(got == want);
  CHECK(sel.threshold() == ceiling);
}

}  // namespace SIMAD_TEST_FILE_ID
