// tools/simad/cmd_bench.cpp: `simad bench`, simad's CPU kernels timed beside their peers in one
// table: GEMM (simad's own, ops/cpu/sgemm.hpp) against OpenBLAS' cblas_sgemm called directly (same
// buffers, same thread count), with each row's share of the measured FMA peak,
// softmax and layernorm against plain single-threaded loops (benchmarks/naive_ops.hpp; there is no
// CPU library peer for them yet, and the table says so).
//
// The harness is built for noisy shared machines (2 cores shared with compilers): each row warms
// both sides up, then alternates short timed trials of simad and of the peer (pairs A B or B A in
// random order; a trial calls its side for ~5 ms, at least once), so load hits both sides alike.
// Each pair gives one ratio (peer time / simad time per call); the row's simad/peer is their
// median, printed with a ~95% confidence half-width, and trials go on past --min-time until that is
// tight (or a time cap). Rates are each side's median trial (best trials are in --json). Before
// timing, one call of each side is compared with the other, so a wrong kernel cannot produce a
// fast-looking row unnoticed.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <regex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench_timing.hpp"
#include "commands.hpp"
#include "machine.hpp"
#include "naive_ops.hpp"
#include "simad/core/cpu_features.hpp"
#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/gemm.hpp"
#include "simad/ops/layernorm.hpp"
#include "simad/ops/softmax.hpp"

// `simad bench --cuda`: only the real-CUDA build links simad::kernels into the CLI (tools/simad/CMakeLists.txt
// defines SIMAD_BENCH_CUDA then); elsewhere --cuda reports that there is no CUDA device.
#if defined(SIMAD_BENCH_CUDA)
#include "simad/cuda/kernels/gemm.hpp"
#include "simad/cuda/runtime.hpp"
#endif

#ifndef SIMAD_VERSION
#define SIMAD_VERSION "unknown"
#endif

namespace simad::cli {
namespace {

using simad::Tensor;

struct BenchOptions {
  bool quick = false;
  std::string json_path;
  int threads = 0;        // 0: simad's default (SIMAD_NUM_THREADS, else all cores)
  std::string filter;     // regex searched in "op shape"
  double min_time = 0.0;  // seconds per side per row; 0: 0.3 with --quick, else 1
  bool cuda = false;      // --cuda: simad's tiled CUDA GEMM vs cuBLAS instead of the CPU table
  std::string isa;        // --isa: cap simad's CPU kernels at this level (generic, avx2, avx512)
};

template <typename... Args>
std::string format(const char* fmt, Args... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

// ------------------------------------------------------------------------------------------------
// The rows

struct Prepared {
  std::function<void()> simad, peer;
  double max_abs_diff = 0.0, max_abs_ref = 0.0;  // one call of each side, from the same inputs
};

struct Case {
  std::string op, shape, unit, peer_name;
  bool naive_peer = false;
  bool uses_blas = false;
  double tolerance = 1e-4;  // max |simad - peer| / max(1, max |peer|) before the row is flagged
  double work = 0.0;        // FLOP (GFLOP/s rows) or bytes (GB/s rows) of one call
  std::function<Prepared()> prepare;
};

Tensor<float> random_tensor(int64_t n, uint64_t stream, double lo = -1.0, double hi = 1.0) {
  Tensor<float> t = Tensor<float>::empty({n});
  simad::Rng(20261121, stream).fill_uniform(t.span(), lo, hi);
  return t;
}

void compare(Prepared& p, const Tensor<float>& got, const std::vector<float>& want) {
  const float* g = got.data();
  for (size_t i = 0; i < want.size(); ++i) {
    p.max_abs_diff = std::max(p.max_abs_diff, double(std::fabs(g[i] - want[i])));
    if (std::isnan(g[i]) != std::isnan(want[i])) p.max_abs_diff = INFINITY;
    p.max_abs_ref = std::max(p.max_abs_ref, double(std::fabs(want[i])));
  }
}
std::vector<float> copy_of(const Tensor<float>& t) { return {t.data(), t.data() + t.numel()}; }
void zero(const Tensor<float>& t) { t.fill(0.0f); }

constexpr const char* kNaive = "naive loop, 1 thread*";

// C (M, N) = A (M, K) op(B); NT: op(B) = B^T with B stored (N, K), as a linear layer's weight.
// bf16: simad's bf16 GEMM (AMX or AVX512-BF16; inputs rounded to bf16, fp32 sums) against OpenBLAS fp32.
Case gemm_case(int64_t M, int64_t N, int64_t K, bool trans_b, bool bf16 = false) {
  Case c;
  c.op = bf16 ? "gemm bf16" : "gemm";
  c.shape = format("%ldx%ldx%ld%s", long(M), long(N), long(K), trans_b ? " NT" : "");
  c.unit = "GFLOP/s";
  c.peer_name = "OpenBLAS cblas_sgemm";
  c.uses_blas = true;
  // Two fp32 GEMMs summing in different orders: a few ulps of the largest value. bf16 inputs: ~2^-9
  // relative per product, ~sqrt(K) 2^-9 |typical product| summed.
  c.tolerance = bf16 ? 1e-2 : 1e-5;
  c.work = 2.0 * double(M) * double(N) * double(K);
  c.prepare = [=] {
    struct Buffers {
      Tensor<float> A, B, C;
    };
    auto b = std::make_shared<Buffers>(Buffers{random_tensor(M * K, 1), random_tensor(K * N, 2),
                                               Tensor<float>::zeros({M * N})});
    const int64_t ldb = trans_b ? K : N;
    Prepared p;
    p.simad = [=] {
      if (bf16)
        simad::ops::cpu::gemm_bf16(false, trans_b, M, N, K, 1.0f, b->A.data(), K, b->B.data(), ldb, 0.0f,
                                   b->C.data(), N);
      else
        simad::ops::gemm<float>(false, trans_b, M, N, K, 1.0f, b->A.data(), K, b->B.data(), ldb, 0.0f, b->C.data(),
                                N);
    };
    p.peer = [=] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), 1.0f,
                  b->A.data(), int(K), b->B.data(), int(ldb), 0.0f, b->C.data(), int(N));
    };
    p.peer();
    const auto want = copy_of(b->C);
    p.simad();
    compare(p, b->C, want);
    return p;
  };
  return c;
}

