// Tests of simad's own fp32 GEMM (include/simad/ops/cpu/sgemm.hpp) on every instruction-set level
// this CPU supports, each forced with cpu::IsaScope (an AVX-512 machine runs the AVX2 tiles too):
// against a naive double triple loop written here, on shapes around the tile (MR, NR), block (KC, MC)
// and column-block (NC) edges, every transpose, padded strides (padding NaN in A and B, a sentinel
// in C's), alpha/beta, beta == 0 with NaN in C. Also the properties the driver promises: the result
// is bit-identical on 1 and 2 threads, and a row of C does not depend on the other rows of A.
// ops::gemm's own tests (test_gemm.cpp) run the default level through the public entry point.
// The bias + leaky epilogue (SgemmEpilogue, ops::gemm_bias_activation) is checked on every kernel too.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/core/dtype.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/cpu/sgemm.hpp"
#include "simad/ops/gemm.hpp"
#include "cpu_levels.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using testing::bf16_kernels;
using testing::same_bits;

namespace {

constexpr float kSentinel = 12345.0f;

struct Problem {
  bool ta = false, tb = false;
  int64_t M = 0, N = 0, K = 0, lda = 0, ldb = 0, ldc = 0;
  float alpha = 1.0f, beta = 0.0f;
  std::vector<float> A, B, C;
};

Problem make_problem(Rng& rng, bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t pad, float alpha,
                     float beta) {
  Problem p;
  p.ta = ta, p.tb = tb, p.M = M, p.N = N, p.K = K, p.alpha = alpha, p.beta = beta;
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  p.lda = a_cols + pad, p.ldb = b_cols + pad, p.ldc = N + pad;
  auto fill = [&](int64_t rows, int64_t cols, int64_t ld) {
    std::vector<float> m(static_cast<size_t>(rows * ld), std::numeric_limits<float>::quiet_NaN());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) m[size_t(r * ld + c)] = float(rng.next_uniform(-1.0, 1.0));
    return m;
  };
  p.A = fill(a_rows, a_cols, p.lda);
  p.B = fill(b_rows, b_cols, p.ldb);
  p.C.assign(static_cast<size_t>(M * p.ldc), kSentinel);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      p.C[size_t(i * p.ldc + j)] =
          beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : float(rng.next_uniform(-1.0, 1.0));
  return p;
}

// Checks C after the call against the double reference: the M x N region within
// (K + 3) 2^-23 (sum_k |a||b| + |beta C| + |bias|) (each product and sum rounds once), padding
// untouched. bf16_inputs: the reference rounds A and B to bf16 first, as the bf16 kernels do
// (products of bf16 values are exact in fp32, so the same bound holds for their fp32 sums). bias
// (per row, or empty) and leaky: the epilogue, act(alpha sum + beta C + bias).
void check_result(const Problem& p, const std::vector<float>& C, const std::string& what, bool bf16_inputs = false,
                  const std::vector<float>& bias = {}, bool leaky = false) {
  auto in = [&](float v) { return bf16_inputs ? double(bf16_to_float(float_to_bf16(v))) : double(v); };
  int64_t bad = 0;
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.ldc; ++j) {
      const float got = C[size_t(i * p.ldc + j)];
      if (j >= p.N) {
        if (std::memcmp(&got, &kSentinel, sizeof got) != 0) ++bad;
        continue;
      }
      double acc = 0, mag = 0;
      for (int64_t k = 0; k < p.K; ++k) {
        const double a = in(p.ta ? p.A[size_t(k * p.lda + i)] : p.A[size_t(i * p.lda + k)]);
        const double b = in(p.tb ? p.B[size_t(j * p.ldb + k)] : p.B[size_t(k * p.ldb + j)]);
        acc += a * b;
        mag += std::fabs(a * b);
      }
      const double c0 = p.beta == 0.0f ? 0.0 : double(p.beta) * double(p.C[size_t(i * p.ldc + j)]);
      const double b0 = bias.empty() ? 0.0 : double(bias[size_t(i)]);
      const double pre = double(p.alpha) * acc + c0 + b0, want = leaky && pre <= 0.0 ? 0.1 * pre : pre;
      const double tol =
          (double(p.K) + 3.0) * 0x1p-23 * (std::fabs(double(p.alpha)) * mag + std::fabs(c0) + std::fabs(b0)) + 1e-30;
      if (!(std::fabs(double(got) - want) <= tol)) {
        if (bad < 3) FAIL_CHECK(what, ": C[", i, ", ", j, "] = ", got, " expected ", want, " (tolerance ", tol, ")");
        ++bad;
      }
    }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " wrong elements; seed ", testing::test_seed());
}

