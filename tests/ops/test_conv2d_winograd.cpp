// Tests of Winograd F(2x2, 3x3) convolution (include/simad/ops/cpu/conv2d_winograd.hpp) on every ISA level
// this CPU has fp32 tiles for, each forced with cpu::IsaScope, on 1 and 2 threads: against a naive double
// convolution written here. Winograd's sums are not the direct ones, so the bound is relative to the
// magnitudes it combines: |err| <= 2^-18 (|bias| + sum_c sum_ij |w[o, c, i, j]| max|x_c over the tile's 4x4
// input patch|) (seen: below 2^-23 of it). A wrong index, transform entry or channel gives errors of the
// order of one term (1/(9 C) of that sum or more). Shapes: odd and even maps (half tiles at the right and
// bottom edges), maps of one pixel, several tile-row blocks, depth past one KC block (512), filter counts
// off the tile's rows, batch 3, with and without bias and leaky ReLU. Outputs are NaN-poisoned. Also: the
// same bits on 1 and 2 threads; ops::conv2d_forward routes to it with prepared weights, and SIMAD_WINOGRAD's
// switch (set_cpu_winograd) and weights prepared for another ISA level send it back to the GEMM paths; a
// residual added in the output transform (ops::conv2d_residual_forward) gives the bits of the convolution
// then the shortcut's a + b.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/ops/cpu/conv2d_winograd.hpp"
#include "cpu_levels.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using testing::same_bits;

namespace {

struct Case {
  int64_t B, C, H, W, O;
  bool bias, leaky;
};

ops::cpu::DirectConvShape direct_shape(const Case& c) { return {c.C, c.H, c.W, c.O, 3, 1, 1}; }
ops::Conv2dShape shape_of(const Case& c) { return ops::Conv2dShape{c.B, c.C, c.H, c.W, c.O, 3, 1, 1}; }

std::string name_of(const Case& c) {
  return "B" + std::to_string(c.B) + " C" + std::to_string(c.C) + " " + std::to_string(c.H) + "x" +
         std::to_string(c.W) + " O" + std::to_string(c.O) + (c.bias ? " bias" : "") + (c.leaky ? " leaky" : "");
}

// Checks out against act(bias + sum w x) computed in double, within the bound of the file comment.
void check_reference(const Case& c, const std::vector<float>& in, const std::vector<float>& w,
                     const std::vector<float>& bias, const std::vector<float>& out, const std::string& what,
                     double bound = 0x1p-18) {
  int64_t bad = 0;
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t y = 0; y < c.H; ++y)
      for (int64_t x = 0; x < c.W; ++x) {
        // The 4x4 input patch of the tile holding (y, x): rows 2 (y / 2) - 1 .., columns likewise.
        const int64_t py = y / 2 * 2 - 1, px = x / 2 * 2 - 1;
        std::vector<double> patch_max(static_cast<size_t>(c.C), 0.0);
        for (int64_t ch = 0; ch < c.C; ++ch)
          for (int64_t i = 0; i < 4; ++i)
            for (int64_t j = 0; j < 4; ++j) {
              const int64_t iy = py + i, ix = px + j;
              if (iy >= 0 && iy < c.H && ix >= 0 && ix < c.W)
                patch_max[size_t(ch)] = std::max(patch_max[size_t(ch)],
                                                 std::fabs(double(in[size_t(((b * c.C + ch) * c.H + iy) * c.W + ix)])));
            }
        for (int64_t o = 0; o < c.O; ++o) {
          double acc = c.bias ? double(bias[size_t(o)]) : 0.0, scale = std::fabs(acc);
          for (int64_t ch = 0; ch < c.C; ++ch)
            for (int64_t i = 0; i < 3; ++i)
              for (int64_t j = 0; j < 3; ++j) {
                const double wv = w[size_t(((o * c.C + ch) * 3 + i) * 3 + j)];
                scale += std::fabs(wv) * patch_max[size_t(ch)];
                const int64_t iy = y - 1 + i, ix = x - 1 + j;
                if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                acc += wv * double(in[size_t(((b * c.C + ch) * c.H + iy) * c.W + ix)]);
              }
          const double want = c.leaky && acc <= 0.0 ? 0.1 * acc : acc;
          const double got = out[size_t(((b * c.O + o) * c.H + y) * c.W + x)];
          if (!(std::fabs(got - want) <= bound * scale + 1e-30)) {
            if (bad < 3) FAIL_CHECK(what, ": out[", b, ", ", o, ", ", y, ", ", x, "] = ", got, " expected ", want);
            ++bad;
          }
        }
      }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " wrong elements; seed ", testing::test_seed());
}