// Softmax over N rows of C (attention scores: rows = sequences x heads x queries, C = keys).
Case softmax_case(bool backward, int64_t N, int64_t C) {
  namespace naive = simad::bench::naive;
  Case c;
  c.op = backward ? "softmax_backward" : "softmax_forward";
  c.shape = format("%ldx%ld", long(N), long(C));
  c.unit = "GB/s";
  c.peer_name = kNaive;
  c.naive_peer = true;
  c.work = backward ? naive::softmax_backward_bytes(N, C, sizeof(float))
                    : naive::softmax_forward_bytes(N, C, sizeof(float));
  c.prepare = [=] {
    struct Buffers {
      Tensor<float> inp, out, dout, dinp;
    };
    auto b = std::make_shared<Buffers>(Buffers{random_tensor(N * C, 3, -4.0, 4.0), Tensor<float>::zeros({N * C}),
                                               random_tensor(N * C, 4), Tensor<float>::zeros({N * C})});
    naive::softmax_forward(b->out.data(), b->inp.data(), N, C);
    Prepared p;
    if (!backward) {
      p.simad = [=] { simad::ops::softmax_forward<float>(b->out.data(), b->inp.data(), nullptr, N, C); };
      p.peer = [=] { naive::softmax_forward(b->out.data(), b->inp.data(), N, C); };
      p.peer();
      const auto want = copy_of(b->out);
      p.simad();
      compare(p, b->out, want);
    } else {  // dinp accumulates: zero it before the check; while timing it just keeps growing
      p.simad = [=] { simad::ops::softmax_backward<float>(b->dinp.data(), b->dout.data(), b->out.data(), N, C); };
      p.peer = [=] { naive::softmax_backward(b->dinp.data(), b->dout.data(), b->out.data(), N, C); };
      p.peer();
      const auto want = copy_of(b->dinp);
      zero(b->dinp);
      p.simad();
      compare(p, b->dinp, want);
    }
    return p;
  };
  return c;
}