std::vector<float> run(const Problem& p) {
  std::vector<float> C = p.C;
  ops::cpu::sgemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A.data(), p.lda, p.B.data(), p.ldb, p.beta, C.data(), p.ldc);
  return C;
}

}  // namespace

TEST_CASE("ops/sgemm: the CPU features are consistent and SIMAD_CPU_ISA-style caps only lower the level") {
  const cpu::Features& f = cpu::features();
  if (f.avx512) CHECK(f.avx2_fma);
  if (f.avx512_bf16) CHECK(f.avx512);
  CHECK(int(cpu::isa()) <= int(cpu::best_isa()));
  {
    cpu::IsaScope generic(cpu::Isa::generic);
    CHECK(cpu::isa() == cpu::Isa::generic);
    CHECK_FALSE(ops::cpu::sgemm_available());
    CHECK_THROWS_AS(ops::cpu::sgemm(false, false, 1, 1, 1, 1.0f, &kSentinel, 1, &kSentinel, 1, 0.0f, nullptr, 1),
                    Error);
    cpu::IsaScope raise(cpu::Isa::avx512);  // a later, higher cap raises nothing above the machine
    CHECK(int(cpu::isa()) <= int(cpu::best_isa()));
  }
  CHECK(cpu::parse_isa("avx2") == cpu::Isa::avx2);
  CHECK_THROWS_AS(cpu::parse_isa("sse9"), Error);
  MESSAGE("CPU '", f.brand, "': best level ", std::string(cpu::isa_name(cpu::best_isa())), ", avx512_bf16 ", f.avx512_bf16,
          ", amx_bf16 ", f.amx_bf16);
}

TEST_CASE("ops/sgemm: every ISA level matches the double reference on tile, block and stride edges") {
  const auto levels = testing::fp32_kernel_levels();
  if (levels.empty()) {
    MESSAGE("skipped: this CPU has no AVX2 + FMA (ops::gemm uses OpenBLAS)");
    return;
  }
  Rng rng = testing::test_rng();
  struct Dims {
    int64_t M, N, K;
  };
  // MR is 6 or 14, NR 16 or 32, KC 256 (AVX2) or 512 (AVX-512): sizes one below, at and above them, a K
  // over two and three KC blocks, M over several MC blocks, and degenerate 1s.
  const Dims dims[] = {{1, 1, 1},     {1, 33, 7},    {5, 1, 9},     {6, 16, 3},    {7, 17, 255},
                       {13, 31, 256}, {14, 32, 257}, {15, 33, 300}, {29, 65, 64},  {3, 100, 513},
                       {12, 35, 511}, {16, 31, 512}, {230, 47, 70}, {100, 9, 40},  {2, 2, 1100},
                       {43, 130, 17}};
  for (cpu::Isa isa : levels) {
    cpu::IsaScope scope(isa);
    REQUIRE(cpu::isa() == isa);
    for (const Dims& d : dims)
      for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        const int64_t pad = (d.M + d.N + t) % 3;
        const float alpha = (t == 3) ? -1.25f : 1.0f, beta = (t == 1) ? 0.5f : (t == 2) ? 1.0f : 0.0f;
        const Problem p = make_problem(rng, ta, tb, d.M, d.N, d.K, pad, alpha, beta);
        const std::vector<float> C = run(p);
        check_result(p, C,
                     std::string(cpu::isa_name(isa)) + " " + (ta ? "T" : "N") + (tb ? "T" : "N") + " M=" +
                         std::to_string(d.M) + " N=" + std::to_string(d.N) + " K=" + std::to_string(d.K));
      }
  }
}

