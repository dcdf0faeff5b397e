// benchmarks/bench_ops.cpp: Google Benchmark for simad's CPU ops, each beside its peer.
//   GEMM: simad::ops::gemm<float> vs cblas_sgemm called directly (OpenBLAS, same buffers, same
//         thread count); counter GFLOP/s (2 M N K per call).
//   softmax, layernorm (forward and backward): simad vs the naive single-threaded loops of
//         naive_ops.hpp (no external CPU peer yet); counter GB/s (bytes the op must move once).
// Thread count: SIMAD_NUM_THREADS (else all cores) for simad, and OpenBLAS is set to the same.
// The context lines print both thread counts and OpenBLAS' core type.
//   ./simad_bench_ops --benchmark_filter=gemm --benchmark_format=json
// Rates are over real (wall) time: the ops run multi-threaded. The console shows the counters as
// "GFLOP=123/s" and "GB=4.5/s" (Google Benchmark appends "/s" to rate counters); in JSON they are
// "GFLOP" and "GB", per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "naive_ops.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/gemm.hpp"
#include "simad/ops/layernorm.hpp"
#include "simad/ops/softmax.hpp"

namespace {

using simad::Tensor;

Tensor<float> random_tensor(int64_t n, uint64_t stream, double lo = -1.0, double hi = 1.0) {
  Tensor<float> t = Tensor<float>::empty({n});
  simad::Rng(1234, stream).fill_uniform(t.span(), lo, hi);
  return t;
}

void set_gflops(benchmark::State& state, double flops) {
  state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
void set_gbytes(benchmark::State& state, double bytes) {
  state.counters["GB"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ------------------------------------------------------------------------------------------------
// GEMM: C (M, N) = A (M, K) op(B); op(B) = B^T (B stored (N, K), a linear layer's weight) if tB.
struct GemmBuffers {
  int64_t M, N, K;
  bool tb;
  Tensor<float> A, B, C;
  explicit GemmBuffers(const benchmark::State& state)
      : M(state.range(0)), N(state.range(1)), K(state.range(2)), tb(state.range(3) != 0),
        A(random_tensor(M * K, 1)), B(random_tensor(K * N, 2)), C(Tensor<float>::zeros({M * N})) {}
  int64_t ldb() const { return tb ? K : N; }
};

void BM_gemm_simad(benchmark::State& state) {
  GemmBuffers g(state);
  for (auto _ : state) {
    simad::ops::gemm<float>(false, g.tb, g.M, g.N, g.K, 1.0f, g.A.data(), g.K, g.B.data(), g.ldb(), 0.0f,
                            g.C.data(), g.N);
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * double(g.M) * double(g.N) * double(g.K));
}

void BM_gemm_openblas(benchmark::State& state) {
  GemmBuffers g(state);
  simad::blas::set_threads(simad::num_threads());  // the same thread count simad's gemm uses
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans, int(g.M), int(g.N), int(g.K), 1.0f,
                g.A.data(), int(g.K), g.B.data(), int(g.ldb()), 0.0f, g.C.data(), int(g.N));
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * double(g.M) * double(g.N) * double(g.K));
}

void gemm_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "tB"});
  for (int64_t n : {256, 512, 1024}) b->Args({n, n, n, 0});
  b->Args({4096, 512, 128, 1});  // transformer FFN up-projection: 4096 tokens, d 128 -> 512
  b->Args({4096, 128, 512, 1});  // and down
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_gemm_simad)->Apply(gemm_shapes);
BENCHMARK(BM_gemm_openblas)->Apply(gemm_shapes);

// ------------------------------------------------------------------------------------------------
// softmax over rows: N rows of C (attention scores: rows = batch * heads * queries, C = keys).
struct SoftmaxBuffers {
  int64_t N, C;
  Tensor<float> inp, out, dout, dinp;
  explicit SoftmaxBuffers(const benchmark::State& state)
      : N(state.range(0)), C(state.range(1)), inp(random_tensor(N * C, 3, -4.0, 4.0)),
        out(Tensor<float>::zeros({N * C})), dout(random_tensor(N * C, 4)), dinp(Tensor<float>::zeros({N * C})) {
    simad::bench::naive::softmax_forward(out.data(), inp.data(), N, C);
  }
};

template <bool kSimad>
void BM_softmax_forward(benchmark::State& state) {
  SoftmaxBuffers s(state);
  for (auto _ : state) {
    if constexpr (kSimad) simad::ops::softmax_forward<float>(s.out.data(), s.inp.data(), nullptr, s.N, s.C);
    else simad::bench::naive::softmax_forward(s.out.data(), s.inp.data(), s.N, s.C);
    benchmark::ClobberMemory();
  }
  set_gbytes(state, simad::bench::naive::softmax_forward_bytes(s.N, s.C, sizeof(float)));
}