// LayerNorm over N tokens of C channels.
Case layernorm_case(bool backward, int64_t N, int64_t C) {
  namespace naive = simad::bench::naive;
  Case c;
  c.op = backward ? "layernorm_backward" : "layernorm_forward";
  c.shape = format("%ldx%ld", long(N), long(C));
  c.unit = "GB/s";
  c.peer_name = kNaive;
  c.naive_peer = true;
  c.tolerance = backward ? 1e-3 : 1e-4;  // dweight, dbias sum N rows in float
  c.work = backward ? naive::layernorm_backward_bytes(N, C, sizeof(float))
                    : naive::layernorm_forward_bytes(N, C, sizeof(float));
  c.prepare = [=] {
    struct Buffers {
      Tensor<float> inp, weight, bias, out, mean, rstd, dout, dinp, dweight, dbias;
    };
    auto b = std::make_shared<Buffers>(Buffers{random_tensor(N * C, 5, -2.0, 2.0), random_tensor(C, 6, 0.5, 1.5),
                                               random_tensor(C, 7), Tensor<float>::zeros({N * C}),
                                               Tensor<float>::zeros({N}), Tensor<float>::zeros({N}),
                                               random_tensor(N * C, 8), Tensor<float>::zeros({N * C}),
                                               Tensor<float>::zeros({C}), Tensor<float>::zeros({C})});
    naive::layernorm_forward(b->out.data(), b->mean.data(), b->rstd.data(), b->inp.data(), b->weight.data(),
                             b->bias.data(), N, C);
    Prepared p;
    if (!backward) {
      p.simad = [=] {
        simad::ops::layernorm_forward<float>(b->out.data(), b->mean.data(), b->rstd.data(), b->inp.data(),
                                             b->weight.data(), b->bias.data(), N, C);
      };
      p.peer = [=] {
        naive::layernorm_forward(b->out.data(), b->mean.data(), b->rstd.data(), b->inp.data(), b->weight.data(),
                                 b->bias.data(), N, C);
      };
      p.peer();
      const auto want_out = copy_of(b->out), want_mean = copy_of(b->mean), want_rstd = copy_of(b->rstd);
      zero(b->out);
      p.simad();
      compare(p, b->out, want_out);
      compare(p, b->mean, want_mean);
      compare(p, b->rstd, want_rstd);
    } else {
      p.simad = [=] {
        simad::ops::layernorm_backward<float>(b->dinp.data(), b->dweight.data(), b->dbias.data(), b->dout.data(),
                                              b->inp.data(), b->weight.data(), b->mean.data(), b->rstd.data(), N, C);
      };
      p.peer = [=] {
        naive::layernorm_backward(b->dinp.data(), b->dweight.data(), b->dbias.data(), b->dout.data(), b->inp.data(),
                                  b->weight.data(), b->mean.data(), b->rstd.data(), N, C);
      };
      p.peer();
      const auto want_dinp = copy_of(b->dinp), want_dw = copy_of(b->dweight), want_db = copy_of(b->dbias);
      zero(b->dinp);
      zero(b->dweight);
      zero(b->dbias);
      p.simad();
      compare(p, b->dinp, want_dinp);
      compare(p, b->dweight, want_dw);
      compare(p, b->dbias, want_db);
    }
    return p;
  };
  return c;
}

std::vector<Case> all_cases(bool quick) {
  std::vector<Case> cases;
  if (!quick) {
    cases.push_back(gemm_case(64, 512, 128, true));  // one batch of 64 tokens through a 128 -> 512 linear layer
    for (int64_t n : {256, 512}) cases.push_back(gemm_case(n, n, n, false));
  }
  cases.push_back(gemm_case(1024, 1024, 1024, false));  // the acceptance row: always present
  if (!quick) cases.push_back(gemm_case(2048, 2048, 2048, false));
  cases.push_back(gemm_case(4096, 512, 128, true));  // transformer FFN up-projection, 4096 tokens
  if (!quick) cases.push_back(gemm_case(4096, 128, 512, true));  // and down
  if (simad::ops::cpu::gemm_bf16_available()) {
    cases.push_back(gemm_case(1024, 1024, 1024, false, true));
    if (!quick) {
      cases.push_back(gemm_case(2048, 2048, 2048, false, true));
      cases.push_back(gemm_case(4096, 512, 128, true, true));
    }
  }
  std::vector<std::pair<int64_t, int64_t>> rows_softmax = {{8192, 128}}, rows_layernorm = {{8192, 128}};
  if (!quick) {
    rows_softmax.emplace_back(2048, 1024);
    rows_layernorm.emplace_back(2048, 768);
  }
  for (bool backward : {false, true})
    for (auto [n, c] : rows_softmax) cases.push_back(softmax_case(backward, n, c));
  for (bool backward : {false, true})
    for (auto [n, c] : rows_layernorm) cases.push_back(layernorm_case(backward, n, c));
  return cases;
}

// ------------------------------------------------------------------------------------------------
// Context

std::string rate_text(double v, const std::string& unit) {
  return format(v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, unit.c_str());
}