const Case kCases[] = {
    {1, 64, 13, 13, 33, true, true},    // YOLOv3's 13x13 maps: a half tile at the right and bottom
    {2, 70, 10, 17, 20, true, false},   // batch 2, even rows, odd columns, linear
    {1, 600, 12, 11, 15, false, true},  // depth past one KC block (512), two panels of tiles, no bias
    {1, 8, 52, 40, 9, true, true},      // tile rows in several blocks (20 tiles a row)
    {3, 5, 3, 3, 4, true, true},        // batch 3, one 2x2 tile and its edges
    {1, 16, 1, 1, 3, true, false},      // a one-pixel map
    {1, 3, 2, 70, 29, true, true},      // one tile row wider than two panels
};

}  // namespace

TEST_CASE("ops/conv2d_winograd: every ISA level matches the double reference, the same bits on 1 and 2 threads") {
  Rng rng = testing::test_rng();
  const std::vector<cpu::Isa> levels = testing::fp32_kernel_levels();
  if (levels.empty()) {
    MESSAGE("skipped: this CPU has no AVX2 + FMA");
    CHECK_FALSE(ops::cpu::WinogradWeights(std::vector<float>(9, 1.0f).data(), 1, 1).usable_for(1, 1));
    return;
  }
  const int saved_threads = num_threads();
  for (const Case& c : kCases) {
    const auto in = testing::random_vector<float>(rng, size_t(c.B * c.C * c.H * c.W));
    const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * 9));
    const auto bias = testing::random_vector<float>(rng, size_t(c.O), -2.0, 2.0);
    for (cpu::Isa isa : levels) {
      cpu::IsaScope scope(isa);
      const ops::cpu::WinogradWeights weights(w.data(), c.O, c.C);
      REQUIRE(weights.usable_for(c.O, c.C));
      CHECK_FALSE(weights.usable_for(c.O + 1, c.C));
      CHECK_FALSE(weights.usable_for(c.O, c.C + 1));
      std::vector<float> first;
      for (const int threads : {1, 2}) {
        set_num_threads(threads);
        const std::string what = std::string(cpu::isa_name(isa)) + " " + name_of(c) + " threads " +
                                 std::to_string(threads);
        std::vector<float> out(static_cast<size_t>(c.B * c.O * c.H * c.W));
        testing::poison(std::span<float>(out));
        ops::cpu::conv2d_winograd(out.data(), in.data(), c.B, c.bias ? bias.data() : nullptr, c.leaky,
                                  direct_shape(c), weights);
        check_reference(c, in, w, bias, out, what);
        if (first.empty())
          first = out;
        else
          CHECK_MESSAGE(same_bits(first, out), what, ": not the bits of 1 thread");
      }
    }
  }
  set_num_threads(saved_threads);
}

TEST_CASE("ops/conv2d_winograd: weights of another ISA level are not used, and bad shapes are refused") {
  const std::vector<cpu::Isa> levels = testing::fp32_kernel_levels();
  if (levels.size() < 2) {
    MESSAGE("skipped: this CPU has fewer than two ISA levels with fp32 tiles");
    return;
  }
  Rng rng = testing::test_rng();
  const auto w = testing::random_vector<float>(rng, 4 * 3 * 9);
  const ops::cpu::WinogradWeights weights(w.data(), 4, 3);  // at the best level
  {
    cpu::IsaScope scope(cpu::Isa::avx2);
    CHECK_FALSE(weights.usable_for(4, 3));
    std::vector<float> out(4 * 5 * 5), in(3 * 5 * 5, 1.0f);
    CHECK_THROWS(ops::cpu::conv2d_winograd(out.data(), in.data(), 1, nullptr, false,
                                           ops::cpu::DirectConvShape{3, 5, 5, 4, 3, 1, 1}, weights));
  }
  std::vector<float> out(4 * 5 * 5), in(3 * 5 * 5, 1.0f);
  CHECK_THROWS(ops::cpu::conv2d_winograd(out.data(), in.data(), 1, nullptr, false,
                                         ops::cpu::DirectConvShape{3, 5, 5, 4, 3, 2, 1}, weights));  // stride 2
}

