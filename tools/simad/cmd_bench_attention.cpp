// tools/simad/cmd_bench_attention.cpp: `simad bench attention`, simad's fused CPU attention and
// fusion attention beside unfused peers (benchmarks/unfused_attention.hpp), forward and forward +
// backward, at the models' shapes (256 ads, 32 words, 10 regions, d = 128, 4 heads) and at 512 words.
// Peers: "ops" composes simad's own GEMM + softmax ops; for fusion with W_f it computes the scores as
// (H W_f) V^T, simad as H (V W_f^T), which is N / K times fewer flops for W_f: different algebra. So
// every fusion row also has "blas", the same algebra as simad (U = V W_f^T) from OpenBLAS cblas_sgemm
// and plain loops. Each row prints both times per call, peer / fused (the speed-up: median of
// interleaved trial pairs, bench_timing.hpp, so machine noise hits both sides alike), the fused
// path's GFLOP/s and that rate as a share of the fp32 FMA peak measured at the start of the run (the
// same threads; machine.hpp), with simad's own GEMM rate at 1024^3 (512^3 with --quick) beside it for
// scale. Before timing, one call of each side is compared with the other (max |difference|), so a
// broken fast path cannot hide.
//   simad bench attention [--quick] [--threads N] [--min-time S]
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
#include <vector>

#include "bench_timing.hpp"
#include "commands.hpp"
#include "machine.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/ops/attention.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/fusion_attention.hpp"
#include "simad/ops/gemm.hpp"
#include "unfused_attention.hpp"