void run_bench(const BenchOptions& opt) {
  const double min_time = opt.min_time > 0 ? opt.min_time : opt.quick ? 0.3 : 1.0;
  const int min_trials = opt.quick ? 10 : 15;
  const double target = opt.quick ? 0.02 : 0.01;                // +- on simad/peer, relative
  const double max_time = (opt.quick ? 15.0 : 8.0) * min_time;  // per side per row, when noise keeps it wide

  std::vector<Case> cases;
  {
    std::vector<std::string> names;
    const std::regex filter(opt.filter.empty() ? std::string(".") : opt.filter);
    for (Case& c : all_cases(opt.quick)) {
      if (std::find(names.begin(), names.end(), c.op) == names.end()) names.push_back(c.op);
      if (std::regex_search(c.op + " " + c.shape, filter)) cases.push_back(std::move(c));
    }
    if (cases.empty()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw simad::Error("--filter '" + opt.filter + "' matches no benchmark (it is searched in \"op shape\"; ops" +
                         (opt.quick ? " with --quick" : "") + ": " + list + ")");
    }
  }

  std::ofstream json_out;
  if (!opt.json_path.empty()) {  // open now: a bad path fails before minutes of benchmarking
    json_out.open(opt.json_path);
    if (!json_out) throw simad::Error("cannot write the JSON file '" + opt.json_path + "'");
  }

  if (opt.threads > 0) simad::set_num_threads(opt.threads);
  if (!opt.isa.empty()) simad::cpu::set_max_isa(simad::cpu::parse_isa(opt.isa));
  const int threads = simad::num_threads();
  simad::blas::set_threads(threads);  // the peer GEMM runs on exactly the threads simad's gemm uses
  const Machine machine = read_machine();
  const char* coretype_env = std::getenv("OPENBLAS_CORETYPE");
  const char* timeout_env = std::getenv("OPENBLAS_THREAD_TIMEOUT");
  const std::string core = simad::blas::core_name();
  const int blas_threads = simad::blas::threads();

  std::printf("simad bench %s (%s)\n", SIMAD_VERSION, opt.quick ? "quick" : "full");
  const double load = load_average();
  std::printf("machine   %s\n", machine_summary(machine, load).c_str());
  std::printf("threads   simad %d, OpenBLAS %d (core %s; OPENBLAS_CORETYPE %s)\n", threads, blas_threads,
              core.c_str(), coretype_env ? ("= " + std::string(coretype_env)).c_str() : "not set");
  std::printf("          OpenBLAS threads spin %s after a call (OPENBLAS_THREAD_TIMEOUT %s; simad's pool: 100 us)\n",
              timeout_env ? format("2^%s cycles", timeout_env).c_str() : "2^28 cycles",
              timeout_env ? ("= " + std::string(timeout_env)).c_str() : "not set: its default");
  const simad::cpu::Isa isa = simad::cpu::isa();
  const std::string gemm_name = simad::ops::cpu_gemm_name();
  std::printf("gemm      simad: %s%s; CPU best level %s; bf16 rows: %s\n", gemm_name.c_str(),
              simad::ops::cpu::sgemm_available() ? " (ops/cpu/sgemm.hpp)" : "",
              simad::cpu::isa_name(simad::cpu::best_isa()),
              simad::ops::cpu::gemm_bf16_available()
                  ? (std::string("simad ") + simad::ops::cpu::bf16_kernel_name(simad::ops::cpu::bf16_kernel()) +
                     " against OpenBLAS fp32")
                        .c_str()
                  : "none (no AVX512-BF16 or AMX-BF16)");
  // The peak at the level simad's GEMM runs (OpenBLAS's own level may differ: its core name says).
  FmaPeak fma_peak = FmaPeak::measure_before(threads, isa);
  if (fma_peak.measured()) std::printf("peak      %s\n", fma_peak.text().c_str());
  std::printf("timing    simad and peer alternate in short trials, each >= %.2g s and >= %d trials per row, more\n"
              "          (up to %.2g s) until simad/peer is known to +-%.0f%%\n\n",
              min_time, min_trials, max_time, target * 100);
  std::fflush(stdout);

  struct Row {
    const Case* c;
    PairTiming t;
    double rel_diff;
    bool flagged;
  };
  std::vector<Row> rows;
  bool any_naive = false, any_flagged = false, any_noisy = false;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::fprintf(stderr, "[%zu/%zu] %s %s ...", i + 1, cases.size(), c.op.c_str(), c.shape.c_str());
    std::fflush(stderr);
    // OpenBLAS' threads spin for a while after a call: let them park before timing a row that
    // does not use BLAS, so they do not steal its cores.
    if (i > 0 && cases[i - 1].uses_blas && !c.uses_blas) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const Prepared p = c.prepare();
    const double rel_diff = p.max_abs_diff / std::max(1.0, p.max_abs_ref);
    const bool flagged = !(rel_diff <= c.tolerance);
    Row row{&c, time_pair(p.simad, p.peer, min_time, min_trials, target, max_time), rel_diff, flagged};
    std::fprintf(stderr, " %s vs %s: %.2fx +-%.2f (%zu trials%s)\n",
                 rate_text(c.work / row.t.simad.median_s() * 1e-9, c.unit).c_str(),
                 rate_text(c.work / row.t.peer.median_s() * 1e-9, c.unit).c_str(), row.t.ratio, row.t.ratio_ci,
                 row.t.ratios.size(), row.t.converged ? "" : "; noisy: stopped at the time cap");
    if (flagged)
      std::fprintf(stderr, "warning: %s %s: simad and %s differ: max |difference| %.3g (max |value| %.3g)\n",
                   c.op.c_str(), c.shape.c_str(), c.peer_name.c_str(), p.max_abs_diff, p.max_abs_ref);
    any_naive |= c.naive_peer;
    any_flagged |= flagged;
    rows.push_back(std::move(row));
  }

  if (fma_peak.measured()) fma_peak.measure_after();
  const double peak = fma_peak.best();  // the higher reading: a slow start does not inflate the shares

  // The table
  const char* head = "%-19s %-16s %14s %14s  %-22s %10s %-7s %6s\n";
  std::printf(head, "op", "shape", "simad", "peer", "peer name", "simad/peer", "+-95%", "peak");
  std::printf("%s\n", std::string(19 + 1 + 16 + 1 + 14 + 1 + 14 + 2 + 22 + 1 + 10 + 1 + 7 + 1 + 6, '-').c_str());
  nlohmann::json json_rows = nlohmann::json::array();
  for (const Row& r : rows) {
    const Case& c = *r.c;
    const double s = c.work / r.t.simad.median_s() * 1e-9, q = c.work / r.t.peer.median_s() * 1e-9;
    const std::string ratio = format("%.2fx%s", r.t.ratio, r.flagged ? "!" : "");
    const bool flop_row = c.unit == "GFLOP/s" && peak > 0;
    std::printf(head, c.op.c_str(), c.shape.c_str(), rate_text(s, c.unit).c_str(), rate_text(q, c.unit).c_str(),
                c.peer_name.c_str(), ratio.c_str(), format("+-%.2f%s", r.t.ratio_ci, r.t.converged ? "" : "~").c_str(),
                flop_row ? format("%.0f%%", 100.0 * s / peak).c_str() : "");
    any_noisy |= !r.t.converged;
    auto side = [&](const SideTiming& t) {
      return nlohmann::json{{"best", c.work / t.best() * 1e-9},
                            {"median", c.work / t.median_s() * 1e-9},
                            {"best_seconds", t.best()},
                            {"median_seconds", t.median_s()},
                            {"trials", t.per_call.size()},
                            {"calls", t.calls}};
    };
    json_rows.push_back({{"op", c.op},
                         {"shape", c.shape},
                         {"dtype", c.op == "gemm bf16" ? "bf16 in, f32 sums" : "f32"},
                         {"unit", c.unit},
                         {"simad", s},
                         {"peer", q},
                         {"peer_name", c.naive_peer ? std::string("naive") : c.peer_name},
                         {"peer_is_naive", c.naive_peer},
                         {"ratio", r.t.ratio},
                         {"ratio_ci95", r.t.ratio_ci},
                         {"ratio_converged", r.t.converged},
                         {"ratio_of_best", r.t.peer.best() / r.t.simad.best()},
                         {"trials", r.t.ratios.size()},
                         {"work_per_call", c.work},
                         {"simad_share_of_fma_peak", c.unit == "GFLOP/s" && peak > 0 ? nlohmann::json(s / peak)
                                                                                       : nlohmann::json()},
                         {"max_rel_diff", r.rel_diff},
                         {"results_match", !r.flagged},
                         {"simad_timing", side(r.t.simad)},
                         {"peer_timing", side(r.t.peer)}});
  }
  std::printf("\nshape: GEMM MxNxK (C = A B; NT: C = A B^T, B stored NxK like a linear layer's weight; gemm bf16: "
              "inputs rounded to bf16, fp32 sums, against OpenBLAS fp32); "
              "softmax, layernorm NxC (rows x columns). float32.\n");
  std::printf("GB/s: the bytes each op must move once (inputs read, outputs written) over the time of one call.\n");
  if (peak > 0)
    std::printf("peak: simad's median rate over the measured fp32 FMA peak of the same threads, the higher of its\n"
                "  readings before the rows (the 'peak' line) and after them: %s.\n",
                fma_peak.after_text().c_str());
  std::printf("rates: the median trial of each side (best trials in --json). simad/peer: the median over pairs\n"
              "  of adjacent trials of peer time / simad time (load hits both alike), +- its ~95%% confidence\n"
              "  half-width.\n");
  if (any_noisy)
    std::printf("~ the machine was too noisy to reach +-%.0f%% within the time cap.\n", target * 100);
  if (any_naive)
    std::printf("* naive: no CPU library peer for this op yet; the peer is a plain single-threaded loop "
                "(benchmarks/naive_ops.hpp).\n");
  if (any_flagged) std::printf("! simad's result differs from the peer's beyond the row's tolerance (see stderr).\n");
  std::fflush(stdout);

  if (json_out.is_open()) {
    nlohmann::json doc{{"simad_version", SIMAD_VERSION},
                       {"mode", opt.quick ? "quick" : "full"},
                       {"context",
                        {{"cpu", machine.cpu},
                         {"cores", machine.cores},
                         {"load_average_1min_at_start", load},
                         {"simad_threads", threads},
                         {"openblas_threads", blas_threads},
                         {"openblas_core", core},
                         {"simad_gemm", gemm_name},
                         {"cpu_isa", simad::cpu::isa_name(isa)},
                         {"cpu_best_isa", simad::cpu::isa_name(simad::cpu::best_isa())},
                         {"fma_peak_gflops", peak},
                         {"fma_peak_gflops_before_rows", fma_peak.before},
                         {"fma_peak_gflops_after_rows", fma_peak.after},
                         {"OPENBLAS_CORETYPE", coretype_env ? nlohmann::json(coretype_env) : nlohmann::json()},
                         {"OPENBLAS_THREAD_TIMEOUT", timeout_env ? nlohmann::json(timeout_env) : nlohmann::json()},
                         {"min_time_s", min_time},
                         {"min_trials", min_trials},
                         {"filter", opt.filter},
                         {"target_ci", target},
                         {"max_time_s", max_time},
                         {"timing", "simad and peer alternate in short trials (random order per pair); simad, peer: "
                                    "median trial; ratio: median over adjacent pairs of peer_time / simad_time"}}},
                       {"rows", json_rows}};
    json_out << doc.dump(2) << "\n";
    json_out.close();
    if (!json_out) throw simad::Error("writing the JSON file '" + opt.json_path + "' failed");
    std::fprintf(stderr, "wrote %s\n", opt.json_path.c_str());
  }
  if (any_flagged) throw simad::Error("some results differ from the peer's (rows marked '!')");
}

