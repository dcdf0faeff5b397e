// tests/cuda/kernels/test_search.cpp: kernels/search.cu under the SIMT emulator against the CPU
// FlatIndex (itself tested against brute force in double, tests/search/test_flat_index.cpp), and
// each piece against a double reference: norms, a tile's candidates, the top-k lists. Small shapes that
// hit the edges: n = 1, sizes not multiples of the tiles or of the warp, several tiles per search (tile_n 7
// and 64), k from 1 to above n, k = 1024 once, exact ties (integer data), both distance kernels (fewer and
// more than 32 queries).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/search.hpp"
#include "simad/search/flat_index.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;
using k::SearchMetric;
using simad::search::FlatIndex;
using simad::search::Metric;
using t::Dev;

std::vector<float> integer_data(simad::Rng& rng, int64_t n, int64_t d) {
  std::vector<float> v(size_t(n * d));
  for (auto& x : v) x = float(int(rng.next_below(5)) - 2);
  for (int64_t i = 2; i < n; i += 4) std::copy_n(v.begin(), d, v.begin() + i * d);  // duplicates of row 0
  return v;
}

struct GpuResult {
  std::vector<float> dist;
  std::vector<int64_t> ids;
};

GpuResult gpu_search(const std::vector<float>& base, const std::vector<int64_t>& ids, const std::vector<float>& q,
                     int64_t d, int64_t kk, SearchMetric metric, int64_t tile_n,
                     const std::vector<int64_t>* exclude = nullptr) {
  const int64_t n = int64_t(ids.size()), nq = int64_t(q.size()) / d;
  Dev<float> db(base), dq(q), dn = Dev<float>::poisoned(size_t(n)), dd = Dev<float>::poisoned(size_t(nq * kk));
  Dev<int64_t> di(ids), dl = Dev<int64_t>::poisoned(size_t(nq * kk));
  Dev<int64_t> dex(exclude ? *exclude : std::vector<int64_t>{0});
  const size_t ws = k::flat_search_workspace_bytes(nq, kk, tile_n);
  Dev<unsigned char> dw(std::vector<unsigned char>(ws, 0xff));
  k::search_squared_norms(dn.ptr, db.ptr, n, d);
  k::flat_search(dd.ptr, dl.ptr, dq.ptr, nq, db.ptr, dn.ptr, di.ptr, n, d, kk, metric, exclude ? dex.ptr : nullptr,
                 dw.ptr, ws, tile_n);
  CUDA_OK(cudaDeviceSynchronize());
  return {dd.get(), dl.get()};
}

// The CPU index's answer for the same data.
FlatIndex<float>::Result cpu_search(const std::vector<float>& base, const std::vector<int64_t>& ids,
                                    const std::vector<float>& q, int64_t d, int64_t kk, SearchMetric metric,
                                    const std::vector<int64_t>* exclude = nullptr) {
  FlatIndex<float> index(d, metric == SearchMetric::L2 ? Metric::L2 : Metric::InnerProduct);
  index.add(base.data(), ids.data(), int64_t(ids.size()));
  return index.search(q.data(), int64_t(q.size()) / d, kk, exclude ? exclude->data() : nullptr);
}

std::vector<int64_t> shuffled_ids(simad::Rng& rng, int64_t n) {
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = (i * 37 + 11) % (n + 50) + 1000 * int64_t(rng.next_below(2));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  while (int64_t(ids.size()) < n) ids.push_back(ids.back() + 1);
  std::reverse(ids.begin(), ids.end());  // storage order is not id order
  return ids;
}

}  // namespace

