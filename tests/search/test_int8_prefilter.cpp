// tests/search/test_int8_prefilter.cpp: the int8 prefilter of FlatIndex<float> (search/int8_prefilter.hpp).
// - The bound: for every (query, vector) pair of several kinds of data (centred, offset, clustered,
//   magnitudes from 1e-30 to 1e12 with denormals, integers with duplicates) and several dimensions,
//   lower <= exact key <= upper, where the exact key is computed here with the fp32 kernel's own
//   arithmetic (one fma chain over the dimensions, then (qn + xn) - 2 dot, clamped at 0); from the
//   portable loop and, where the CPU has it, from the AVX512-VNNI tile. The bound must also not be grossly loose
//   (width under 2^-2 of the squared norms; the benchmark shows how many blocks survive).
// - The search: with the prefilter (Prefilter::int8, and automatic) results are bit-identical to the
//   exact fp32 scan (Prefilter::off) on the same data, for every kernel level, 1 and 2 threads, query
//   counts that take each tile shape, k from 1 to beyond n, excluded ids; on data that defeats the
//   prefilter too (all vectors equal: the exact fallback; values beyond its range).
// - add / remove / clear / set_prefilter keep the int8 copy in step with the vectors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/core/parallel.hpp"
#include "simad/search/int8_prefilter.hpp"
#include "simad/search/flat_index.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace t = simad::testing;
using simad::search::Int8Blocks;
using simad::search::FlatIndex;
using simad::search::Metric;
using simad::search::Prefilter;
using simad::search::PrefilterQuery;
using EmitFn = std::function<void(int, int64_t, const float*, const float*, uint32_t)>;
using TileFn = std::function<void(const simad::search::prefilter::Tile&, int64_t, EmitFn)>;

// The exact kernel's key for one pair, written out: fused chain from 0 over the dimensions in order.
float exact_key(const float* q, const float* x, int64_t d) {
  float dot = 0, qn = 0, xn = 0;
  for (int64_t j = 0; j < d; ++j) {
    dot = std::fma(q[j], x[j], dot);
    qn = std::fma(q[j], q[j], qn);
    xn = std::fma(x[j], x[j], xn);
  }
  const float key = (qn + xn) - (dot + dot);
  return key < 0 ? 0.0f : key;
}
float fused_norm(const float* x, int64_t d) {
  float s = 0;
  for (int64_t j = 0; j < d; ++j) s = std::fma(x[j], x[j], s);
  return s;
}

struct Data {
  std::string name;
  std::vector<float> base, queries;
};

// Kinds of data for the bound, n base vectors and nq queries of dimension d.
std::vector<Data> bound_data(simad::Rng& rng, int64_t n, int64_t nq, int64_t d) {
  std::vector<Data> out;
  const auto make = [&](const std::string& name, const std::function<float(int64_t row, int64_t col)>& value) {
    Data s{name, std::vector<float>(size_t(n * d)), std::vector<float>(size_t(nq * d))};
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j) s.base[size_t(i * d + j)] = value(i, j);
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t j = 0; j < d; ++j) s.queries[size_t(i * d + j)] = value(n + i, j);
    out.push_back(std::move(s));
  };
  make("uniform [-1, 1)", [&](int64_t, int64_t) { return float(rng.next_uniform(-1, 1)); });
  make("uniform [4, 6): offset from 0", [&](int64_t, int64_t) { return float(rng.next_uniform(4, 6)); });
  make("normal 1e3 + 1e-3 noise", [&](int64_t, int64_t) { return float(1e3 + 1e-3 * rng.next_normal()); });
  std::vector<double> scale(static_cast<size_t>(d));
  for (auto& s : scale) s = std::pow(10.0, rng.next_uniform(-30, 12));
  make("magnitudes 1e-30 to 1e12, denormals", [&](int64_t, int64_t j) {
    if (rng.next_below(10) == 0) return float(1e-40 * rng.next_uniform(-1, 1));  // denormal or 0
    return float(scale[size_t(j)] * rng.next_uniform(-1, 1));
  });
  make("integers with repeats", [&](int64_t, int64_t) { return float(int(rng.next_below(7)) - 3); });
  return out;
}