// ------------------------------------------------------------------------------------------------
// simad bench --cuda: simad's tiled SGEMM kernel (kernels/gemm.cu, gemm_tiled) beside cuBLAS sgemm on
// the same device buffers, timed with cudaEvents: the two sides alternate in trials of back-to-back
// calls (~5 ms each, one event pair per trial); each side's rate is its median trial, simad/peer the
// median over pairs of peer_time / simad_time. Never timed under the emulator (no CUDA device there).
#if defined(SIMAD_BENCH_CUDA)
void run_cuda_bench(const BenchOptions& opt) {
  namespace cuda = simad::cuda;
  namespace ck = simad::cuda::kernels;
  if (!cuda::has_cuda_device()) {
    std::printf("no CUDA device\n");
    return;
  }
  int device = 0;
  SIMAD_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  SIMAD_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  const double min_time = opt.min_time > 0 ? opt.min_time : (opt.quick ? 0.3 : 1.0);
  struct Shape3 {
    int64_t M, N, K;
  };
  std::vector<Shape3> shapes = {{512, 512, 512}, {1024, 1024, 1024}, {1000, 1000, 1000}};
  if (!opt.quick) shapes.insert(shapes.end(), {{2048, 2048, 2048}, {4096, 4096, 4096}, {4096, 64, 4096}});
  std::printf("simad bench --cuda %s (%s)\n", SIMAD_VERSION, opt.quick ? "quick" : "full");
  std::printf("device    %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  std::printf("timing    cudaEvents around ~5 ms trials, simad and cuBLAS alternating, >= %.2g s per side per row\n\n",
              min_time);
  const char* head = "%-8s %-16s %14s %14s %-14s %10s\n";
  std::printf(head, "op", "shape", "simad", "peer", "peer name", "simad/peer");
  std::printf("%s\n", std::string(8 + 1 + 16 + 1 + 14 + 1 + 14 + 1 + 14 + 1 + 10, '-').c_str());
  nlohmann::json json_rows = nlohmann::json::array();
  bool any_flagged = false;
  cuda::Stream stream;
  for (const Shape3 sh : shapes) {
    const std::string shape = format("%lldx%lldx%lld", (long long)sh.M, (long long)sh.N, (long long)sh.K);
    if (!opt.filter.empty() && !std::regex_search("gemm " + shape, std::regex(opt.filter))) continue;
    const Tensor<float> A = cuda::to_device(random_tensor(sh.M * sh.K, 1)), B = cuda::to_device(random_tensor(sh.K * sh.N, 2));
    const Tensor<float> C1 = Tensor<float>::empty({sh.M * sh.N}, Device::cuda), C2 = Tensor<float>::empty({sh.M * sh.N}, Device::cuda);
    const std::function<void()> simad_side = [&] {
      ck::gemm_tiled(false, false, sh.M, sh.N, sh.K, 1.0f, A.data(), sh.K, B.data(), sh.N, 0.0f, C1.data(), sh.N, stream);
    };
    const std::function<void()> peer_side = [&] {
      ck::gemm(false, false, sh.M, sh.N, sh.K, 1.0f, A.data(), sh.K, B.data(), sh.N, 0.0f, C2.data(), sh.N, stream);
    };
    // Correctness first: both results on the host.
    simad_side();
    peer_side();
    const Tensor<float> h1 = cuda::to_host(C1, stream), h2 = cuda::to_host(C2, stream);
    double max_diff = 0, max_val = 0;
    for (int64_t i = 0; i < h1.numel(); ++i) {
      max_diff = std::max(max_diff, double(std::fabs(h1.data()[i] - h2.data()[i])));
      max_val = std::max(max_val, double(std::fabs(h2.data()[i])));
    }
    const bool flagged = !(max_diff <= 1e-4 * std::max(1.0, max_val) * std::sqrt(double(sh.K)));
    any_flagged |= flagged;
    // Calls per trial: ~5 ms of the slower side.
    cuda::Event e0, e1;
    const auto time_calls = [&](const std::function<void()>& fn, int calls) {
      e0.record(stream);
      for (int i = 0; i < calls; ++i) fn();
      e1.record(stream);
      return double(cuda::elapsed_ms(e0, e1)) / calls;
    };
    const double one = std::max(time_calls(simad_side, 1), time_calls(peer_side, 1));
    const int calls = std::max(1, int(5.0 / std::max(one, 1e-3)));
    std::vector<double> simad_ms, peer_ms, ratios;
    double spent_simad = 0, spent_peer = 0;
    for (int pair = 0; (spent_simad < min_time * 1e3 || spent_peer < min_time * 1e3 || pair < 5) && pair < 10000; ++pair) {
      const bool simad_first = pair % 2 == 0;
      const double a = time_calls(simad_first ? simad_side : peer_side, calls);
      const double b = time_calls(simad_first ? peer_side : simad_side, calls);
      const double s_ms = simad_first ? a : b, p_ms = simad_first ? b : a;
      simad_ms.push_back(s_ms), peer_ms.push_back(p_ms), ratios.push_back(p_ms / s_ms);
      spent_simad += s_ms * calls, spent_peer += p_ms * calls;
    }
    const double flops = 2.0 * double(sh.M) * double(sh.N) * double(sh.K);
    const double s_gflops = flops / (median(simad_ms) * 1e-3) * 1e-9, p_gflops = flops / (median(peer_ms) * 1e-3) * 1e-9;
    const double ratio = median(ratios);
    std::printf(head, flagged ? "gemm !" : "gemm", shape.c_str(), format("%.1f GFLOP/s", s_gflops).c_str(),
                format("%.1f GFLOP/s", p_gflops).c_str(), "cublas_sgemm", format("%.2fx", ratio).c_str());
    if (flagged)
      std::fprintf(stderr, "warning: gemm %s: simad and cuBLAS differ: max |difference| %.3g (max |value| %.3g)\n",
                   shape.c_str(), max_diff, max_val);
    json_rows.push_back({{"op", "gemm"}, {"shape", shape}, {"simad_gflops", s_gflops}, {"peer_gflops", p_gflops},
                         {"peer", "cublas_sgemm"}, {"simad_over_peer", ratio}, {"trials", ratios.size()},
                         {"calls_per_trial", calls}, {"max_abs_difference", max_diff}, {"flagged", flagged}});
  }
  std::printf("\nshape: GEMM MxNxK, C = A B, row-major float. simad: kernels/gemm.cu gemm_tiled (64x64x16 tiles);\n"
              "peer: cuBLAS cublasSgemm (simad::cuda::kernels::gemm in the real-CUDA build).\n");
  if (!opt.json_path.empty()) {
    std::ofstream json_out(opt.json_path);
    const nlohmann::json doc = {{"context", {{"simad_version", SIMAD_VERSION}, {"device", prop.name},
                                             {"cuda", true}, {"quick", opt.quick}, {"min_time_s", min_time}}},
                                {"rows", json_rows}};
    json_out << doc.dump(2) << "\n";
    json_out.close();
    if (!json_out) throw simad::Error("writing the JSON file '" + opt.json_path + "' failed");
    std::fprintf(stderr, "wrote %s\n", opt.json_path.c_str());
  }
  if (any_flagged) throw simad::Error("some results differ from cuBLAS's (rows marked '!')");
}
#else
void run_cuda_bench(const BenchOptions&) {
  std::printf("no CUDA device (this simad was built without real CUDA: configure with nvcc, SIMAD_CUDA=ON)\n");
}
#endif

}  // namespace