TEST_CASE("ops/sgemm: a column block past NC (4096) and a large square product match the reference") {
  Rng rng = testing::test_rng();
  for (cpu::Isa isa : testing::fp32_kernel_levels()) {
    cpu::IsaScope scope(isa);
    const Problem wide = make_problem(rng, false, true, 3, 4100, 5, 1, 1.0f, 0.25f);
    check_result(wide, run(wide), std::string(cpu::isa_name(isa)) + " N=4100");
    const Problem square = make_problem(rng, true, false, 150, 140, 300, 0, 1.0f, 0.0f);
    check_result(square, run(square), std::string(cpu::isa_name(isa)) + " 150x140x300");
  }
}

TEST_CASE("ops/sgemm: results are bit-identical on 1 and 2 threads and a row does not depend on the others") {
  Rng rng = testing::test_rng();
  const int saved_threads = num_threads();
  for (cpu::Isa isa : testing::fp32_kernel_levels()) {
    cpu::IsaScope scope(isa);
    // Big enough to run on the pool (both split directions: many rows, then few rows and many columns).
    for (const auto& [M, N] : {std::pair<int64_t, int64_t>{200, 150}, std::pair<int64_t, int64_t>{5, 700}}) {
      const Problem p = make_problem(rng, false, false, M, N, 333, 0, 1.0f, 0.0f);
      set_num_threads(1);
      const std::vector<float> one = run(p);
      set_num_threads(2);
      const std::vector<float> two = run(p);
      CHECK_MESSAGE(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0, cpu::isa_name(isa),
                    " M=", M, ": 1 and 2 threads differ");
      // Row i alone (M = 1, A and C offset to it) gives the same bits as row i of the full product.
      for (int64_t i : {int64_t(0), M / 2, M - 1}) {
        std::vector<float> row(static_cast<size_t>(N), std::numeric_limits<float>::quiet_NaN());
        ops::cpu::sgemm(false, false, 1, N, p.K, 1.0f, p.A.data() + i * p.lda, p.lda, p.B.data(), p.ldb, 0.0f,
                        row.data(), N);
        CHECK_MESSAGE(std::memcmp(row.data(), two.data() + i * p.ldc, size_t(N) * sizeof(float)) == 0,
                      cpu::isa_name(isa), ": row ", i, " alone differs from row ", i, " of M=", M);
      }
    }
  }
  set_num_threads(saved_threads);
}

TEST_CASE("ops/sgemm: ops::gemm runs simad's kernel by default and OpenBLAS when asked, with the same result") {
  Rng rng = testing::test_rng();
  const Problem p = make_problem(rng, false, true, 37, 45, 70, 2, 1.0f, 0.0f);
  std::vector<float> simad_c = p.C, blas_c = p.C;
  ops::gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A.data(), p.lda, p.B.data(), p.ldb, p.beta, simad_c.data(), p.ldc);
  check_result(p, simad_c, "ops::gemm " + ops::cpu_gemm_name());
  if (ops::cpu::sgemm_available()) CHECK(ops::cpu_gemm_name().rfind("simad ", 0) == 0);
  ops::set_cpu_gemm(ops::CpuGemm::openblas);
  CHECK(ops::cpu_gemm_name().rfind("OpenBLAS ", 0) == 0);
  ops::gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A.data(), p.lda, p.B.data(), p.ldb, p.beta, blas_c.data(), p.ldc);
  ops::set_cpu_gemm(ops::CpuGemm::simad);
  check_result(p, blas_c, "ops::gemm OpenBLAS");
}