TEST_CASE("cuda/search: integer data with ties gives exactly the CPU results for every k") {
  auto rng = t::test_rng();
  struct Shape {
    int64_t n, d, nq, tile_n;
  };
  for (const Shape s : {Shape{1, 1, 1, 64}, Shape{17, 5, 3, 7}, Shape{40, 19, 5, 64}}) {
    for (const SearchMetric metric : {SearchMetric::L2, SearchMetric::InnerProduct}) {
      CAPTURE(s.n);
      CAPTURE(s.d);
      const auto base = integer_data(rng, s.n, s.d);
      const auto ids = shuffled_ids(rng, s.n);
      auto q = integer_data(rng, s.nq, s.d);
      std::copy_n(base.begin(), s.d, q.begin());  // a query equal to stored rows (and their duplicates)
      for (int64_t kk = 1; kk <= s.n + 2; kk += (kk < 5 ? 1 : 7)) {
        CAPTURE(kk);
        const auto got = gpu_search(base, ids, q, s.d, kk, metric, s.tile_n);
        const auto want = cpu_search(base, ids, q, s.d, kk, metric);
        CHECK(got.ids == want.labels);
        CHECK(t::same_bits(got.dist, want.distances));
      }
    }
  }
}

TEST_CASE("cuda/search: random data matches the CPU index and k = 1024 works") {
  auto rng = t::test_rng();
  const int64_t d = 33;
  for (const int64_t n : {int64_t(70), int64_t(1100)}) {
    const int64_t nq = n > 1000 ? 2 : 40;  // 40: the 128 x 128 tile kernel (below 32 queries: one vector a thread)
    const int64_t kk = n > 1000 ? 1024 : 10;
    const auto base = t::random_vector<float>(rng, size_t(n * d));
    const auto q = t::random_vector<float>(rng, size_t(nq * d));
    std::vector<int64_t> ids(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = 5 * i + 3;
    const auto got = gpu_search(base, ids, q, d, kk, SearchMetric::L2, n > 1000 ? 512 : 64);
    const auto want = cpu_search(base, ids, q, d, kk, SearchMetric::L2);
    // Same arithmetic on both sides (fmaf chains in dimension order) where the CPU uses FMA; else
    // distances within float rounding and ids equal except between near-equal distances.
    t::check_close(got.dist, want.distances, 1e-5, 1e-5, "distances");
    int64_t bad = 0;
    for (size_t i = 0; i < got.ids.size(); ++i)
      bad += got.ids[i] != want.labels[i] && std::fabs(got.dist[i] - want.distances[i]) > 1e-5f;
    CHECK(bad == 0);
    // Sorted, no repeated id.
    for (int64_t r = 0; r < nq; ++r)
      for (int64_t j = 1; j < kk; ++j) {
        CHECK(got.dist[size_t(r * kk + j - 1)] <= got.dist[size_t(r * kk + j)]);
        CHECK(got.ids[size_t(r * kk + j - 1)] != got.ids[size_t(r * kk + j)]);
      }
  }
}

TEST_CASE("cuda/search: exclude self and batch invariance") {
  auto rng = t::test_rng();
  const int64_t n = 29, d = 6;
  const auto base = integer_data(rng, n, d);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = i;
  std::vector<int64_t> ex = ids;  // queries are the pool; query i excludes id i
  for (const int64_t kk : {int64_t(1), int64_t(4), n}) {
    const auto got = gpu_search(base, ids, base, d, kk, SearchMetric::L2, 16, &ex);
    const auto want = cpu_search(base, ids, base, d, kk, SearchMetric::L2, &ex);
    CHECK(got.ids == want.labels);
    CHECK(t::same_bits(got.dist, want.distances));
  }
  const auto q = t::random_vector<float>(rng, size_t(21 * d));
  const auto batch = gpu_search(base, ids, q, d, 5, SearchMetric::L2, 16);
  for (int64_t i = 0; i < 21; i += 5) {
    const std::vector<float> one(q.begin() + i * d, q.begin() + (i + 1) * d);
    const auto alone = gpu_search(base, ids, one, d, 5, SearchMetric::L2, 16);
    CHECK(std::equal(alone.ids.begin(), alone.ids.end(), batch.ids.begin() + i * 5));
    CHECK(std::memcmp(alone.dist.data(), batch.dist.data() + i * 5, 5 * sizeof(float)) == 0);
  }
}

namespace {

// Every candidate of one search_tile_candidates call on fresh lists (all keys qualify), as a (query, id) ->
// key map; checks each query got exactly nt of them, each id once.
std::vector<float> all_tile_keys(const std::vector<float>& q, const std::vector<float>& b, int64_t nq, int64_t nt,
                                 int64_t d, SearchMetric metric) {
  const int64_t kk = 3, C = k::search_list_capacity(kk);
  Dev<float> dq(q), db(b), dqn = Dev<float>::poisoned(size_t(nq)), dbn = Dev<float>::poisoned(size_t(nt));
  k::search_squared_norms(dqn.ptr, dq.ptr, nq, d);
  k::search_squared_norms(dbn.ptr, db.ptr, nt, d);
  std::vector<int64_t> ids(static_cast<size_t>(nt));
  for (int64_t j = 0; j < nt; ++j) ids[size_t(j)] = 7 * j + 1;
  Dev<int64_t> di(ids), ci = Dev<int64_t>::poisoned(size_t(nq * nt)), li = Dev<int64_t>::poisoned(size_t(nq * C));
  Dev<float> ck = Dev<float>::poisoned(size_t(nq * nt)), lk = Dev<float>::poisoned(size_t(nq * C));
  Dev<int> count = Dev<int>::poisoned(size_t(nq));
  k::search_topk_init(lk.ptr, li.ptr, count.ptr, nq, kk);
  k::search_tile_candidates(ck.ptr, ci.ptr, count.ptr, dq.ptr, dqn.ptr, db.ptr, dbn.ptr, di.ptr, nullptr, lk.ptr,
                            li.ptr, nq, nt, d, kk, metric);
  CUDA_OK(cudaDeviceSynchronize());
  const auto n = count.get();
  const auto keys = ck.get();
  const auto got_ids = ci.get();
  std::vector<float> out(size_t(nq * nt), std::numeric_limits<float>::quiet_NaN());
  std::vector<int> seen(size_t(nq * nt), 0);
  for (int64_t i = 0; i < nq; ++i) {
    REQUIRE(n[size_t(i)] == nt);
    for (int64_t c = 0; c < nt; ++c) {
      const int64_t id = got_ids[size_t(i * nt + c)];
      REQUIRE((id >= 1 && (id - 1) % 7 == 0 && (id - 1) / 7 < nt));
      const int64_t j = (id - 1) / 7;
      ++seen[size_t(i * nt + j)];
      out[size_t(i * nt + j)] = keys[size_t(i * nt + c)];
    }
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int x) { return x == 1; }));
  return out;
}

}  // namespace