TEST_CASE("ops/conv2d_winograd: conv2d_forward runs it with prepared weights, not when switched off or on another level") {
  if (!ops::cpu::sgemm_available()) {
    MESSAGE("skipped: this CPU has no AVX2 + FMA");
    return;
  }
  Rng rng = testing::test_rng();
  const Case c{1, 64, 13, 13, 37, true, true};
  const ops::Conv2dShape s = shape_of(c);
  REQUIRE(ops::conv2d_winograd_suits(s));
  CHECK_FALSE(ops::conv2d_winograd_suits(ops::Conv2dShape{1, 63, 13, 13, 37, 3, 1, 1}));  // too shallow
  CHECK_FALSE(ops::conv2d_winograd_suits(ops::Conv2dShape{1, 64, 13, 13, 37, 3, 2, 1}));  // stride 2
  CHECK_FALSE(ops::conv2d_winograd_suits(ops::Conv2dShape{1, 64, 13, 13, 37, 1, 1, 0}));  // 1x1
  const auto in = testing::random_vector<float>(rng, size_t(c.C * c.H * c.W));
  const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * 9));
  const auto bias = testing::random_vector<float>(rng, size_t(c.O));
  const size_t n = size_t(c.O * c.H * c.W);
  auto forward = [&](const ops::Conv2dPackedWeights* packed) {
    std::vector<float> out(n);
    testing::poison(std::span<float>(out));
    ops::conv2d_forward(out.data(), in.data(), w.data(), bias.data(), s, ops::ConvActivation::leaky, static_cast<float*>(nullptr),
                        packed);
    return out;
  };
  const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(w.data(), s);
  REQUIRE(packed.winograd.usable_for(c.O, c.C));
  CHECK_FALSE(packed.gemm.usable_for(c.O, c.C * 9));  // Winograd layers keep only their transform
  std::vector<float> direct(n);
  ops::cpu::conv2d_winograd(direct.data(), in.data(), 1, bias.data(), true, direct_shape(c), packed.winograd);
  const std::vector<float> with_winograd = forward(&packed);
  check_reference(c, in, w, bias, with_winograd, "conv2d_forward with Winograd weights");
  CHECK_MESSAGE(same_bits(with_winograd, direct), "conv2d_forward did not run conv2d_winograd");
  const std::vector<float> gemm_path = forward(nullptr);
  CHECK_FALSE(same_bits(with_winograd, gemm_path));  // the GEMM's sums differ somewhere in 6,253 outputs

  ops::set_cpu_winograd(false);
  CHECK(same_bits(forward(&packed), gemm_path));  // switched off: the GEMM path
  const ops::Conv2dPackedWeights packed_off = ops::pack_conv2d_weights(w.data(), s);
  CHECK_FALSE(packed_off.winograd.usable_for(c.O, c.C));
  CHECK(packed_off.gemm.usable_for(c.O, c.C * 9));
  CHECK(same_bits(forward(&packed_off), gemm_path));
  ops::set_cpu_winograd(true);

  if (cpu::best_isa() >= cpu::Isa::avx512) {
    cpu::IsaScope scope(cpu::Isa::avx2);  // the weights were transformed for avx512: the GEMM path runs
    CHECK(same_bits(forward(&packed), forward(nullptr)));
  }
}