namespace {

std::vector<float> run_bf16(const Problem& p) {
  std::vector<float> C = p.C;
  ops::cpu::gemm_bf16(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A.data(), p.lda, p.B.data(), p.ldb, p.beta, C.data(),
                      p.ldc);
  return C;
}

}  // namespace

TEST_CASE("ops/sgemm: the bf16 kernels (AMX, AVX512-BF16) match the double reference on bf16-rounded inputs") {
  const auto kernels = bf16_kernels();
  if (kernels.empty()) {
    MESSAGE("skipped: this CPU has neither AVX512-BF16 nor AMX-BF16");
    CHECK_THROWS_AS(ops::cpu::gemm_bf16(false, false, 1, 1, 1, 1.0f, &kSentinel, 1, &kSentinel, 1, 0.0f, nullptr, 1),
                    Error);
    return;
  }
  Rng rng = testing::test_rng();
  struct Dims {
    int64_t M, N, K;
  };
  // AMX: 32 x 32 tiles, 32 k per step, KC 512 values; AVX512-BF16: 14 x 32, pairs of k. Odd K leaves a
  // half pair, K past 512 a second block, M past 256 a second row group.
  const Dims dims[] = {{1, 1, 1},    {3, 17, 5},     {31, 33, 31},  {32, 32, 32}, {33, 31, 33},
                       {14, 40, 513}, {64, 100, 600}, {300, 20, 70}, {7, 70, 1100}};
  for (ops::cpu::Bf16Kernel kernel : kernels) {
    ops::cpu::set_bf16_kernel_cap(kernel);
    REQUIRE(ops::cpu::bf16_kernel() == kernel);
    for (const Dims& d : dims)
      for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        const float alpha = (t == 3) ? -1.25f : 1.0f, beta = (t == 1) ? 0.5f : 0.0f;
        const Problem p = make_problem(rng, ta, tb, d.M, d.N, d.K, (d.M + t) % 3, alpha, beta);
        check_result(p, run_bf16(p),
                     std::string(ops::cpu::bf16_kernel_name(kernel)) + " " + (ta ? "T" : "N") + (tb ? "T" : "N") +
                         " M=" + std::to_string(d.M) + " N=" + std::to_string(d.N) + " K=" + std::to_string(d.K),
                     true);
      }
  }
  ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
}

TEST_CASE("ops/sgemm: bf16 results are bit-identical on 1 and 2 threads and ops::gemm runs them when asked") {
  const auto kernels = bf16_kernels();
  if (kernels.empty()) {
    MESSAGE("skipped: this CPU has neither AVX512-BF16 nor AMX-BF16");
    return;
  }
  Rng rng = testing::test_rng();
  const int saved_threads = num_threads();
  for (ops::cpu::Bf16Kernel kernel : kernels) {
    ops::cpu::set_bf16_kernel_cap(kernel);
    const Problem p = make_problem(rng, false, true, 150, 130, 300, 0, 1.0f, 0.0f);
    set_num_threads(1);
    const std::vector<float> one = run_bf16(p);
    set_num_threads(2);
    const std::vector<float> two = run_bf16(p);
    CHECK_MESSAGE(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0,
                  ops::cpu::bf16_kernel_name(kernel), ": 1 and 2 threads differ");
    // ops::gemm with CpuGemm::bf16 is this kernel, bit for bit.
    std::vector<float> via_gemm = p.C;
    ops::set_cpu_gemm(ops::CpuGemm::bf16);
    CHECK(ops::cpu_gemm_name() == std::string("simad ") + ops::cpu::bf16_kernel_name(kernel));
    ops::gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A.data(), p.lda, p.B.data(), p.ldb, p.beta, via_gemm.data(),
              p.ldc);
    ops::set_cpu_gemm(ops::CpuGemm::simad);
    CHECK(std::memcmp(via_gemm.data(), two.data(), two.size() * sizeof(float)) == 0);
  }
  set_num_threads(saved_threads);
  ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
}