TEST_CASE("cuda/search: the pieces match double references") {
  auto rng = t::test_rng();
  for (const int64_t nq : {int64_t(5), int64_t(35)}) {  // the few-queries kernel and the 128 x 128 tile
    CAPTURE(nq);
    const int64_t nt = 37, d = 21, kk = 6;
    const auto q = t::random_vector<float>(rng, size_t(nq * d));
    const auto b = t::random_vector<float>(rng, size_t(nt * d));
    Dev<float> dq(q), db(b), dqn = Dev<float>::poisoned(size_t(nq)), dbn = Dev<float>::poisoned(size_t(nt));
    k::search_squared_norms(dqn.ptr, dq.ptr, nq, d);
    k::search_squared_norms(dbn.ptr, db.ptr, nt, d);
    for (const SearchMetric metric : {SearchMetric::L2, SearchMetric::InnerProduct}) {
      CAPTURE(int(metric));
      // On fresh lists every key is a candidate: each within float rounding of the double distance.
      const auto keys = all_tile_keys(q, b, nq, nt, d, metric);
      std::vector<double> want(size_t(nq * nt));
      for (int64_t i = 0; i < nq; ++i)
        for (int64_t j = 0; j < nt; ++j) {
          double s = 0;
          for (int64_t c = 0; c < d; ++c) {
            const double x = q[size_t(i * d + c)], y = b[size_t(j * d + c)];
            s += metric == SearchMetric::L2 ? (x - y) * (x - y) : -x * y;
          }
          want[size_t(i * nt + j)] = s;
        }
      t::check_close(keys, want, 1e-5, 1e-5, "tile keys");
      // init, candidates, merge, finish: the k best keys of each row, ascending.
      const int64_t C = k::search_list_capacity(kk);
      CHECK(C == 32);
      CHECK(k::search_list_capacity(33) == 64);
      Dev<float> lk = Dev<float>::poisoned(size_t(nq * C)), ck = Dev<float>::poisoned(size_t(nq * nt));
      Dev<int64_t> li = Dev<int64_t>::poisoned(size_t(nq * C)), ci = Dev<int64_t>::poisoned(size_t(nq * nt));
      Dev<int> count = Dev<int>::poisoned(size_t(nq));
      std::vector<int64_t> ids(static_cast<size_t>(nt)), later(static_cast<size_t>(nt));
      for (int64_t j = 0; j < nt; ++j) ids[size_t(j)] = 100 + j, later[size_t(j)] = 200 + j;
      Dev<int64_t> di(ids), dlater(later);
      Dev<float> dist = Dev<float>::poisoned(size_t(nq * kk));
      Dev<int64_t> lab = Dev<int64_t>::poisoned(size_t(nq * kk));
      k::search_topk_init(lk.ptr, li.ptr, count.ptr, nq, kk);
      k::search_tile_candidates(ck.ptr, ci.ptr, count.ptr, dq.ptr, dqn.ptr, db.ptr, dbn.ptr, di.ptr, nullptr, lk.ptr,
                                li.ptr, nq, nt, d, kk, metric);
      k::search_topk_merge(lk.ptr, li.ptr, ck.ptr, ci.ptr, count.ptr, nq, nt, kk);
      k::search_topk_finish(dist.ptr, lab.ptr, lk.ptr, li.ptr, nq, kk, metric);
      CUDA_OK(cudaDeviceSynchronize());
      CHECK(count.get() == std::vector<int>(size_t(nq), 0));  // the merge leaves the counts at 0
      const auto gd = dist.get();
      const auto gl = lab.get();
      std::vector<std::vector<std::pair<float, int64_t>>> sorted(static_cast<size_t>(nq));
      int64_t bad = 0;
      for (int64_t i = 0; i < nq; ++i) {
        auto& row = sorted[size_t(i)];
        for (int64_t j = 0; j < nt; ++j) row.push_back({keys[size_t(i * nt + j)], 100 + j});
        std::sort(row.begin(), row.end());
        for (int64_t j = 0; j < kk; ++j) {
          const float want_d = metric == SearchMetric::L2 ? row[size_t(j)].first : 0.0f - row[size_t(j)].first;
          bad += gl[size_t(i * kk + j)] != row[size_t(j)].second || gd[size_t(i * kk + j)] != want_d;
        }
      }
      CHECK(bad == 0);
      // The same vectors again under larger ids, query i excluding vector i's new id: now a candidate only
      // where the key beats the k-th kept one outright (its id is larger), the excluded id never.
      std::vector<int64_t> ex(static_cast<size_t>(nq));
      for (int64_t i = 0; i < nq; ++i) ex[size_t(i)] = 200 + i % nt;
      Dev<int64_t> dex(ex);
      Dev<float> ck2 = Dev<float>::poisoned(size_t(nq * nt));
      k::search_tile_candidates(ck2.ptr, ci.ptr, count.ptr, dq.ptr, dqn.ptr, db.ptr, dbn.ptr, dlater.ptr, dex.ptr,
                                lk.ptr, li.ptr, nq, nt, d, kk, metric);
      CUDA_OK(cudaDeviceSynchronize());
      const auto n2 = count.get();
      const auto k2 = ck2.get();
      const auto i2 = ci.get();
      for (int64_t i = 0; i < nq; ++i) {
        const float kth = sorted[size_t(i)][size_t(kk - 1)].first;
        std::vector<std::pair<float, int64_t>> want_c, got_c;
        for (int64_t j = 0; j < nt; ++j)
          if (keys[size_t(i * nt + j)] < kth && 200 + j != ex[size_t(i)]) want_c.push_back({keys[size_t(i * nt + j)], 200 + j});
        REQUIRE(n2[size_t(i)] >= 0);
        REQUIRE(n2[size_t(i)] <= nt);
        for (int c = 0; c < n2[size_t(i)]; ++c) got_c.push_back({k2[size_t(i * nt + c)], i2[size_t(i * nt + c)]});
        std::sort(got_c.begin(), got_c.end());
        std::sort(want_c.begin(), want_c.end());
        CHECK(got_c == want_c);
      }
    }
  }
}

