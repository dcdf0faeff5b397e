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
// The stronger peer is FAISS from PyPI (faiss-cpu: built for AVX2 / AVX-512 and dispatched at run
// time, with its own OpenMP OpenBLAS), run as a child process: benchmarks/faiss_peer.py, compiled
// into this program, under the Python of a virtual environment (scripts/install-bench-peers; found
// by --faiss-python, SIMAD_FAISS_PYTHON or the default venv path). simad sends it the very vectors
// and queries it searches, and its rows are timed interleaved with simad (bench_timing.hpp,
// time_pair_trials: the peer times index.search itself). Without that environment the rows are
// skipped with one line saying how to install it; the bench never fails for a missing peer.
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
#include <cstdlib>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unistd.h>
#include <vector>

#include "bench_timing.hpp"
#include "commands.hpp"
#include "faiss_peer_script.hpp"
#include "peer_process.hpp"
#include "simad/core/cpu_features.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/triplet.hpp"
#include "simad/search/flat_index.hpp"

#if defined(SIMAD_HAVE_FAISS)
#include <faiss/IndexFlat.h>
#include <faiss/utils/utils.h>
#include <omp.h>
#endif

namespace simad::cli {
namespace {

struct SearchBenchOptions {
  bool quick = false;
  int threads = 0;
  int64_t max_n = 1000000;
  int repeats = 3;
  std::string faiss_python;  // interpreter of the PyPI FAISS peer; "" = SIMAD_FAISS_PYTHON, else the default venv
};

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

// Where the PyPI FAISS peer's interpreter is, and which setting named it (for the messages).
struct PeerPython {
  std::string path, from;
};

PeerPython faiss_python(const std::string& option) {
  if (!option.empty()) return {option, "--faiss-python"};
  if (const char* e = std::getenv("SIMAD_FAISS_PYTHON"); e && *e) return {e, "SIMAD_FAISS_PYTHON"};
  // The path scripts/install-bench-peers creates by default.
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string cache = xdg && *xdg ? std::string(xdg) : home && *home ? std::string(home) + "/.cache" : "";
  if (cache.empty()) return {"", "the default venv (neither XDG_CACHE_HOME nor HOME is set)"};
  return {cache + "/simad/peers-venv/bin/python", "the default venv"};
}

// FAISS from PyPI in a child process (benchmarks/faiss_peer.py; protocol in its docstring).
class PypiFaiss {
 public:
  // A data transfer or search at N = 1M on a slow, loaded machine takes seconds to tens of seconds.
  static constexpr double kReplyTimeout = 600.0;

  PypiFaiss(const PeerPython& py, int threads) {
    proc_ = std::make_unique<PeerProcess>("faiss-cpu peer (" + py.path + ", from " + py.from + ")",
                                          std::vector<std::string>{py.path, "-c", kFaissPeerScript});
    proc_->expect("facts", 120.0, &facts_);
    std::string got;
    if (proc_->send("threads " + std::to_string(threads)) && proc_->expect("ok", 60.0, &got)) threads_ = got;
  }

  bool ok() const { return proc_->ok(); }
  const std::string& error() const { return proc_->error(); }
  const std::string& facts() const { return facts_; }
  const std::string& threads() const { return threads_; }

  // Sends rows x d floats as the peer's queries ("queries") or as a new index ("base").
  void send_matrix(const char* what, const float* x, int64_t rows, int64_t d) {
    std::string got;
    if (!proc_->send(std::string(what) + " " + std::to_string(rows) + " " + std::to_string(d), x,
                     size_t(rows * d) * sizeof(float)) ||
        !proc_->expect("ok", kReplyTimeout, &got))
      return;
    if (std::atoll(got.c_str()) != rows) proc_->fail("'" + std::string(what) + "' holds " + got + " rows, sent " +
                                                     std::to_string(rows));
  }