namespace {

// The epilogue applied to the plain GEMM's output in float: C = act(C + bias[i]), element by element.
std::vector<float> epilogue_after(std::vector<float> C, const Problem& p, const std::vector<float>& bias, bool leaky) {
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.N; ++j) {
      float& x = C[size_t(i * p.ldc + j)];
      if (!bias.empty()) x += bias[size_t(i)];
      if (leaky) x = x > 0.0f ? x : 0.1f * x;
    }
  return C;
}

}  // namespace

TEST_CASE("ops/sgemm: the bias and leaky epilogue matches the reference, and the unfused pass bit for bit") {
  Rng rng = testing::test_rng();
  struct Dims {
    int64_t M, N, K;
  };
  // Tile edges (14 x 32, 6 x 16, AMX 32 x 32), a second KC block (fp32 512 on AVX-512, 256 on AVX2; bf16
  // 512 values: the epilogue must act on the finished sums only), a split by rows and one by columns on 2
  // threads.
  const Dims dims[] = {{1, 1, 1}, {15, 33, 27}, {29, 70, 300}, {64, 3000, 9}, {200, 40, 600}};
  for (int config = 0; config < 2; ++config)
    for (const Dims& d : dims) {
      const bool ta = (d.M + config) % 2 == 1, tb = d.K % 2 == 1;  // every transpose across the cases
      const Problem p = make_problem(rng, ta, tb, d.M, d.N, d.K, 1 + config, 1.0f, 0.0f);
      std::vector<float> bias;
      if (config == 0 || d.M > 20) {
        bias.resize(size_t(d.M));
        for (float& b : bias) b = float(rng.next_uniform(-2.0, 2.0));
      }
      const bool leaky = config == 0 || d.K % 2 == 0;
      const ops::cpu::SgemmEpilogue epi{bias.empty() ? nullptr : bias.data(), leaky};
      const std::string shape = " M=" + std::to_string(d.M) + " N=" + std::to_string(d.N) + " K=" +
                                std::to_string(d.K) + (bias.empty() ? "" : " bias") + (leaky ? " leaky" : "");
      for (cpu::Isa isa : testing::fp32_kernel_levels()) {
        cpu::IsaScope scope(isa);
        std::vector<float> fused = p.C;
        ops::cpu::sgemm(p.ta, p.tb, p.M, p.N, p.K, 1.0f, p.A.data(), p.lda, p.B.data(), p.ldb, 0.0f, fused.data(),
                        p.ldc, epi);
        const std::string what = std::string("sgemm ") + cpu::isa_name(isa) + shape;
        check_result(p, fused, what, false, bias, leaky);
        CHECK_MESSAGE(same_bits(fused, epilogue_after(run(p), p, bias, leaky)), what, ": not the unfused bits");
      }
      for (ops::cpu::Bf16Kernel kernel : bf16_kernels()) {
        ops::cpu::set_bf16_kernel_cap(kernel);
        std::vector<float> fused = p.C;
        ops::cpu::gemm_bf16(p.ta, p.tb, p.M, p.N, p.K, 1.0f, p.A.data(), p.lda, p.B.data(), p.ldb, 0.0f, fused.data(),
                            p.ldc, epi);
        const std::string what = std::string(ops::cpu::bf16_kernel_name(kernel)) + shape;
        check_result(p, fused, what, true, bias, leaky);
        CHECK_MESSAGE(same_bits(fused, epilogue_after(run_bf16(p), p, bias, leaky)), what, ": not the unfused bits");
      }
      ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
      // The public entry point on each library, and in double (a pass after the GEMM).
      for (ops::CpuGemm choice : {ops::CpuGemm::simad, ops::CpuGemm::openblas}) {
        ops::set_cpu_gemm(choice);
        std::vector<float> c = p.C;
        ops::gemm_bias_activation(p.ta, p.tb, p.M, p.N, p.K, p.A.data(), p.lda, p.B.data(), p.ldb, c.data(), p.ldc,
                                  epi.row_bias, leaky);
        check_result(p, c, "gemm_bias_activation " + ops::cpu_gemm_name() + shape, false, bias, leaky);
      }
      ops::set_cpu_gemm(ops::CpuGemm::simad);
      std::vector<double> A(p.A.begin(), p.A.end()), B(p.B.begin(), p.B.end()), C(p.C.begin(), p.C.end()),
          bias_d(bias.begin(), bias.end());
      ops::gemm_bias_activation(p.ta, p.tb, p.M, p.N, p.K, A.data(), p.lda, B.data(), p.ldb, C.data(), p.ldc,
                                bias.empty() ? nullptr : bias_d.data(), leaky);
      check_result(p, std::vector<float>(C.begin(), C.end()), "gemm_bias_activation double" + shape, false, bias,
                   leaky);
    }
}

