// benchmarks/bench_search.cpp: exact top-k search, simad FlatIndex vs FAISS IndexFlatL2 (when
// libfaiss-dev is installed), and batch-hard triplet mining. d = 128, random uniform data.
// Args: N (base vectors), nq (queries per call), k. items_per_second = queries/s. FAISS runs with
// OpenMP at simad's thread count and OpenBLAS at 1 thread (its best configuration on 2 cores, see
// tools/simad/cmd_bench_search.cpp, which also prints the out-of-the-box one and the agreement):
//   ./build/benchmarks/simad_bench_search --benchmark_filter='1000000/1000/10'
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/triplet.hpp"
#include "simad/search/flat_index.hpp"

#if defined(SIMAD_HAVE_FAISS)
#include <faiss/IndexFlat.h>
#include <omp.h>
#endif

namespace {

constexpr int64_t kDim = 128;

const std::vector<float>& data(int64_t n, uint64_t seed) {
  static std::map<std::pair<int64_t, uint64_t>, std::vector<float>> cache;
  auto& v = cache[{n, seed}];
  if (v.empty()) {
    v.resize(size_t(n * kDim));
    simad::Rng(seed, uint64_t(n)).fill_uniform(std::span<float>(v), -1.0, 1.0);
  }
  return v;
}

void BM_simad_search(benchmark::State& state) {
  const int64_t N = state.range(0), nq = state.range(1), k = state.range(2);
  simad::search::FlatIndex<float> index(kDim);
  index.add_sequential(data(N, 1).data(), N, 0);
  const auto& q = data(1000, 2);
  std::vector<float> d(size_t(nq * k));
  std::vector<int64_t> ids(size_t(nq * k));
  for (auto _ : state) {
    index.search(q.data(), nq, k, d.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetItemsProcessed(state.iterations() * nq);
  state.counters["threads"] = simad::num_threads();
}

#if defined(SIMAD_HAVE_FAISS)
void BM_faiss_search(benchmark::State& state) {
  const int64_t N = state.range(0), nq = state.range(1), k = state.range(2);
  faiss::IndexFlatL2 index(static_cast<int>(kDim));
  index.add(N, data(N, 1).data());
  const auto& q = data(1000, 2);
  std::vector<float> d(size_t(nq * k));
  std::vector<faiss::Index::idx_t> ids(size_t(nq * k));
  omp_set_num_threads(simad::num_threads());
  simad::blas::set_threads(1);
  for (auto _ : state) {
    index.search(nq, q.data(), k, d.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  simad::blas::set_threads(simad::num_threads());
  state.SetItemsProcessed(state.iterations() * nq);
  state.counters["threads"] = simad::num_threads();
}
#endif

void search_args(benchmark::internal::Benchmark* b) {
  for (const int64_t N : {100000, 1000000})
    for (const int64_t nq : {1000, 1})
      for (const int64_t k : {10, 100}) b->Args({N, nq, k});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

void BM_triplet_mining(benchmark::State& state) {
  const int64_t B = state.range(0);
  const auto& emb = data(B, 3);
  std::vector<float> g(size_t(B * kDim));
  std::vector<int32_t> labels(static_cast<size_t>(B)), pos(static_cast<size_t>(B)), neg(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) labels[size_t(i)] = int32_t(i % 16);
  float loss = 0;
  int64_t skipped = 0;
  for (auto _ : state) {
    simad::ops::batch_hard_triplet_forward(&loss, pos.data(), neg.data(), &skipped, emb.data(), labels.data(), B, kDim,
                                           0.2f);
    simad::ops::batch_hard_triplet_backward(g.data(), 1.0f, emb.data(), pos.data(), neg.data(), B, kDim, 0.2f);
    benchmark::DoNotOptimize(g.data());
  }
  state.SetItemsProcessed(state.iterations() * B);
}

}  // namespace

BENCHMARK(BM_simad_search)->Apply(search_args);
#if defined(SIMAD_HAVE_FAISS)
BENCHMARK(BM_faiss_search)->Apply(search_args);
#endif
BENCHMARK(BM_triplet_mining)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
