// tools/simad/machine.hpp: what every benchmark prints beside its numbers: the CPU model, the core
// count, the load (a busy machine makes every row noisy) and the measured fp32 FMA peak (GEMM rows
// print their share of it).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/ops/cpu/sgemm_tiles.hpp"  // SIMAD_TARGET_AVX512, SIMAD_TARGET_AVX2

namespace simad::cli {

struct Machine {
  std::string cpu = "unknown CPU";
  int cores = 0;
};

// The 1-minute load average (-1 if unknown): a busy machine makes every row noisy.
inline double load_average() {
  std::ifstream in("/proc/loadavg");
  double load = -1.0;
  if (!(in >> load)) load = -1.0;
  return load;
}

inline Machine read_machine() {
  Machine m;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (key == "processor") ++m.cores;
    else if (key == "model name" && m.cpu == "unknown CPU") m.cpu = value;
  }
  if (m.cores == 0) m.cores = int(std::thread::hardware_concurrency());
  return m;
}

// 16 independent FMA chains per thread (more than FMA latency x ports on any current x86), so the
// loop runs at the FMA units' throughput; the result is kept so the loop is not optimised away.
template <int Lanes>
float fma_chains(int64_t iters);
template <>
SIMAD_TARGET_AVX512 inline float fma_chains<16>(int64_t iters) {
  __m512 acc[16];
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(float(i));
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  for (int i = 1; i < 16; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  float out[16];  // not _mm512_reduce_add_ps: GCC 12 warns inside it (-Wuninitialized)
  _mm512_storeu_ps(out, acc[0]);
  return out[0] + out[15];
}
template <>
SIMAD_TARGET_AVX2 inline float fma_chains<8>(int64_t iters) {
  __m256 acc[16];
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
  for (int i = 0; i < 16; ++i) acc[i] = _mm256_set1_ps(float(i));
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  float out[8];
  for (int i = 1; i < 16; ++i) acc[0] = _mm256_add_ps(acc[0], acc[i]);
  _mm256_storeu_ps(out, acc[0]);
  return out[0] + out[7];
}

// The fp32 FMA peak in GFLOP/s of `threads` threads at ISA level `isa` (avx512 or avx2; 0 for
// generic): the best of 6 runs of 0.05-0.1 s, all threads at once, as a GEMM uses them. Six short runs
// rather than three long ones: on the project's 2-core VM the first 0.1-0.3 s after an idle spell
// sometimes ran at half the rate (one vCPU not yet running alongside the other).
inline double measured_fma_peak(int threads, simad::cpu::Isa isa) {
  if (isa == simad::cpu::Isa::generic) return 0.0;
  const int lanes = isa == simad::cpu::Isa::avx512 ? 16 : 8;
  const int64_t iters = 20'000'000;  // 16 FMAs each: 0.05 s at 2 FMAs a cycle at 3 GHz
  double best = 0.0;
  for (int run = 0; run < 6; ++run) {
    std::vector<std::thread> pool;
    std::vector<float> sink(size_t(std::max(threads, 1)));  // each thread's result: the work is not dead
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { sink[size_t(t)] = lanes == 16 ? fma_chains<16>(iters) : fma_chains<8>(iters); });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(threads) * double(iters) * 16.0 * lanes * 2.0 / s * 1e-9);
  }
  return best;
}

// "CPU model, N cores, load L": the machine line of every benchmark (load: the caller's reading, if it
// keeps one for its JSON).
inline std::string machine_summary(const Machine& m, double load = load_average()) {
  std::string s = m.cpu + ", " + std::to_string(m.cores) + " cores";
  if (load >= 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, ", load %.2f%s", load, load > 0.5 * m.cores ? ": busy, expect noisy rows" : "");
    s += buf;
  }
  return s;
}

// The FMA peak of a suite that reports GFLOP/s: measured before its rows and again after them. A VM's
// neighbours move it between runs and within one (`simad bench` read 185 to 234 GFLOP/s on one 2-core VM
// in one afternoon), so a suite prints both readings, and says so when they differ by more than 10%. Rows
// printed as they finish (darknet, attention) give their share of the first reading; the kernel table,
// printed at the end, of the higher one (best()), so a slow start cannot inflate its shares.
struct FmaPeak {
  int threads = 0;
  simad::cpu::Isa isa = simad::cpu::Isa::generic;
  double before = 0.0, after = 0.0;  // GFLOP/s; 0: not measured (generic ISA, or not yet)

  static FmaPeak measure_before(int threads, simad::cpu::Isa isa) {
    FmaPeak p;
    p.threads = threads, p.isa = isa;
    p.before = measured_fma_peak(threads, isa);
    return p;
  }
  void measure_after() { after = measured_fma_peak(threads, isa); }
  bool measured() const { return before > 0; }
  double share(double gflops) const { return before > 0 ? gflops / before : 0.0; }
  double best() const { return std::max(before, after); }
  // "fp32 FMA 229 GFLOP/s measured on 2 threads (avx512: ...)"
  std::string text() const {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "fp32 FMA %.0f GFLOP/s measured on %d thread%s (%s: 16 independent FMA chains per thread)", before,
                  threads, threads == 1 ? "" : "s", simad::cpu::isa_name(isa));
    return buf;
  }
  // After the rows: the second reading, and a warning when the two disagree.
  std::string after_text() const {
    char buf[256];
    const bool drifted = after > 1.1 * before || before > 1.1 * after;
    std::snprintf(buf, sizeof buf, "fp32 FMA peak after the rows %.0f GFLOP/s (before: %.0f)%s", after, before,
                  drifted ? ": the machine's speed changed during the run, the shares of the peak are less certain"
                          : "");
    return buf;
  }
};

}  // namespace simad::cli