TEST_CASE("ops/sgemm: A packed beforehand (SgemmPackedA) gives the same bits, and is skipped on another ISA level") {
  Rng rng = testing::test_rng();
  struct Dims {
    int64_t M, N, K;
  };
  // A second KC block, rows off the tile, splits by rows (M large) and by columns (N large).
  const Dims dims[] = {{1, 5, 3}, {29, 70, 300}, {200, 40, 600}, {17, 3000, 40}};
  for (const Dims& d : dims)
    for (cpu::Isa isa : testing::fp32_kernel_levels()) {
      cpu::IsaScope scope(isa);
      const Problem p = make_problem(rng, false, d.N % 2 == 0, d.M, d.N, d.K, 1, 1.0f, 0.0f);
      const std::vector<float> bias = testing::random_vector<float>(rng, size_t(d.M));
      const ops::cpu::SgemmEpilogue epi{bias.data(), true};
      const ops::cpu::SgemmPackedA packed(p.A.data(), p.lda, d.M, d.K);
      REQUIRE(packed.usable_for(d.M, d.K));
      CHECK_FALSE(packed.usable_for(d.M + 1, d.K));
      std::vector<float> plain = p.C, pre = p.C;
      ops::cpu::sgemm(false, p.tb, d.M, d.N, d.K, 1.0f, p.A.data(), p.lda, p.B.data(), p.ldb, 0.0f, plain.data(), p.ldc,
                      epi);
      // A itself is not read when the packed panels are used: pass a pointer to NaN instead.
      const std::vector<float> nan_a(p.A.size(), std::numeric_limits<float>::quiet_NaN());
      ops::cpu::sgemm(false, p.tb, d.M, d.N, d.K, 1.0f, nan_a.data(), p.lda, p.B.data(), p.ldb, 0.0f, pre.data(), p.ldc,
                      epi, &packed);
      const std::string what = std::string(cpu::isa_name(isa)) + " M=" + std::to_string(d.M) +
                               " N=" + std::to_string(d.N) + " K=" + std::to_string(d.K);
      CHECK_MESSAGE(same_bits(plain, pre), what, ": prepacked A changes the bits");
      check_result(p, pre, what + " prepacked", false, bias, true);
      if (isa == cpu::Isa::avx512) {  // packed for AVX-512, called at AVX2: packs A itself again
        cpu::IsaScope lower(cpu::Isa::avx2);
        CHECK_FALSE(packed.usable_for(d.M, d.K));
        std::vector<float> low = p.C;
        ops::cpu::sgemm(false, p.tb, d.M, d.N, d.K, 1.0f, p.A.data(), p.lda, p.B.data(), p.ldb, 0.0f, low.data(),
                        p.ldc, epi, &packed);
        check_result(p, low, what + " packed at avx512, run at avx2", false, bias, true);
      }
    }
}