void register_bench(CLI::App& app) {
  auto opt = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time simad's kernels beside their peers and print the table");
  cmd->footer(
      "Prints op | shape | simad | peer | peer name | simad/peer | +-95% | peak. Peers: OpenBLAS cblas_sgemm for GEMM\n"
      "(same buffers, same thread count); a plain single-threaded loop ('naive') for ops with no CPU library peer yet.\n"
      "simad and the peer alternate in short trials; simad/peer is the median of paired ratios. peak: a GEMM row's\n"
      "share of the fp32 FMA peak of the same threads, measured before and after the rows (the higher reading).\n"
      "Progress goes to stderr.\n"
      "Examples:\n"
      "  simad bench --quick\n"
      "  simad bench --filter gemm --threads 1 --json gemm.json");
  cmd->add_flag("--quick", opt->quick, "Fewer shapes, >= 0.3 s per side per row (GEMM 1024x1024x1024 included)");
  cmd->add_option("--json", opt->json_path, "Also write every row and the context as JSON to FILE")
      ->type_name("FILE");
  cmd->add_option("--threads", opt->threads, "Threads for simad and for OpenBLAS (default: SIMAD_NUM_THREADS, else "
                                             "all cores)")
      ->type_name("N")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--filter", opt->filter,
                  "Run only the rows whose \"op shape\" matches REGEX (e.g. gemm, softmax, 'gemm 1024', "
                  "backward)")
      ->type_name("REGEX")
      ->check([](const std::string& s) {
        try {
          std::regex r(s);
        } catch (const std::regex_error& e) {
          return std::string("not a valid regular expression: ") + e.what();
        }
        return std::string();
      });
  cmd->add_option("--min-time", opt->min_time,
                  "Least seconds each side runs per row (default 0.3 with --quick, else 1); a noisy row runs on "
                  "until simad/peer is known to +-2% (quick) / 1%, up to 15x / 8x that")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--isa", opt->isa,
                  "Cap simad's CPU kernels at LEVEL (generic: OpenBLAS runs simad's GEMM too; avx2; avx512), as "
                  "SIMAD_CPU_ISA does: the lower paths timed on a machine that has the higher ones")
      ->type_name("LEVEL")
      ->check(CLI::IsMember({"generic", "avx2", "avx512"}));
  cmd->add_flag("--cuda", opt->cuda,
                "Instead: time simad's tiled CUDA GEMM beside cuBLAS sgemm with cudaEvents (real-CUDA build and a "
                "device; otherwise prints 'no CUDA device' and exits 0)");
  // Suites with their own shapes and peers: `simad bench <suite> --help`.
  add_registered(bench_suite_registry(), *cmd);
  cmd->callback([opt, cmd] {
    if (!cmd->get_subcommands().empty()) return;  // a suite ran instead
    if (opt->cuda) run_cuda_bench(*opt);
    else run_bench(*opt);
  });
}

static const RegisterCommand kBench{90, "bench", &register_bench};

}  // namespace simad::cli