// Integers with every Winograd quantity exact in bf16 and fp32 (testing::small_integers): x in [-8, 8]
// gives V = B^T d B integers of at most 32; w in [-4, 4] gives U = G g G^T multiples of 1/4 of at most 9
// (36 steps: 8 significant bits hold them); the sums over channels and the output transform stay multiples
// of 1/4 below 2^20. The bf16 Winograd then has no rounding at all and must give the direct convolution
// exactly.
TEST_CASE(
    "ops/conv2d_winograd: the bf16 kernels give the exact convolution where nothing rounds, the same bits on 1 and 2 "
    "threads") {
  const auto kernels = testing::bf16_kernels();
  if (kernels.empty()) {
    MESSAGE("skipped: this CPU has neither AVX512-BF16 nor AMX-BF16");
    CHECK_FALSE(ops::cpu::WinogradWeights::for_bf16(std::vector<float>(9, 1.0f).data(), 1, 1).usable_for_bf16(1, 1));
    return;
  }
  Rng rng = testing::test_rng();
  std::vector<Case> cases(std::begin(kCases), std::end(kCases));
  cases.push_back(Case{1, 600, 5, 6, 17, true, true});  // depth past one bf16 KC block (512 values), odd rest
  const int saved_threads = num_threads();
  for (ops::cpu::Bf16Kernel kernel : kernels) {
    ops::cpu::set_bf16_kernel_cap(kernel);
    for (const Case& c : cases) {
      const auto in = testing::small_integers(rng, size_t(c.B * c.C * c.H * c.W), 8);
      const auto w = testing::small_integers(rng, size_t(c.O * c.C * 9), 4);
      std::vector<float> bias = testing::small_integers(rng, size_t(c.O), 40);
      for (float& b : bias) b *= 0.25f;
      const auto weights = ops::cpu::WinogradWeights::for_bf16(w.data(), c.O, c.C);
      REQUIRE(weights.usable_for_bf16(c.O, c.C));
      CHECK_FALSE(weights.usable_for(c.O, c.C));  // not fp32 panels
      CHECK_FALSE(weights.usable_for_bf16(c.O + 1, c.C));
      const std::vector<float> want = testing::exact_conv(shape_of(c), in, w, c.bias ? bias.data() : nullptr, c.leaky);
      // Random values: within a loose bound of the reference (bf16 keeps 8 bits of U and V; the exact
      // case above is the sharp test), and 1 and 2 threads alike.
      const auto rin = testing::random_vector<float>(rng, in.size());
      const auto rw = testing::random_vector<float>(rng, w.size());
      const auto rweights = ops::cpu::WinogradWeights::for_bf16(rw.data(), c.O, c.C);
      std::vector<float> first;
      for (const int threads : {1, 2}) {
        set_num_threads(threads);
        const std::string what = std::string(ops::cpu::bf16_kernel_name(kernel)) + " " + name_of(c) + " threads " +
                                 std::to_string(threads);
        std::vector<float> out(want.size());
        testing::poison(std::span<float>(out));
        ops::cpu::conv2d_winograd(out.data(), in.data(), c.B, c.bias ? bias.data() : nullptr, c.leaky,
                                  direct_shape(c), weights);
        int64_t bad = 0;
        for (size_t k = 0; k < out.size(); ++k)
          if (!(out[k] == want[k]) && bad++ < 3) FAIL_CHECK(what, ": out[", k, "] = ", out[k], " expected ", want[k]);
        CHECK_MESSAGE(bad == 0, what, ": ", bad, " outputs not exact");
        std::vector<float> rout(want.size());
        testing::poison(std::span<float>(rout));
        ops::cpu::conv2d_winograd(rout.data(), rin.data(), c.B, c.bias ? bias.data() : nullptr, c.leaky,
                                  direct_shape(c), rweights);
        check_reference(c, rin, rw, bias, rout, what + " random values", 0x1p-5);
        if (first.empty())
          first = rout;
        else
          CHECK_MESSAGE(same_bits(first, rout), what, ": not the bits of 1 thread");
      }
    }
  }
  set_num_threads(saved_threads);
  ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
}

TEST_CASE(
    "ops/conv2d_winograd: with SIMAD_GEMM=bf16 conv2d_forward runs the bf16 form, SIMAD_WINOGRAD=0 the bf16 GEMM") {
  if (!ops::cpu::gemm_bf16_available()) {
    MESSAGE("skipped: this CPU has neither AVX512-BF16 nor AMX-BF16");
    return;
  }
  Rng rng = testing::test_rng();
  const Case c{2, 64, 13, 13, 37, true, true};
  const ops::Conv2dShape s = shape_of(c);
  const auto in = testing::small_integers(rng, size_t(c.B * c.C * c.H * c.W), 8);
  const auto w = testing::small_integers(rng, size_t(c.O * c.C * 9), 4);
  std::vector<float> bias = testing::small_integers(rng, size_t(c.O), 40);
  for (float& b : bias) b *= 0.25f;
  auto forward = [&](const ops::Conv2dPackedWeights* packed) {
    std::vector<float> out(static_cast<size_t>(c.B * c.O * c.H * c.W));
    testing::poison(std::span<float>(out));
    ops::conv2d_forward(out.data(), in.data(), w.data(), bias.data(), s, ops::ConvActivation::leaky,
                        static_cast<float*>(nullptr), packed);
    return out;
  };
  ops::set_cpu_gemm(ops::CpuGemm::bf16);
  const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(w.data(), s);
  CHECK(packed.winograd.usable_for_bf16(c.O, c.C));
  CHECK(ops::conv2d_float_path(s, ops::ConvActivation::leaky, &packed) == ops::Conv2dPath::winograd);
  std::vector<float> direct(static_cast<size_t>(c.B * c.O * c.H * c.W));
  ops::cpu::conv2d_winograd(direct.data(), in.data(), c.B, bias.data(), true, direct_shape(c), packed.winograd);
  const std::vector<float> with_winograd = forward(&packed);
  ops::set_cpu_winograd(false);
  const ops::Conv2dPackedWeights packed_off = ops::pack_conv2d_weights(w.data(), s);
  CHECK(ops::conv2d_float_path(s, ops::ConvActivation::leaky, &packed_off) == ops::Conv2dPath::implicit);
  const std::vector<float> off = forward(&packed_off);
  ops::set_cpu_winograd(true);
  ops::set_cpu_gemm(ops::CpuGemm::simad);
  CHECK_FALSE(ops::conv2d_float_path(s, ops::ConvActivation::leaky, &packed) == ops::Conv2dPath::winograd);  // fp32 now
  CHECK_MESSAGE(same_bits(with_winograd, direct), "conv2d_forward did not run the bf16 Winograd");
  const std::vector<float> want = testing::exact_conv(shape_of(c), in, w, c.bias ? bias.data() : nullptr, c.leaky);
  CHECK_MESSAGE(same_bits(with_winograd, want), "bf16 Winograd not exact on small integers");
  CHECK_MESSAGE(same_bits(off, want), "the bf16 GEMM not exact on small integers");
}

