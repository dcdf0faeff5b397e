// tools/simad/cmd_bench_search.cpp: `simad bench search`, exact top-k search throughput of simad's
// FlatIndex beside FAISS IndexFlatL2 (libfaiss-dev) on the same random data in the same run, plus
// batch-hard triplet mining time.
//
// FAISS is timed in two configurations, both printed: out of the box (its OpenMP pool and
// OpenBLAS' pool both sized to the thread count: on 2 cores they fight, FACTS.md section 7) and
// tuned (OpenBLAS 1 thread during FAISS calls, OpenMP at the thread count); the ratio uses the
// faster one. Debian's libfaiss.a calls sgemm_ through libblas.so.3, which on this system is
// OpenBLAS' own wrapper (openblas-pthread/libblas.so.3 -> libopenblas.so.0): one pool, the one
// openblas_set_num_threads sizes.
//
// Agreement per row: the fraction of (query, rank) slots where simad and FAISS return the same id,
// the slots that differ only between (near-)equal distances (a tie: |d_simad - d_faiss| <= 1e-4
// relative at that rank), and the largest relative difference of the distances rank by rank.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "commands.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/triplet.hpp"
#include "simad/search/flat_index.hpp"

#if defined(SIMAD_HAVE_FAISS)
#include <faiss/IndexFlat.h>
#include <omp.h>
#endif