// Lower and upper bounds of every (query, vector) pair through a prefilter tile with no threshold.
template <typename Tile>
void all_bounds(const Int8Blocks& s, const std::vector<uint32_t>& words, const std::vector<PrefilterQuery>& consts,
                int64_t n, Tile&& tile, std::vector<float>& lower, std::vector<float>& upper) {
  const int64_t nq = int64_t(consts.size()), np = s.quads(), blocks = (n + 15) / 16;
  lower.assign(size_t(nq * n), std::numeric_limits<float>::quiet_NaN());
  upper.assign(size_t(nq * n), std::numeric_limits<float>::quiet_NaN());
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < nq; ++r) {
    const simad::search::prefilter::Tile tl{words.data() + r * np, consts.data() + r, &inf};
    for (int64_t b = 0; b < blocks; ++b) {
      tile(tl, b, [&](int, int64_t blk, const float* lo, const float* up, uint32_t mask) {
        for (int c = 0; c < 16; ++c) {
          const int64_t pos = blk * 16 + c;
          if (pos >= n || !((mask >> c) & 1u)) continue;
          lower[size_t(r * n + pos)] = lo[c];
          upper[size_t(r * n + pos)] = up[c];
        }
      });
    }
  }
}

}  // namespace

TEST_CASE("search/int8_prefilter: lower <= exact key <= upper for every pair, and the bound is not loose") {
  auto rng = t::test_rng();
  for (const int64_t d : {1, 2, 7, 16, 33, 128}) {
    const int64_t n = 45, nq = 6;
    for (const Data& data : bound_data(rng, n, nq, d)) {
      CAPTURE(d);
      CAPTURE(data.name);
      Int8Blocks s(d);
      s.set_centre(data.base.data(), n);
      s.resize(n);
      for (int64_t i = 0; i < n; ++i) s.put(i, data.base.data() + i * d, fused_norm(data.base.data() + i * d, d));
      REQUIRE(s.in_range());
      std::vector<uint32_t> words(size_t(nq * s.quads()));
      std::vector<PrefilterQuery> consts(static_cast<size_t>(nq));
      for (int64_t r = 0; r < nq; ++r) {
        const float* q = data.queries.data() + r * d;
        REQUIRE(s.prepare(q, fused_norm(q, d), words.data() + r * s.quads(), consts[size_t(r)]));
      }
      std::vector<std::pair<std::string, TileFn>> tiles;
      tiles.push_back({"portable", [&](const auto& tl, int64_t b, auto emit) {
                         simad::search::prefilter::tile_portable<1, 1>(s, tl, b, emit);
                       }});
#if defined(SIMAD_PREFILTER_X86)
      if (simad::cpu::features().avx512_vnni)
        tiles.push_back({"AVX512-VNNI", [&](const auto& tl, int64_t b, auto emit) {
                           simad::search::prefilter::tile_avx512vnni<1, 1, false>(s, tl, b, emit);
                         }});
#endif
      for (const auto& [name, tile] : tiles) {
        CAPTURE(name);
        std::vector<float> lower, upper;
        all_bounds(s, words, consts, n, tile, lower, upper);
        int64_t outside = 0, loose = 0;
        for (int64_t r = 0; r < nq; ++r) {
          const float* q = data.queries.data() + r * d;
          const double an = double(consts[size_t(r)].an), qn = double(fused_norm(q, d));
          for (int64_t i = 0; i < n; ++i) {
            const float* x = data.base.data() + i * d;
            const float key = exact_key(q, x, d), lo = lower[size_t(r * n + i)], up = upper[size_t(r * n + i)];
            if (!(lo <= key && key <= up)) {
              if (++outside <= 3)
                MESSAGE("query ", r, " vector ", i, ": key ", key, " outside [", lo, ", ", up, "]");
            }
            const double bn = double(s.bn()[i]), xn = double(fused_norm(x, d));
            if (double(up) - double(lo) > 0x1p-2 * (an + bn) + 0x1p-10 * (qn + xn) + 1e-29) {
              if (++loose <= 3)
                MESSAGE("query ", r, " vector ", i, ": [", lo, ", ", up, "] key ", key, " an ", an, " bn ", bn, " qn ",
                        qn, " xn ", xn);
            }
          }
        }
        CHECK_MESSAGE(outside == 0, outside, " pairs outside their bounds; seed ", t::test_seed());
        CHECK_MESSAGE(loose == 0, loose, " pairs with a bound wider than 2^-2 of their squared norms");
      }
    }
  }
}