TEST_CASE("cuda/search: a tile's keys have the bits of their in-order fmaf chains, across tile edges") {
  // nq and nt past one and two 128 x 128 tiles (and 3 queries: the few-queries kernel), d past two 8-deep
  // slices and not a multiple of them. The host replays each key's arithmetic: norms and dot product as
  // std::fmaf chains over k in order, then (qn + bn) - 2 dot clamped at 0 (L2) or -dot: the kernels must give
  // exactly those bits whatever tile, block or thread a key falls in (what makes results batch-invariant).
  auto rng = t::test_rng();
  const int64_t nt = 260, d = 19;
  for (const int64_t nq : {int64_t(131), int64_t(3)}) {
    CAPTURE(nq);
    const auto q = t::random_vector<float>(rng, size_t(nq * d));
    const auto b = t::random_vector<float>(rng, size_t(nt * d));
    auto chain = [&](const float* x, const float* y) {
      float acc = 0.0f;
      for (int64_t c = 0; c < d; ++c) acc = std::fmaf(x[c], y[c], acc);
      return acc;
    };
    for (const SearchMetric metric : {SearchMetric::L2, SearchMetric::InnerProduct}) {
      CAPTURE(int(metric));
      const auto keys = all_tile_keys(q, b, nq, nt, d, metric);
      std::vector<float> want(size_t(nq * nt));
      for (int64_t i = 0; i < nq; ++i)
        for (int64_t j = 0; j < nt; ++j) {
          const float* qi = q.data() + i * d;
          const float* bj = b.data() + j * d;
          const float dot = chain(qi, bj);
          float key = 0.0f - dot;
          if (metric == SearchMetric::L2) {
            key = (chain(qi, qi) + chain(bj, bj)) - (dot + dot);
            key = key < 0.0f ? 0.0f : key;
          }
          want[size_t(i * nt + j)] = key;
        }
      CHECK(t::same_bits(keys, want));
    }
  }
}