TEST_CASE("ops/sgemm: A packed beforehand for the bf16 kernels (SgemmPackedA::for_bf16) gives the same bits") {
  const auto kernels = bf16_kernels();
  if (kernels.empty()) {
    MESSAGE("skipped: this CPU has neither AVX512-BF16 nor AMX-BF16");
    CHECK_FALSE(ops::cpu::SgemmPackedA::for_bf16(&kSentinel, 1, 1, 1).usable_for_bf16(1, 1));
    return;
  }
  Rng rng = testing::test_rng();
  struct Dims {
    int64_t M, N, K;
  };
  // Odd K (a half pair), a second and third KC block (512 values), rows off both tiles (14, 32), splits
  // by rows and by columns.
  const Dims dims[] = {{1, 5, 3}, {29, 70, 1100}, {200, 40, 515}, {17, 3000, 40}};
  for (ops::cpu::Bf16Kernel kernel : kernels) {
    ops::cpu::set_bf16_kernel_cap(kernel);
    for (const Dims& d : dims) {
      const Problem p = make_problem(rng, false, d.N % 2 == 0, d.M, d.N, d.K, 1, 1.0f, 0.0f);
      const std::vector<float> bias = testing::random_vector<float>(rng, size_t(d.M));
      const ops::cpu::SgemmEpilogue epi{bias.data(), true};
      const auto packed = ops::cpu::SgemmPackedA::for_bf16(p.A.data(), p.lda, d.M, d.K);
      REQUIRE(packed.usable_for_bf16(d.M, d.K));
      CHECK_FALSE(packed.usable_for_bf16(d.M, d.K + 1));
      CHECK_FALSE(packed.usable_for(d.M, d.K));  // not fp32 panels
      const ops::cpu::SgemmPackedA fp32(p.A.data(), p.lda, d.M, d.K);
      CHECK_FALSE(fp32.usable_for_bf16(d.M, d.K));
      std::vector<float> plain = p.C, pre = p.C;
      ops::cpu::gemm_bf16(false, p.tb, d.M, d.N, d.K, 1.0f, p.A.data(), p.lda, p.B.data(), p.ldb, 0.0f, plain.data(),
                          p.ldc, epi);
      const std::vector<float> nan_a(p.A.size(), std::numeric_limits<float>::quiet_NaN());  // not read
      ops::cpu::gemm_bf16(false, p.tb, d.M, d.N, d.K, 1.0f, nan_a.data(), p.lda, p.B.data(), p.ldb, 0.0f, pre.data(),
                          p.ldc, epi, &packed);
      const std::string what = std::string(ops::cpu::bf16_kernel_name(kernel)) + " M=" + std::to_string(d.M) +
                               " N=" + std::to_string(d.N) + " K=" + std::to_string(d.K);
      CHECK_MESSAGE(same_bits(plain, pre), what, ": prepacked A changes the bits");
      check_result(p, pre, what + " prepacked", true, bias, true);
    }
  }
  // Packed for the best kernel, run on a lower one (or fp32 panels given to the bf16 kernel): A is packed
  // again, the results still right.
  ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
  const Problem p = make_problem(rng, false, false, 40, 50, 70, 0, 1.0f, 0.0f);
  const auto packed = ops::cpu::SgemmPackedA::for_bf16(p.A.data(), p.lda, p.M, p.K);
  if (kernels.size() > 1) {
    ops::cpu::set_bf16_kernel_cap(kernels.front());
    CHECK_FALSE(packed.usable_for_bf16(p.M, p.K));
    std::vector<float> low = p.C;
    ops::cpu::gemm_bf16(false, false, p.M, p.N, p.K, 1.0f, p.A.data(), p.lda, p.B.data(), p.ldb, 0.0f, low.data(),
                        p.ldc, {}, &packed);
    check_result(p, low, "packed for AMX, run on AVX512-BF16", true);
    ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
  }
  const ops::cpu::SgemmPackedA fp32(p.A.data(), p.lda, p.M, p.K);
  std::vector<float> from_fp32 = p.C;
  ops::cpu::gemm_bf16(false, false, p.M, p.N, p.K, 1.0f, p.A.data(), p.lda, p.B.data(), p.ldb, 0.0f, from_fp32.data(),
                      p.ldc, {}, &fp32);
  check_result(p, from_fp32, "fp32 panels given to gemm_bf16", true);
}

}  // namespace SIMAD_TEST_FILE_ID