namespace {

// Searches the same data with the prefilter (mode) and without, and requires the same bits.
void check_same_as_exact(const FlatIndex<float>& pf, const FlatIndex<float>& exact, const std::vector<float>& q,
                         int64_t k, const int64_t* exclude) {
  const int64_t d = pf.dim(), nq = int64_t(q.size()) / d;
  std::vector<float> dist(size_t(nq * k)), want_dist(size_t(nq * k));
  std::vector<int64_t> ids(size_t(nq * k)), want_ids(size_t(nq * k));
  t::poison(std::span<float>(dist));
  t::poison(std::span<int64_t>(ids));
  pf.search(q.data(), nq, k, dist.data(), ids.data(), exclude);
  exact.search(q.data(), nq, k, want_dist.data(), want_ids.data(), exclude);
  int64_t differ = 0;
  for (size_t i = 0; i < dist.size(); ++i)
    differ += ids[i] != want_ids[i] || std::memcmp(&dist[i], &want_dist[i], sizeof(float)) != 0;
  CHECK_MESSAGE(differ == 0, differ, " of ", dist.size(), " results differ from the exact scan (nq ", nq, " k ", k,
                " n ", pf.size(), "); seed ", t::test_seed());
}

std::vector<simad::cpu::Isa> kernel_levels() {
  std::vector<simad::cpu::Isa> levels;
  for (simad::cpu::Isa isa : {simad::cpu::Isa::generic, simad::cpu::Isa::avx2, simad::cpu::Isa::avx512})
    if (int(isa) <= int(simad::cpu::best_isa())) levels.push_back(isa);
  return levels;
}

// Search data: base (n, d) and queries; clustered data has many near-ties, "equal" defeats the prefilter.
Data search_data(simad::Rng& rng, const std::string& kind, int64_t n, int64_t nq, int64_t d) {
  Data s{kind, std::vector<float>(size_t(n * d)), std::vector<float>(size_t(nq * d))};
  if (kind == "uniform") {
    rng.fill_uniform(std::span<float>(s.base), -1, 1);
    rng.fill_uniform(std::span<float>(s.queries), -1, 1);
  } else if (kind == "clustered, offset") {
    std::vector<float> centres(size_t(8 * d));
    rng.fill_uniform(std::span<float>(centres), 9, 11);
    for (int64_t i = 0; i < n + nq; ++i) {
      float* row = i < n ? s.base.data() + i * d : s.queries.data() + (i - n) * d;
      const float* c = centres.data() + int64_t(rng.next_below(8)) * d;
      for (int64_t j = 0; j < d; ++j) row[j] = c[j] + float(1e-3 * rng.next_normal());
    }
  } else if (kind == "integers") {
    for (auto* v : {&s.base, &s.queries})
      for (auto& x : *v) x = float(int(rng.next_below(5)) - 2);
  } else {  // "equal": every base vector the same
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j) s.base[size_t(i * d + j)] = float(j % 3) - 1;
    rng.fill_uniform(std::span<float>(s.queries), -1, 1);
  }
  // Queries 0 and 1 are stored vectors: distance exactly 0, and ties with their duplicates.
  std::copy_n(s.base.begin(), d, s.queries.begin());
  if (nq > 1) std::copy_n(s.base.begin() + (n / 2) * d, d, s.queries.begin() + d);
  return s;
}

}  // namespace