namespace simad::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct SearchBenchOptions {
  bool quick = false;
  int threads = 0;
  int64_t max_n = 1000000;
  int repeats = 3;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Median seconds of `repeats` calls of fn (after one warm-up call when warm_up).
double time_median(const std::function<void()>& fn, int repeats, bool warm_up) {
  if (warm_up) fn();
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Agreement {
  double same_ids = 0;      // fraction of slots with the same id
  int64_t tie_swaps = 0;    // differing slots whose distances agree within 1e-4 relative (ties)
  int64_t real_diffs = 0;   // differing slots that are not ties
  double max_rel = 0;       // max relative distance difference, rank by rank
};

Agreement compare(const std::vector<float>& d1, const std::vector<int64_t>& i1, const std::vector<float>& d2,
                  const std::vector<int64_t>& i2) {
  Agreement a;
  int64_t same = 0;
  for (size_t j = 0; j < i1.size(); ++j) {
    const double rel = std::fabs(double(d1[j]) - double(d2[j])) / std::max(1e-30, std::fabs(double(d2[j])));
    a.max_rel = std::max(a.max_rel, rel);
    if (i1[j] == i2[j]) ++same;
    else if (rel <= 1e-4) ++a.tie_swaps;
    else ++a.real_diffs;
  }
  a.same_ids = i1.empty() ? 1.0 : double(same) / double(i1.size());
  return a;
}

void run_search_bench(const SearchBenchOptions& o) {
  if (o.threads > 0) simad::set_num_threads(o.threads);
  const int threads = simad::num_threads();
  const int64_t d = 128;
  std::printf("simad bench search: d=%lld, random uniform [-1, 1) data, %d threads; OpenBLAS core %s\n",
              static_cast<long long>(d), threads, simad::blas::core_name().c_str());
#if defined(__AVX512F__)
  std::printf("simad micro-kernel: AVX-512 (8 queries x 32 vectors)\n");
#elif defined(__AVX2__) && defined(__FMA__)
  std::printf("simad micro-kernel: AVX2+FMA (6 queries x 16 vectors)\n");
#else
  std::printf("simad micro-kernel: portable C++\n");
#endif
#if defined(SIMAD_HAVE_FAISS)
  std::printf("peer: FAISS IndexFlatL2 (libfaiss-dev), 'default' = OpenMP %d + OpenBLAS %d threads, 'tuned' = "
              "OpenMP %d + OpenBLAS 1 thread\n", threads, threads, threads);
#else
  std::printf("peer: FAISS not built (libfaiss-dev missing): simad columns only\n");
#endif
  std::printf("%-9s %-6s %-5s | %12s | %12s %12s | %7s | %s\n", "N", "nq", "k", "simad q/s", "faiss dflt",
              "faiss tuned", "ratio", "agreement (same ids, tie swaps, other diffs, max rel dist diff)");
  std::vector<int64_t> sizes = {100000};
  if (!o.quick && o.max_n >= 1000000) sizes.push_back(1000000);
  const int64_t max_q = 1000;
  std::vector<float> queries(size_t(max_q * d));
  simad::Rng(7).fill_uniform(std::span<float>(queries), -1.0, 1.0);
  for (const int64_t N : sizes) {
    std::vector<float> base(size_t(N * d));
    simad::Rng(11, uint64_t(N)).fill_uniform(std::span<float>(base), -1.0, 1.0);
    simad::search::FlatIndex<float> index(d);
    index.add_sequential(base.data(), N, 0);
#if defined(SIMAD_HAVE_FAISS)
    faiss::IndexFlatL2 peer(static_cast<int>(d));
    peer.add(N, base.data());
#endif
    base.clear();
    base.shrink_to_fit();
    for (const int64_t nq : {int64_t(1000), int64_t(1)}) {
      for (const int64_t k : {int64_t(10), int64_t(100)}) {
        if (o.quick && k == 100) continue;
        // nq = 1: latency over `singles` different queries, each searched alone.
        const int64_t singles = nq == 1 ? 20 : 1;
        const int64_t total = nq * singles;
        std::vector<float> sd(size_t(total * k));
        std::vector<int64_t> si(size_t(total * k));
        auto simad_fn = [&] {
          for (int64_t s = 0; s < singles; ++s)
            index.search(queries.data() + s * nq * d, nq, k, sd.data() + s * nq * k, si.data() + s * nq * k);
        };
        const int reps = N >= 1000000 && nq > 1 ? 1 : o.repeats;
        const double t_simad = time_median(simad_fn, reps, true) / double(singles);
        double t_default = 0, t_tuned = 0;
        Agreement agree;
#if defined(SIMAD_HAVE_FAISS)
        std::vector<float> fd(size_t(total * k));
        std::vector<faiss::Index::idx_t> fi(size_t(total * k));
        auto faiss_fn = [&] {
          for (int64_t s = 0; s < singles; ++s)
            peer.search(nq, queries.data() + s * nq * d, k, fd.data() + s * nq * k, fi.data() + s * nq * k);
        };
        omp_set_num_threads(threads);
        simad::blas::set_threads(threads);
        t_default = time_median(faiss_fn, reps, true) / double(singles);
        simad::blas::set_threads(1);
        t_tuned = time_median(faiss_fn, reps, true) / double(singles);
        simad::blas::set_threads(threads);
        agree = compare(sd, si, fd, std::vector<int64_t>(fi.begin(), fi.end()));
#endif
        const double best_peer = t_default > 0 ? std::min(t_default, t_tuned) : 0.0;
        auto qps = [&](double t) { return t > 0 ? double(nq) / t : 0.0; };
        char ratio[32] = "-";
        if (best_peer > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", best_peer / t_simad);
        std::printf("%-9lld %-6lld %-5lld | %12.1f | %12.1f %12.1f | %7s | %.4f, %lld, %lld, %.2g\n",
                    static_cast<long long>(N), static_cast<long long>(nq), static_cast<long long>(k), qps(t_simad),
                    qps(t_default), qps(t_tuned), ratio, agree.same_ids, static_cast<long long>(agree.tie_swaps),
                    static_cast<long long>(agree.real_diffs), agree.max_rel);
        if (nq == 1)
          std::printf("%-22s | latency ms: simad %.2f, faiss default %.2f, tuned %.2f\n", "", 1e3 * t_simad,
                      1e3 * t_default, 1e3 * t_tuned);
        std::fflush(stdout);
      }
    }
  }
  // Batch-hard triplet mining: forward (distances, selections, loss) + backward, d = 128.
  std::printf("\nbatch-hard triplet mining (CPU, d=%lld, 16 labels, squared distance): forward + backward\n",
              static_cast<long long>(d));
  for (const int64_t B : {int64_t(1024), int64_t(4096)}) {
    std::vector<float> emb(static_cast<size_t>(B * d)), g(static_cast<size_t>(B * d));
    simad::Rng(3).fill_uniform(std::span<float>(emb), -1.0, 1.0);
    std::vector<int32_t> labels(static_cast<size_t>(B)), pos(static_cast<size_t>(B)), neg(static_cast<size_t>(B));
    simad::Rng lr(5);
    for (auto& l : labels) l = int32_t(lr.next_below(16));
    float loss = 0;
    int64_t skipped = 0;
    const double t = time_median(
        [&] {
          simad::ops::batch_hard_triplet_forward(&loss, pos.data(), neg.data(), &skipped, emb.data(), labels.data(), B,
                                                 d, 0.2f);
          simad::ops::batch_hard_triplet_backward(g.data(), 1.0f, emb.data(), pos.data(), neg.data(), B, d, 0.2f);
        },
        o.repeats, true);
    std::printf("B=%-5lld %8.2f ms  (loss %.4f, %lld skipped)\n", static_cast<long long>(B), 1e3 * t, double(loss),
                static_cast<long long>(skipped));
  }
}

void register_bench_search(CLI::App& bench) {
  auto opt = std::make_shared<SearchBenchOptions>();
  CLI::App* cmd = bench.add_subcommand("search", "Exact top-k search vs FAISS IndexFlatL2, and triplet mining");
  cmd->footer(
      "Rows: N (base vectors, d=128) x nq (1000 = batch throughput, 1 = single-query latency over 20 queries)\n"
      "x k. ratio = best FAISS time / simad time. Needs ~1.6 GB of memory at N=1M.\n"
      "Examples:\n"
      "  simad bench search --quick\n"
      "  simad bench search --threads 2");
  cmd->add_flag("--quick", opt->quick, "N=100k and k=10 only");
  cmd->add_option("--threads", opt->threads, "Threads for simad and FAISS (default: SIMAD_NUM_THREADS, else all cores)")
      ->type_name("N")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--max-n", opt->max_n, "Largest N (100000 or 1000000)")->type_name("N");
  cmd->add_option("--repeats", opt->repeats, "Timed calls per row (median; 1 at N=1M, nq=1000)")
      ->type_name("R")
      ->check(CLI::Range(1, 100));
  cmd->callback([opt] { run_search_bench(*opt); });
}

}  // namespace

static const RegisterBenchSuite kBenchSearch{10, "search", &register_bench_search};

}  // namespace simad::cli