TEST_CASE("cuda/search: bad arguments throw") {
  Dev<float> x(std::vector<float>(64, 1.0f));
  Dev<int64_t> ids(std::vector<int64_t>(8, 0));
  Dev<unsigned char> w(std::vector<unsigned char>(16, 0));
  CHECK_THROWS_AS(k::search_list_capacity(0), simad::Error);
  CHECK_THROWS_AS(k::search_list_capacity(1025), simad::Error);
  CHECK_THROWS_AS(k::flat_search(x.ptr, ids.ptr, x.ptr, 1, x.ptr, x.ptr, ids.ptr, 8, 4, 2, SearchMetric::L2, nullptr,
                                 w.ptr, 16, 8),
                  simad::Error);  // workspace too small
  CHECK_THROWS_AS(k::flat_search(x.ptr, ids.ptr, x.ptr, 1, x.ptr, x.ptr, ids.ptr, 0, 4, 2, SearchMetric::L2, nullptr,
                                 w.ptr, 16, 8),
                  simad::Error);  // empty index
  Dev<int> count(std::vector<int>(2, 0));
  CHECK_THROWS_AS(k::search_tile_candidates(x.ptr, ids.ptr, count.ptr, x.ptr, nullptr, x.ptr, nullptr, ids.ptr,
                                            nullptr, x.ptr, ids.ptr, 2, 2, 4, 1, SearchMetric::L2),
                  simad::Error);  // L2 without norms
  CHECK_THROWS_AS(k::search_squared_norms(x.ptr, x.ptr, -1, 4), simad::Error);
  k::search_squared_norms(nullptr, nullptr, 0, 4);  // empty: nothing to do
  CUDA_OK(cudaDeviceSynchronize());
}

}  // namespace SIMAD_TEST_FILE_ID