TEST_CASE("search/int8_prefilter: prefiltered search is bit-identical to the exact scan") {
  auto rng = t::test_rng();
  const int saved = simad::num_threads();
  struct Case {
    const char* kind;
    int64_t n, d;
  };
  // n: not multiples of 16 or of the 8- and 2-block steps; "equal" with n above the keep limit of
  // 4096 + 16 k kept positions, so its queries fall back to the exact scan.
  for (const Case c : {Case{"uniform", 1203, 37}, Case{"uniform", 700, 128}, Case{"clustered, offset", 1500, 24},
                       Case{"integers", 613, 9}, Case{"equal", 4700, 6}}) {
    CAPTURE(c.kind);
    CAPTURE(c.d);
    const int64_t max_nq = 45;
    const Data data = search_data(rng, c.kind, c.n, max_nq, c.d);
    std::vector<int64_t> ids(static_cast<size_t>(c.n));
    for (int64_t i = 0; i < c.n; ++i) ids[size_t(i)] = (i * 7919 + 13) % 100003;  // not in storage order
    FlatIndex<float> exact(c.d), pf(c.d), automatic(c.d);
    exact.set_prefilter(Prefilter::off);
    pf.set_prefilter(Prefilter::int8);
    for (auto* index : {&exact, &pf, &automatic}) index->add(data.base.data(), ids.data(), c.n);
    REQUIRE(std::string(pf.prefilter_kernel()) != "off");
    std::vector<int64_t> exclude(size_t(max_nq), -1);
    for (size_t i = 0; i < exclude.size(); i += 2) exclude[i] = ids[rng.next_below(uint32_t(c.n))];
    exclude[0] = ids[0];  // query 0 is stored vector 0
    for (const simad::cpu::Isa isa : kernel_levels()) {
      simad::cpu::IsaScope scope(isa);
      CAPTURE(simad::cpu::isa_name(isa));
      for (const int threads : {1, 2}) {
        simad::set_num_threads(threads);
        // 1-3 queries: the few-query tile; 17: a 14-row panel + 3; 45: three panels + 3.
        for (const int64_t nq : {1, 2, 3, 17, 45}) {
          const std::vector<float> q(data.queries.begin(), data.queries.begin() + nq * c.d);
          for (const int64_t k : {int64_t(1), int64_t(10), int64_t(100)}) {
            check_same_as_exact(pf, exact, q, k, nullptr);
            check_same_as_exact(pf, exact, q, k, exclude.data());
            check_same_as_exact(automatic, exact, q, k, exclude.data());
          }
        }
      }
    }
  }
  simad::set_num_threads(saved);
}

TEST_CASE("search/int8_prefilter: more queries than a block, k beyond the vectors, values out of range") {
  auto rng = t::test_rng();
  const int64_t d = 20, n = 300;
  Data data = search_data(rng, "uniform", n, 600, d);  // 600 queries: two query blocks of up to 512
  FlatIndex<float> exact(d), pf(d);
  exact.set_prefilter(Prefilter::off);
  pf.set_prefilter(Prefilter::int8);
  exact.add_sequential(data.base.data(), n, 5);
  pf.add_sequential(data.base.data(), n, 5);
  check_same_as_exact(pf, exact, data.queries, 10, nullptr);
  check_same_as_exact(pf, exact, data.queries, n + 7, nullptr);  // missing slots: id -1, +inf
  // A query with a squared norm beyond 2^100 takes the exact scan; the others still use the prefilter.
  for (int64_t j = 0; j < d; ++j) data.queries[size_t(3 * d + j)] = 1e15f;
  check_same_as_exact(pf, exact, data.queries, 10, nullptr);
  // A stored vector beyond the range turns the prefilter off for the index.
  std::vector<float> big(size_t(d), -2e15f);
  exact.add_sequential(big.data(), 1, 1000);
  pf.add_sequential(big.data(), 1, 1000);
  CHECK(std::string(pf.prefilter_kernel()) == "off");
  check_same_as_exact(pf, exact, data.queries, 10, nullptr);
}