TEST_CASE("ops/conv2d_residual: the residual added as Winograd stores gives the bits of conv2d_forward then a + b") {
  if (!ops::cpu::sgemm_available()) {
    MESSAGE("skipped: this CPU has no AVX2 + FMA");
    return;
  }
  Rng rng = testing::test_rng();
  const Case cases[] = {
      {2, 64, 13, 13, 37, true, true},   // odd map: the right and bottom half tiles, batch 2
      {1, 96, 8, 26, 64, false, false},  // even map, no bias, linear
      {1, 600, 5, 7, 20, true, true},    // depth past one KC block (512)
  };
  const int saved_threads = num_threads();
  for (const Case& c : cases)
    for (cpu::Isa isa : testing::fp32_kernel_levels())
      for (int threads : {1, 2}) {
        const std::string what = name_of(c) + " " + cpu::isa_name(isa) + " threads " + std::to_string(threads);
        CAPTURE(what);
        cpu::IsaScope scope(isa);
        set_num_threads(threads);
        const ops::Conv2dShape s = shape_of(c);
        const ops::ConvActivation act = c.leaky ? ops::ConvActivation::leaky : ops::ConvActivation::linear;
        CHECK_MESSAGE(testing::conv2d_residual_gives_conv_then_shortcut(rng, s, c.bias, act, true), what,
                      ": not the bits of the convolution then a + b");
      }
  set_num_threads(saved_threads);
  if (ops::cpu::gemm_bf16_available()) {  // the bf16 Winograd adds it in the same output transform
    ops::set_cpu_gemm(ops::CpuGemm::bf16);
    for (const Case& c : cases) {
      const ops::ConvActivation act = c.leaky ? ops::ConvActivation::leaky : ops::ConvActivation::linear;
      CHECK_MESSAGE(testing::conv2d_residual_gives_conv_then_shortcut(rng, shape_of(c), c.bias, act, true),
                    name_of(c), " bf16: not the bits of the convolution then a + b");
    }
    ops::set_cpu_gemm(ops::CpuGemm::simad);
  }
  // Where it does not run as one pass, it says so.
  const Case c = cases[0];
  const ops::Conv2dShape s = shape_of(c);
  const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * 9));
  const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(w.data(), s), none;
  CHECK_FALSE(ops::conv2d_residual_fusable(s, ops::ConvActivation::leaky, &none));  // no transform: the GEMM
  CHECK_FALSE(ops::conv2d_residual_fusable(s, ops::ConvActivation::logistic, &packed));
  CHECK_FALSE(ops::conv2d_residual_fusable(ops::Conv2dShape{1, 32, 13, 13, 37, 3, 1, 1}, ops::ConvActivation::leaky,
                                           &packed));  // too shallow for Winograd
  std::vector<float> buf(size_t(c.B * c.O * c.H * c.W));
  CHECK(testing::error_of([&] {
          ops::conv2d_residual_forward(buf.data(), buf.data(), w.data(), nullptr, buf.data(), s,
                                       ops::ConvActivation::leaky, &none);
        }).find("conv2d_residual_fusable") != std::string::npos);
  CHECK(testing::error_of([&] {
          ops::conv2d_residual_forward(buf.data(), buf.data(), w.data(), nullptr, buf.data(), s,
                                       ops::ConvActivation::leaky, &packed);
        }).find("another buffer") != std::string::npos);
}

}  // namespace SIMAD_TEST_FILE_ID