  // The peer's results for queries 0 .. nq * singles - 1, searched as `singles` searches of nq each.
  bool results(int64_t nq, int64_t k, int64_t singles, std::vector<float>& dist, std::vector<int64_t>& ids) {
    const int64_t m = nq * singles * k;
    std::string got;
    if (!proc_->send("results " + args(nq, k, singles)) || !proc_->expect("results", kReplyTimeout, &got))
      return false;
    if (std::atoll(got.c_str()) != m) {
      proc_->fail("'results' announced " + got + " values, expected " + std::to_string(m));
      return false;
    }
    dist.resize(size_t(m));
    ids.resize(size_t(m));
    return proc_->read_bytes(dist.data(), dist.size() * sizeof(float), kReplyTimeout) &&
           proc_->read_bytes(ids.data(), ids.size() * sizeof(int64_t), kReplyTimeout);
  }

  // One trial: rounds of `singles` searches of nq queries until they took >= seconds; calls = rounds.
  Trial run(int64_t nq, int64_t k, int64_t singles, double seconds) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.6g", seconds);
    std::string got;
    if (!proc_->send("run " + args(nq, k, singles) + " " + secs) || !proc_->expect("time", kReplyTimeout, &got))
      return {};
    Trial t;
    long long rounds = 0;
    if (std::sscanf(got.c_str(), "%lf %lld", &t.seconds, &rounds) != 2 || !(t.seconds >= 0) || rounds < 1) {
      proc_->fail("'time' reply '" + got + "' is not 'SECONDS ROUNDS' (ROUNDS >= 1)");
      return {};
    }
    t.calls = rounds;
    return t;
  }