namespace simad::cli {
namespace {

struct AttentionBenchOptions {
  bool quick = false;
  int threads = 0;
  double min_time = 0.0;  // seconds per side per row; 0: 0.2 with --quick, else 1
};

std::vector<float> random_floats(size_t n, uint64_t stream) {
  std::vector<float> v(n);
  Rng(20261122, stream).fill_uniform(std::span<float>(v), -1.0, 1.0);
  return v;
}

struct Timing {
  double fused = 0.0, unfused = 0.0, ratio = 0.0;  // medians: seconds per call, unfused / fused
};

// The shared harness (bench_timing.hpp): interleaved trial pairs until the median ratio is known to
// +-3% or each side ran 4 min_time.
Timing time_fused_unfused(const std::function<void()>& fused, const std::function<void()>& unfused, double min_time) {
  const PairTiming t = time_pair(fused, unfused, min_time, 6, 0.03, 4.0 * min_time);
  return {t.simad.median_s(), t.peer.median_s(), t.ratio};
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

double sgemm_gflops(int64_t n, double seconds) {
  const auto A = random_floats(size_t(n * n), 1), B = random_floats(size_t(n * n), 2);
  std::vector<float> C(size_t(n * n));
  auto fn = [&] { ops::gemm<float>(false, false, n, n, n, 1.0f, A.data(), n, B.data(), n, 0.0f, C.data(), n); };
  run_trial(fn, 0.05);
  double best = 1e30;
  for (int k = 0; k < 5; ++k) {
    const Trial t = run_trial(fn, seconds / 5);
    best = std::min(best, t.seconds / double(t.calls));
  }
  return 2.0 * double(n) * double(n) * double(n) / best * 1e-9;
}

void print_row(const char* op, const std::string& shape, bool backward, const char* peer, const Timing& t,
               double flops, double peak, double diff) {
  const double gf = flops / t.fused * 1e-9;
  std::printf("%-17s %-28s %-8s %-5s %10.3f %10.3f %8.2fx %9.1f %7.1f%% %10.1e\n", op, shape.c_str(),
              backward ? "fwd+bwd" : "fwd", peer, t.fused * 1e3, t.unfused * 1e3, t.ratio, gf, 100.0 * gf / peak,
              diff);
  std::fflush(stdout);
}

// Key lengths of the ads: uniform in [N/3, N], at least 1 (ads are 10-30 words at N = 32).
std::vector<uint8_t> length_mask(int64_t B, int64_t N, int64_t min_len, uint64_t stream) {
  Rng rng(7, stream);
  std::vector<uint8_t> m(size_t(B * N), 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = min_len + int64_t(rng.next_below(uint32_t(N - min_len + 1)));
    for (int64_t i = 0; i < len; ++i) m[size_t(b * N + i)] = 1;
  }
  return m;
}

void bench_attention(int64_t B, int64_t N, int64_t C, int64_t NH, double peak, double min_time) {
  const auto qkv = random_floats(size_t(B * N * 3 * C), 3), dout = random_floats(size_t(B * N * C), 4);
  const auto mask = length_mask(B, N, std::max<int64_t>(1, N / 3), 5);
  std::vector<float> out_f(dout.size()), out_u(dout.size()), lse(size_t(B * NH * N));
  std::vector<float> g_f(qkv.size(), 0.0f), g_u(qkv.size(), 0.0f);
  bench::UnfusedAttention unfused(B, N, C, NH, mask.data());
  ops::attention_forward(out_f.data(), lse.data(), qkv.data(), mask.data(), B, N, C, NH);
  unfused.forward(out_u.data(), qkv.data());
  const double diff_fwd = max_abs_diff(out_f, out_u);
  ops::attention_backward(g_f.data(), dout.data(), qkv.data(), out_f.data(), lse.data(), mask.data(), B, N, C, NH);
  unfused.backward(g_u.data(), dout.data(), qkv.data());
  const double diff_bwd = max_abs_diff(g_f, g_u);
  const std::string shape = "B=" + std::to_string(B) + " N=" + std::to_string(N) + " C=" + std::to_string(C) +
                            " H=" + std::to_string(NH);
  const double fwd_flops = 4.0 * double(B) * double(N) * double(N) * double(C);  // Q K^T and P V
  auto fused_fwd = [&] { ops::attention_forward(out_f.data(), lse.data(), qkv.data(), mask.data(), B, N, C, NH); };
  auto unfused_fwd = [&] { unfused.forward(out_u.data(), qkv.data()); };
  print_row("attention", shape, false, "ops", time_fused_unfused(fused_fwd, unfused_fwd, min_time), fwd_flops, peak,
            diff_fwd);
  auto fused_both = [&] {
    fused_fwd();
    ops::attention_backward(g_f.data(), dout.data(), qkv.data(), out_f.data(), lse.data(), mask.data(), B, N, C, NH);
  };
  auto unfused_both = [&] {
    unfused_fwd();
    unfused.backward(g_u.data(), dout.data(), qkv.data());
  };
  // Backward: dP, dV, dQ, dK products (2 N^2 hs each per head) on top of the forward's.
  print_row("attention", shape, true, "ops", time_fused_unfused(fused_both, unfused_both, min_time), 3.0 * fwd_flops,
            peak, diff_bwd);
}

void bench_fusion(int64_t B, int64_t N, int64_t K, int64_t D, bool with_w, double peak, double min_time) {
  const auto H = random_floats(size_t(B * N * D), 6), V = random_floats(size_t(B * K * D), 7);
  auto W = random_floats(size_t(D * D), 8);
  for (auto& w : W) w *= 0.1f;
  const auto gh = random_floats(H.size(), 9), gv = random_floats(V.size(), 10);
  const auto hm = length_mask(B, N, std::max<int64_t>(1, N / 3), 11), vm = length_mask(B, K, 1, 12);
  const float* wf = with_w ? W.data() : nullptr;
  std::vector<float> ho_f(H.size()), vo_f(V.size()), ho_u(H.size()), vo_u(V.size()), A(size_t(B * N * K)), P(A.size());
  std::vector<float> dH_f(H.size()), dV_f(V.size()), dW_f(W.size()), dH_u(H.size()), dV_u(V.size()), dW_u(W.size());
  std::vector<float> ho_b(H.size()), vo_b(V.size()), dH_b(H.size()), dV_b(V.size()), dW_b(W.size());
  bench::UnfusedFusion unfused(B, N, K, D, hm.data(), vm.data());
  bench::BlasFusion same(B, N, K, D, hm.data(), vm.data());
  auto fused_fwd = [&] {
    ops::fusion_attention_forward(ho_f.data(), vo_f.data(), A.data(), P.data(), H.data(), V.data(), wf, hm.data(),
                                  vm.data(), B, N, K, D);
  };
  auto unfused_fwd = [&] { unfused.forward(ho_u.data(), vo_u.data(), H.data(), V.data(), wf); };
  auto fused_bwd = [&] {
    ops::fusion_attention_backward(dH_f.data(), dV_f.data(), dW_f.data(), gh.data(), gv.data(), H.data(), V.data(), wf,
                                   A.data(), P.data(), B, N, K, D);
  };
  auto unfused_bwd = [&] {
    unfused.backward(dH_u.data(), dV_u.data(), dW_u.data(), gh.data(), gv.data(), H.data(), V.data(), wf);
  };
  auto same_fwd = [&] { same.forward(ho_b.data(), vo_b.data(), H.data(), V.data(), wf); };
  auto same_bwd = [&] {
    same.backward(dH_b.data(), dV_b.data(), dW_b.data(), gh.data(), gv.data(), H.data(), V.data(), wf);
  };
  fused_fwd();
  unfused_fwd();
  same_fwd();
  const double diff_fwd = std::max(max_abs_diff(ho_f, ho_u), max_abs_diff(vo_f, vo_u));
  const double diff_fwd_b = std::max(max_abs_diff(ho_f, ho_b), max_abs_diff(vo_f, vo_b));
  fused_bwd();
  unfused_bwd();
  same_bwd();
  const double diff_bwd = std::max({max_abs_diff(dH_f, dH_u), max_abs_diff(dV_f, dV_u), max_abs_diff(dW_f, dW_u)});
  const double diff_bwd_b =
      std::max({max_abs_diff(dH_f, dH_b), max_abs_diff(dV_f, dV_b), with_w ? max_abs_diff(dW_f, dW_b) : 0.0});
  const std::string shape = "B=" + std::to_string(B) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                            " D=" + std::to_string(D) + (with_w ? " Wf" : "");
  // The fused path's products: S, H~, V~ (6 B N K D) forward; dA, dP, dH, dV, dU and the rest (12 B N K D)
  // backward; with W_f, U = V W_f^T (2 B K D^2) in each pass plus dU W_f and dU^T V (4 B K D^2).
  const double bnkd = double(B) * double(N) * double(K) * double(D), bkdd = double(B) * double(K) * double(D * D);
  const double fwd_flops = 6.0 * bnkd + (with_w ? 2.0 * bkdd : 0.0);
  const double bwd_flops = 12.0 * bnkd + (with_w ? 6.0 * bkdd : 0.0);  // incl. recomputing U
  print_row("fusion_attention", shape, false, "ops", time_fused_unfused(fused_fwd, unfused_fwd, min_time), fwd_flops,
            peak, diff_fwd);
  print_row("fusion_attention", shape, false, "blas", time_fused_unfused(fused_fwd, same_fwd, min_time), fwd_flops,
            peak, diff_fwd_b);
  auto fused_both = [&] {
    fused_fwd();
    fused_bwd();
  };
  auto unfused_both = [&] {
    unfused_fwd();
    unfused_bwd();
  };
  auto same_both = [&] {
    same_fwd();
    same_bwd();
  };
  print_row("fusion_attention", shape, true, "ops", time_fused_unfused(fused_both, unfused_both, min_time),
            fwd_flops + bwd_flops, peak, diff_bwd);
  print_row("fusion_attention", shape, true, "blas", time_fused_unfused(fused_both, same_both, min_time),
            fwd_flops + bwd_flops, peak, diff_bwd_b);
}

void run(const AttentionBenchOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  const double min_time = o.min_time > 0 ? o.min_time : (o.quick ? 0.2 : 1.0);
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  std::printf("simad bench attention: %s, %d simad threads, OpenBLAS core type %s (OPENBLAS_CORETYPE=%s)\n",
              machine_summary(read_machine()).c_str(), num_threads(), blas::core_name().c_str(), core ? core : "unset");
  FmaPeak fma_peak = FmaPeak::measure_before(num_threads(), cpu::isa());
  // Without AVX2 there is no FMA peak to measure: the shares are then of simad's GEMM rate.
  const int64_t n = o.quick ? 512 : 1024;
  const double sgemm = sgemm_gflops(n, o.quick ? 0.2 : 1.0);
  const double peak = fma_peak.measured() ? fma_peak.before : sgemm;
  if (fma_peak.measured()) std::printf("peak: %s\n", fma_peak.text().c_str());
  std::printf("sgemm (ops::gemm %lldx%lldx%lld, %s): %.1f GFLOP/s", (long long)n, (long long)n, (long long)n,
              ops::cpu_gemm_name().c_str(), sgemm);
  if (fma_peak.measured()) std::printf(", %.0f%% of the peak\n", 100.0 * sgemm / peak);
  else std::printf(" (no FMA peak at this ISA level: 'of peak' below is of this rate)\n");
  std::printf("peers: ops = unfused composition of simad's own ops (%s GEMM, simad softmax); fusion with W_f\n"
              "       as (H W_f) V^T: 2 B N D^2 flops for W_f, a different algebra from simad's H (V W_f^T);\n"
              "       blas = fusion in simad's algebra (U = V W_f^T, 2 B K D^2) from OpenBLAS %s cblas_sgemm and\n"
              "       plain loops (dense: padding computed, then masked)\n",
              ops::cpu_gemm_name().c_str(), blas::core_name().c_str());
  std::printf("%-17s %-28s %-8s %-5s %10s %10s %9s %9s %8s %10s\n", "op", "shape", "pass", "peer", "fused ms",
              "peer ms", "speedup", "GFLOP/s", "of peak", "max|diff|");
  const int64_t B = o.quick ? 64 : 256, B512 = o.quick ? 4 : 16;
  bench_attention(B, 32, 128, 4, peak, min_time);
  bench_attention(B512, 512, 128, 4, peak, min_time);
  bench_fusion(B, 32, 10, 128, true, peak, min_time);
  bench_fusion(B, 32, 10, 128, false, peak, min_time);
  bench_fusion(B, 512, 10, 128, true, peak, min_time);
  std::printf("speedup = peer time / fused time (median of interleaved trial pairs); GFLOP/s counts the fused\n"
              "path's useful products (attention: 4 B N^2 C forward, 12 B N^2 C forward+backward; fusion: 6 B N K D\n"
              "forward, 18 B N K D forward+backward, plus 2 and 8 B K D^2 with W_f, which goes through\n"
              "U = V W_f^T); of peak: that rate over the measured fp32 FMA peak.\n");
  if (fma_peak.measured()) {
    fma_peak.measure_after();
    std::printf("peak: %s\n", fma_peak.after_text().c_str());
  }
}

void register_bench_attention(CLI::App& bench) {
  auto opts = std::make_shared<AttentionBenchOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "attention", "Fused attention and fusion attention vs the unfused GEMM + softmax composition (CPU)");
  cmd->add_flag("--quick", opts->quick, "Smaller batches and shorter timing (a smoke run)");
  cmd->add_option("--threads", opts->threads, "simad threads (default: SIMAD_NUM_THREADS, else all cores)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--min-time", opts->min_time, "Seconds per side per row (default 1, 0.2 with --quick)")
      ->check(CLI::Range(0.0, 600.0));
  cmd->callback([opts] { run(*opts); });
}

const RegisterBenchSuite kBenchAttention{20, "attention", &register_bench_attention};

}  // namespace
}  // namespace simad::cli
