// tools/simad/machine.hpp: what every benchmark prints beside its numbers: the CPU model, the core
// count, the load (a busy machine makes every row noisy) and the measured fp32 FMA peak (GEMM rows
// print their share of it).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
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
// generic): the best of 3 runs of ~0.1 s, all threads at once, as a GEMM uses them.
inline double measured_fma_peak(int threads, simad::cpu::Isa isa) {
  if (isa == simad::cpu::Isa::generic) return 0.0;
  const int lanes = isa == simad::cpu::Isa::avx512 ? 16 : 8;
  const int64_t iters = 40'000'000;  // 16 FMAs each: ~0.1 s at 2 FMAs a cycle
  double best = 0.0;
  for (int run = 0; run < 3; ++run) {
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

}  // namespace simad::cli
