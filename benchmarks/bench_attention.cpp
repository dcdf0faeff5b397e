// benchmarks/bench_attention.cpp: Google Benchmark for simad's fused CPU attention ops beside the
// unfused composition of simad's own GEMM + softmax ops (benchmarks/unfused_attention.hpp), forward
// and forward + backward, at the models' shapes (256 ads, 32 words, 10 regions, d = 128, 4 heads) and
// at 512 words (16 sequences). Counter GFLOP/s: the useful products (attention 4 B N^2 C forward,
// 12 B N^2 C forward + backward; fusion 6 B N K D (+ 2 B N D^2 with W_f) forward).
//   ./simad_bench_attention --benchmark_filter=attention
// `simad bench attention` prints the same comparison as one table with the ratios and the fraction
// of the measured sgemm peak.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <vector>

#include "simad/core/rng.hpp"
#include "simad/ops/attention.hpp"
#include "simad/ops/fusion_attention.hpp"
#include "unfused_attention.hpp"

namespace {

std::vector<float> random_floats(size_t n, uint64_t stream) {
  std::vector<float> v(n);
  simad::Rng(99, stream).fill_uniform(std::span<float>(v), -1.0, 1.0);
  return v;
}

std::vector<uint8_t> lengths(int64_t B, int64_t N, int64_t min_len) {
  simad::Rng rng(3);
  std::vector<uint8_t> m(size_t(B * N), 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = min_len + int64_t(rng.next_below(uint32_t(N - min_len + 1)));
    for (int64_t i = 0; i < len; ++i) m[size_t(b * N + i)] = 1;
  }
  return m;
}

void set_gflops(benchmark::State& state, double flops) {
  state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: B, N, backward (0/1), fused (0/1); C = 128, NH = 4.
void BM_attention(benchmark::State& state) {
  const int64_t B = state.range(0), N = state.range(1), C = 128, NH = 4;
  const bool backward = state.range(2) != 0, fused = state.range(3) != 0;
  const auto qkv = random_floats(size_t(B * N * 3 * C), 1), dout = random_floats(size_t(B * N * C), 2);
  const auto mask = lengths(B, N, N / 3);
  std::vector<float> out(dout.size()), lse(size_t(B * NH * N)), g(qkv.size());
  simad::bench::UnfusedAttention unfused(B, N, C, NH, mask.data());
  for (auto _ : state) {
    if (fused) {
      simad::ops::attention_forward(out.data(), lse.data(), qkv.data(), mask.data(), B, N, C, NH);
      if (backward)
        simad::ops::attention_backward(g.data(), dout.data(), qkv.data(), out.data(), lse.data(), mask.data(), B, N,
                                       C, NH);
    } else {
      unfused.forward(out.data(), qkv.data());
      if (backward) unfused.backward(g.data(), dout.data(), qkv.data());
    }
    benchmark::ClobberMemory();
  }
  set_gflops(state, (backward ? 12.0 : 4.0) * double(B) * double(N) * double(N) * double(C));
}

// Args: B, N, backward, fused, with W_f; K = 10, D = 128.
void BM_fusion_attention(benchmark::State& state) {
  const int64_t B = state.range(0), N = state.range(1), K = 10, D = 128;
  const bool backward = state.range(2) != 0, fused = state.range(3) != 0, with_w = state.range(4) != 0;
  const auto H = random_floats(size_t(B * N * D), 3), V = random_floats(size_t(B * K * D), 4);
  const auto W = random_floats(size_t(D * D), 5);
  const auto gh = random_floats(H.size(), 6), gv = random_floats(V.size(), 7);
  const auto hm = lengths(B, N, N / 3), vm = lengths(B, K, 1);
  const float* wf = with_w ? W.data() : nullptr;
  std::vector<float> ho(H.size()), vo(V.size()), A(size_t(B * N * K)), P(A.size()), dH(H.size()), dV(V.size()),
      dW(W.size());
  simad::bench::UnfusedFusion unfused(B, N, K, D, hm.data(), vm.data());
  for (auto _ : state) {
    if (fused) {
      simad::ops::fusion_attention_forward(ho.data(), vo.data(), A.data(), P.data(), H.data(), V.data(), wf, hm.data(),
                                           vm.data(), B, N, K, D);
      if (backward)
        simad::ops::fusion_attention_backward(dH.data(), dV.data(), dW.data(), gh.data(), gv.data(), H.data(),
                                              V.data(), wf, A.data(), P.data(), B, N, K, D);
    } else {
      unfused.forward(ho.data(), vo.data(), H.data(), V.data(), wf);
      if (backward) unfused.backward(dH.data(), dV.data(), dW.data(), gh.data(), gv.data(), H.data(), V.data(), wf);
    }
    benchmark::ClobberMemory();
  }
  const double bnkd = double(B) * double(N) * double(K) * double(D), bndd = double(B) * double(N) * double(D * D);
  const double fwd = 6.0 * bnkd + (with_w ? 2.0 * bndd : 0.0), bwd = 12.0 * bnkd + (with_w ? 6.0 * bndd : 0.0);
  set_gflops(state, backward ? fwd + bwd : fwd);
}

void attention_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "N", "bwd", "fused"});
  for (const auto& [B, N] : {std::pair<int64_t, int64_t>{256, 32}, {16, 512}})
    for (int64_t bwd : {0, 1})
      for (int64_t fused : {1, 0}) b->Args({B, N, bwd, fused});
}

void fusion_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "N", "bwd", "fused", "Wf"});
  for (const auto& [B, N] : {std::pair<int64_t, int64_t>{256, 32}, {256, 512}})
    for (int64_t bwd : {0, 1})
      for (int64_t fused : {1, 0}) b->Args({B, N, bwd, fused, 1});
  for (int64_t fused : {1, 0}) b->Args({256, 32, 1, fused, 0});  // ToTYEmb: W_f = I
}

BENCHMARK(BM_attention)->Apply(attention_shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fusion_attention)->Apply(fusion_shapes)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