template <bool kSimad>
void BM_softmax_backward(benchmark::State& state) {
  SoftmaxBuffers s(state);
  for (auto _ : state) {
    if constexpr (kSimad) simad::ops::softmax_backward<float>(s.dinp.data(), s.dout.data(), s.out.data(), s.N, s.C);
    else simad::bench::naive::softmax_backward(s.dinp.data(), s.dout.data(), s.out.data(), s.N, s.C);
    benchmark::ClobberMemory();
  }
  set_gbytes(state, simad::bench::naive::softmax_backward_bytes(s.N, s.C, sizeof(float)));
}

void softmax_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "C"});
  b->Args({8192, 128});   // 64 sequences x 4 heads x 32 queries, 128 keys
  b->Args({2048, 1024});  // long rows
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_softmax_forward<true>)->Name("BM_softmax_forward_simad")->Apply(softmax_shapes);
BENCHMARK(BM_softmax_forward<false>)->Name("BM_softmax_forward_naive")->Apply(softmax_shapes);
BENCHMARK(BM_softmax_backward<true>)->Name("BM_softmax_backward_simad")->Apply(softmax_shapes);
BENCHMARK(BM_softmax_backward<false>)->Name("BM_softmax_backward_naive")->Apply(softmax_shapes);

// ------------------------------------------------------------------------------------------------
// layernorm over rows: N tokens of C channels.
struct LayernormBuffers {
  int64_t N, C;
  Tensor<float> inp, weight, bias, out, mean, rstd, dout, dinp, dweight, dbias;
  explicit LayernormBuffers(const benchmark::State& state)
      : N(state.range(0)), C(state.range(1)), inp(random_tensor(N * C, 5, -2.0, 2.0)),
        weight(random_tensor(C, 6, 0.5, 1.5)), bias(random_tensor(C, 7)), out(Tensor<float>::zeros({N * C})),
        mean(Tensor<float>::zeros({N})), rstd(Tensor<float>::zeros({N})), dout(random_tensor(N * C, 8)),
        dinp(Tensor<float>::zeros({N * C})), dweight(Tensor<float>::zeros({C})), dbias(Tensor<float>::zeros({C})) {
    simad::bench::naive::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(),
                                           bias.data(), N, C);
  }
};

template <bool kSimad>
void BM_layernorm_forward(benchmark::State& state) {
  LayernormBuffers l(state);
  for (auto _ : state) {
    if constexpr (kSimad)
      simad::ops::layernorm_forward<float>(l.out.data(), l.mean.data(), l.rstd.data(), l.inp.data(), l.weight.data(),
                                           l.bias.data(), l.N, l.C);
    else
      simad::bench::naive::layernorm_forward(l.out.data(), l.mean.data(), l.rstd.data(), l.inp.data(),
                                             l.weight.data(), l.bias.data(), l.N, l.C);
    benchmark::ClobberMemory();
  }
  set_gbytes(state, simad::bench::naive::layernorm_forward_bytes(l.N, l.C, sizeof(float)));
}

template <bool kSimad>
void BM_layernorm_backward(benchmark::State& state) {
  LayernormBuffers l(state);
  for (auto _ : state) {
    if constexpr (kSimad)
      simad::ops::layernorm_backward<float>(l.dinp.data(), l.dweight.data(), l.dbias.data(), l.dout.data(),
                                            l.inp.data(), l.weight.data(), l.mean.data(), l.rstd.data(), l.N, l.C);
    else
      simad::bench::naive::layernorm_backward(l.dinp.data(), l.dweight.data(), l.dbias.data(), l.dout.data(),
                                              l.inp.data(), l.weight.data(), l.mean.data(), l.rstd.data(), l.N,
                                              l.C);
    benchmark::ClobberMemory();
  }
  set_gbytes(state, simad::bench::naive::layernorm_backward_bytes(l.N, l.C, sizeof(float)));
}

void layernorm_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "C"});
  b->Args({8192, 128});  // 256 sequences x 32 tokens, d 128
  b->Args({2048, 768});  // BERT-base width
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_layernorm_forward<true>)->Name("BM_layernorm_forward_simad")->Apply(layernorm_shapes);
BENCHMARK(BM_layernorm_forward<false>)->Name("BM_layernorm_forward_naive")->Apply(layernorm_shapes);
BENCHMARK(BM_layernorm_backward<true>)->Name("BM_layernorm_backward_simad")->Apply(layernorm_shapes);
BENCHMARK(BM_layernorm_backward<false>)->Name("BM_layernorm_backward_naive")->Apply(layernorm_shapes);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  simad::blas::set_threads(simad::num_threads());
  benchmark::AddCustomContext("simad_threads", std::to_string(simad::num_threads()));
  benchmark::AddCustomContext("openblas_threads", std::to_string(simad::blas::threads()));
  benchmark::AddCustomContext("openblas_core", simad::blas::core_name());
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", coretype ? coretype : "(not set)");
  benchmark::AddCustomContext("naive_peer", "plain single-threaded loops (benchmarks/naive_ops.hpp)");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