TEST_CASE("search/int8_prefilter: add, remove, clear and set_prefilter keep the int8 copy in step") {
  auto rng = t::test_rng();
  const int64_t d = 29, nq = 20;
  const Data data = search_data(rng, "clustered, offset", 900, nq, d);
  FlatIndex<float> exact(d), pf(d);
  exact.set_prefilter(Prefilter::off);
  pf.set_prefilter(Prefilter::int8);
  const auto both = [&](const std::function<void(FlatIndex<float>&)>& f) {
    f(exact);
    f(pf);
  };
  both([&](auto& ix) { ix.add_sequential(data.base.data(), 1, 0); });  // the centre: one vector
  both([&](auto& ix) { ix.add_sequential(data.base.data() + d, 400, 1); });
  check_same_as_exact(pf, exact, data.queries, 7, nullptr);
  for (const int64_t id : {int64_t(400), int64_t(0), int64_t(17), int64_t(200), int64_t(399)})
    both([&](auto& ix) { REQUIRE(ix.remove(id)); });
  both([&](auto& ix) { ix.add_sequential(data.base.data() + 401 * d, 499, 1000); });
  check_same_as_exact(pf, exact, data.queries, 7, nullptr);
  check_same_as_exact(pf, exact, data.queries, 64, nullptr);
  // Turned on over a filled index: the copy is built from the stored vectors.
  FlatIndex<float> late(d);
  late.set_prefilter(Prefilter::off);
  late.add_sequential(data.base.data(), 900, 0);
  late.set_prefilter(Prefilter::int8);
  exact.clear();
  exact.add_sequential(data.base.data(), 900, 0);
  check_same_as_exact(late, exact, data.queries, 10, nullptr);
  // Cleared, then refilled with other data (a new centre).
  pf.clear();
  const Data other = search_data(rng, "uniform", 500, nq, d);
  pf.add_sequential(other.base.data(), 500, 0);
  exact.clear();
  exact.add_sequential(other.base.data(), 500, 0);
  check_same_as_exact(pf, exact, other.queries, 10, nullptr);
}

TEST_CASE("search/int8_prefilter: kept only for float L2, and costs a quarter of the vectors' bytes again") {
  const int64_t d = 64, n = 1000;
  std::vector<float> base(size_t(n * d));
  auto rng = t::test_rng();
  rng.fill_uniform(std::span<float>(base), -1, 1);
  FlatIndex<float> off(d), on(d), ip(d, Metric::InnerProduct);
  off.set_prefilter(Prefilter::off);
  on.set_prefilter(Prefilter::int8);
  ip.set_prefilter(Prefilter::int8);
  for (auto* ix : {&off, &on, &ip}) ix->add_sequential(base.data(), n, 0);
  CHECK(std::string(off.prefilter_kernel()) == "off");
  CHECK(std::string(ip.prefilter_kernel()) == "off");
  CHECK(std::string(on.prefilter_kernel()) != "off");
  CHECK(on.prefilter() == Prefilter::int8);
  const double extra = double(on.memory_bytes() - off.memory_bytes()) / double(n * d * 4);
  CHECK(extra > 0.25);
  CHECK(extra < 0.35);
  FlatIndex<double> dbl(d);
  dbl.set_prefilter(Prefilter::int8);
  dbl.add_sequential(std::vector<double>(base.begin(), base.end()).data(), n, 0);
  CHECK(std::string(dbl.prefilter_kernel()) == "off");
}

}  // namespace SIMAD_TEST_FILE_ID