 private:
  static std::string args(int64_t nq, int64_t k, int64_t singles) {
    return std::to_string(nq) + " " + std::to_string(k) + " " + std::to_string(singles);
  }
  std::unique_ptr<PeerProcess> proc_;
  std::string facts_, threads_ = "?";
};

// Starts the PyPI FAISS peer, or says in one line why its rows are skipped (nullptr).
std::unique_ptr<PypiFaiss> start_pypi_faiss(const SearchBenchOptions& o, int threads) {
  const PeerPython py = faiss_python(o.faiss_python);
  // A name without '/' is looked up in PATH when started; a path must be there already.
  if (py.path.empty() || (py.path.find('/') != std::string::npos && ::access(py.path.c_str(), X_OK) != 0)) {
    std::printf("peer 2: faiss-cpu (PyPI) skipped: no Python at %s (%s); scripts/install-bench-peers installs "
                "it, or pass --faiss-python PATH\n", py.path.empty() ? "-" : py.path.c_str(), py.from.c_str());
    return nullptr;
  }
  auto peer = std::make_unique<PypiFaiss>(py, threads);
  if (!peer->ok()) {
    std::printf("peer 2: faiss-cpu (PyPI) skipped: %s\n", peer->error().c_str());
    return nullptr;
  }
  std::printf("peer 2: %s; IndexFlatL2, OpenMP %s threads, timed interleaved with simad (time of index.search "
              "in the peer process)\n", peer->facts().c_str(), peer->threads().c_str());
  return peer;
}

void run_search_bench(const SearchBenchOptions& o) {
  if (o.threads > 0) simad::set_num_threads(o.threads);
  const int threads = simad::num_threads();
  const int64_t d = 128;
  std::printf("simad bench search: d=%lld, random uniform [-1, 1) data, %d threads; OpenBLAS core %s\n",
              static_cast<long long>(d), threads, simad::blas::core_name().c_str());
  std::printf("simad micro-kernel: %s, chosen at run time; int8 prefilter: %s; CPU %s\n",
              simad::search::FlatIndex<float>::kernel_name(), simad::search::FlatIndex<float>(d).prefilter_kernel(),
              simad::cpu::features().brand.c_str());
#if defined(SIMAD_HAVE_FAISS)
  // get_compile_options() names the SIMD level FAISS was built for ("GENERIC" or empty: baseline x86-64).
  std::string faiss_simd = faiss::get_compile_options();
  while (!faiss_simd.empty() && faiss_simd.back() == ' ') faiss_simd.pop_back();
  std::printf("peer 1: FAISS %d.%d.%d IndexFlatL2 (libfaiss-dev), compiled '%s', BLAS: OpenBLAS core %s; "
              "'default' = OpenMP %d + OpenBLAS %d threads, 'tuned' = OpenMP %d + OpenBLAS 1 thread; timed after "
              "simad, not interleaved\n",
              FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR, FAISS_VERSION_PATCH, faiss_simd.c_str(),
              simad::blas::core_name().c_str(), threads, threads, threads);
#else
  std::printf("peer 1: Debian FAISS not built (libfaiss-dev missing): its columns are 0\n");
#endif
  const int64_t max_q = 1000;
  std::vector<float> queries(size_t(max_q * d));
  simad::Rng(7).fill_uniform(std::span<float>(queries), -1.0, 1.0);
  std::unique_ptr<PypiFaiss> pypi = start_pypi_faiss(o, threads);
  if (pypi) pypi->send_matrix("queries", queries.data(), max_q, d);
  std::printf("%-9s %-6s %-5s | %12s | %12s %12s | %7s | %s\n", "N", "nq", "k", "simad q/s", "faiss dflt",
              "faiss tuned", "ratio", "agreement (same ids, tie swaps, other diffs, max rel dist diff)");
  // Below 100k (a smoke run, e.g. the CLI tests) one row set at --max-n.
  std::vector<int64_t> sizes = {std::min<int64_t>(100000, o.max_n)};
  if (!o.quick && o.max_n >= 1000000) sizes.push_back(1000000);
  // Interleaved pairs with the PyPI peer: at least --repeats pairs, then until the median ratio is
  // known to +-3% or each side has run this long.
  const double pair_time = o.quick ? 0.5 : 1.0;
  auto report_pypi_failure = [&] {
    if (pypi && !pypi->ok()) {
      std::printf("%-22s | faiss-cpu (PyPI) rows skipped from here: %s\n", "", pypi->error().c_str());
      pypi.reset();
    }
  };
  for (const int64_t N : sizes) {
    std::vector<float> base(size_t(N * d));
    simad::Rng(11, uint64_t(N)).fill_uniform(std::span<float>(base), -1.0, 1.0);
    simad::search::FlatIndex<float> index(d);
    index.add_sequential(base.data(), N, 0);
    // The same vectors without the int8 prefilter (fp32 scan only), timed interleaved beside it when
    // the prefilter is on, to show what it gains; both must give the same bits.
    std::unique_ptr<simad::search::FlatIndex<float>> fp32_only;
    if (std::string(index.prefilter_kernel()) != "off") {
      fp32_only = std::make_unique<simad::search::FlatIndex<float>>(d);
      fp32_only->set_prefilter(simad::search::Prefilter::off);
      fp32_only->add_sequential(base.data(), N, 0);
    }
#if defined(SIMAD_HAVE_FAISS)
    faiss::IndexFlatL2 peer(static_cast<int>(d));
    peer.add(N, base.data());
#endif
    if (pypi) pypi->send_matrix("base", base.data(), N, d);
    report_pypi_failure();
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
        if (fp32_only) {
          std::vector<float> ed(sd.size());
          std::vector<int64_t> ei(si.size());
          auto fp32_fn = [&] {
            for (int64_t s = 0; s < singles; ++s)
              fp32_only->search(queries.data() + s * nq * d, nq, k, ed.data() + s * nq * k, ei.data() + s * nq * k);
          };
          const PairTiming pt = time_pair_trials([&](double s) { return run_trial(simad_fn, s); },
                                                 [&](double s) { return run_trial(fp32_fn, s); }, 0.0, reps, 0.03,
                                                 pair_time, true);
          const bool same = ed == sd && ei == si;
          std::printf("%-22s | int8 prefilter (%s) against the fp32 scan only, interleaved: %.1f vs %.1f q/s, "
                      "%.2fx +-%.1f%% (%zu pairs); results bit-identical: %s\n", "", index.prefilter_kernel(),
                      double(nq * singles) / pt.simad.median_s(), double(nq * singles) / pt.peer.median_s(),
                      pt.ratio, 100.0 * pt.ratio_ci / pt.ratio, pt.ratios.size(), same ? "yes" : "NO");
        }
        std::printf("%-9lld %-6lld %-5lld | %12.1f | %12.1f %12.1f | %7s | %.4f, %lld, %lld, %.2g\n",
                    static_cast<long long>(N), static_cast<long long>(nq), static_cast<long long>(k), qps(t_simad),
                    qps(t_default), qps(t_tuned), ratio, agree.same_ids, static_cast<long long>(agree.tie_swaps),
                    static_cast<long long>(agree.real_diffs), agree.max_rel);
        if (nq == 1)
          std::printf("%-22s | latency ms: simad %.2f, faiss default %.2f, tuned %.2f\n", "", 1e3 * t_simad,
                      1e3 * t_default, 1e3 * t_tuned);
        std::fflush(stdout);
        if (pypi) {
          // Agreement from one untimed call (it also warms the peer up); then interleaved trials.
          std::vector<float> pd;
          std::vector<int64_t> pi;
          const bool got = pypi->results(nq, k, singles, pd, pi);
          const Agreement pa = got ? compare(sd, si, pd, pi) : Agreement{};
          auto simad_trial = [&](double s) { return pypi->ok() ? run_trial(simad_fn, s) : Trial{pair_time, 1}; };
          auto peer_trial = [&](double s) {
            const Trial t = pypi->ok() ? pypi->run(nq, k, singles, s) : Trial{};
            return t.calls > 0 ? t : Trial{pair_time, 1};  // a failed peer ends the loop; reported below
          };
          const PairTiming pt = time_pair_trials(simad_trial, peer_trial, 0.0, reps, 0.03, pair_time, false);
          if (got && pypi->ok()) {
            const double ts = pt.simad.median_s() / double(singles), tp = pt.peer.median_s() / double(singles);
            std::printf("%-22s | faiss-cpu (PyPI), interleaved: simad %.1f q/s, faiss %.1f q/s, ratio %.2fx +-%.1f%% "
                        "(%zu pairs) | %.4f, %lld, %lld, %.2g\n", "", qps(ts), qps(tp), pt.ratio,
                        100.0 * pt.ratio_ci / pt.ratio, pt.ratios.size(), pa.same_ids,
                        static_cast<long long>(pa.tie_swaps), static_cast<long long>(pa.real_diffs), pa.max_rel);
            if (nq == 1)
              std::printf("%-22s | latency ms: simad %.2f, faiss-cpu (PyPI) %.2f\n", "", 1e3 * ts, 1e3 * tp);
          }
          report_pypi_failure();
          std::fflush(stdout);
        }
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
      "x k. ratio = best Debian FAISS time / simad time. Under each row, when installed, FAISS from PyPI\n"
      "(scripts/install-bench-peers) timed interleaved with simad: ratio = median over trial pairs of\n"
      "faiss-cpu time / simad time, +- its ~95% confidence half-width. Needs ~2.6 GB of memory at N=1M.\n"
      "The PyPI peer's Python: --faiss-python, else SIMAD_FAISS_PYTHON, else\n"
      "${XDG_CACHE_HOME:-$HOME/.cache}/simad/peers-venv/bin/python.\n"
      "Examples:\n"
      "  simad bench search --quick\n"
      "  simad bench search --threads 2\n"
      "  scripts/install-bench-peers && simad bench search --quick");
  cmd->add_flag("--quick", opt->quick, "N=100k and k=10 only");
  cmd->add_option("--threads", opt->threads, "Threads for simad and FAISS (default: SIMAD_NUM_THREADS, else all cores)")
      ->type_name("N")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--max-n", opt->max_n, "Largest N: rows at 100k and 1M up to it; below 100k, rows at N (a smoke run)")
      ->type_name("N")
      ->check(CLI::Range(int64_t(100), int64_t(1) << 40));
  cmd->add_option("--repeats", opt->repeats,
                  "Timed calls per row (median; 1 at N=1M, nq=1000); at least as many interleaved pairs with the "
                  "PyPI peer")
      ->type_name("R")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--faiss-python", opt->faiss_python,
                  "Python with faiss-cpu and numpy for the PyPI FAISS peer (default: SIMAD_FAISS_PYTHON, else the "
                  "venv of scripts/install-bench-peers)")
      ->type_name("PATH");
  cmd->callback([opt] { run_search_bench(*opt); });
}

}  // namespace

static const RegisterBenchSuite kBenchSearch{10, "search", &register_bench_search};

}  // namespace simad::cli
