// Tests of the two convolutions without im2col, the ring-buffer implicit GEMM
// (include/simad/ops/cpu/conv2d_direct.hpp) and the GEMM that unfolds the image as it packs
// (include/simad/ops/cpu/conv2d_implicit.hpp), on every ISA level this CPU has a tile for, each forced
// with cpu::IsaScope: against a naive double convolution written here, within the GEMM's bound
// (depth + 3) 2^-23 sum |w x| (each product and sum rounds once), and bit for bit against im2col +
// simad's GEMM with the same epilogue (the sums must run in the same order). Shapes: stride 1 and 2,
// odd widths (a tile's masked columns), kernels 1, 3 and 5, padding 0 to 2, depth past one KC block
// (AVX-512 512, AVX2 256), filter counts off the tile's rows, batch 2, no bias; for the unfolding GEMM also maps
// narrower than a panel (a panel spans several output rows) and a last panel of at most 16 columns
// (the narrow tile). Outputs are NaN-poisoned. Also: ops::conv2d_forward takes each path where its
// suits function says so, and its result on OpenBLAS (im2col) agrees; the ring with a 2x2 stride-2 max-pool
// taken in the same pass (ops::conv2d_maxpool_forward) gives the bits of the convolution then the pool. The
// ring's bf16 form (AVX512-BF16, pairs of channels per step): exact on small integers, within the bound on
// bf16-rounded random inputs, 1 and 2 threads alike, conv2d_forward's choice under SIMAD_GEMM=bf16, and the
// pool and [shortcut] fused into it as into the fp32 ring.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/core/dtype.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/cpu/conv2d_direct.hpp"
#include "simad/ops/cpu/conv2d_implicit.hpp"
#include "simad/ops/maxpool2d.hpp"
#include "cpu_levels.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using testing::same_bits;

namespace {

struct Case {
  int64_t B, C, H, W, O, K, S, P;
  bool bias, leaky;
};

ops::Conv2dShape shape_of(const Case& c) { return ops::Conv2dShape{c.B, c.C, c.H, c.W, c.O, c.K, c.S, c.P}; }

std::string name_of(const Case& c) {
  return "B" + std::to_string(c.B) + " C" + std::to_string(c.C) + " " + std::to_string(c.H) + "x" +
         std::to_string(c.W) + " O" + std::to_string(c.O) + " K" + std::to_string(c.K) + " S" + std::to_string(c.S) +
         " P" + std::to_string(c.P) + (c.bias ? " bias" : "") + (c.leaky ? " leaky" : "");
}

// Checks out against act(bias + sum w x) computed in double, each element within the sum's bound.
// bf16_inputs: w and x rounded to bf16 first, as the bf16 kernels round them (their products are exact
// in fp32, so the same bound holds).
void check_reference(const Case& c, const std::vector<float>& in, const std::vector<float>& w,
                     const std::vector<float>& bias, const std::vector<float>& out, const std::string& what,
                     bool bf16_inputs = false) {
  auto value = [&](float v) { return bf16_inputs ? double(bf16_to_float(float_to_bf16(v))) : double(v); };
  const ops::Conv2dShape s = shape_of(c);
  const int64_t Ho = s.out_h(), Wo = s.out_w(), depth = c.C * c.K * c.K;
  int64_t bad = 0;
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t o = 0; o < c.O; ++o)
      for (int64_t y = 0; y < Ho; ++y)
        for (int64_t x = 0; x < Wo; ++x) {
          double acc = c.bias ? double(bias[size_t(o)]) : 0.0, mag = std::fabs(acc);
          for (int64_t ch = 0; ch < c.C; ++ch)
            for (int64_t i = 0; i < c.K; ++i)
              for (int64_t j = 0; j < c.K; ++j) {
                const int64_t iy = y * c.S - c.P + i, ix = x * c.S - c.P + j;
                if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                const double term = value(w[size_t(((o * c.C + ch) * c.K + i) * c.K + j)]) *
                                    value(in[size_t(((b * c.C + ch) * c.H + iy) * c.W + ix)]);
                acc += term;
                mag += std::fabs(term);
              }
          const double want = c.leaky && acc <= 0.0 ? 0.1 * acc : acc;
          const double got = out[size_t(((b * c.O + o) * Ho + y) * Wo + x)];
          const double tol = (double(depth) + 3.0) * 0x1p-23 * mag + 1e-30;
          if (!(std::fabs(got - want) <= tol)) {
            if (bad < 3) FAIL_CHECK(what, ": out[", b, ", ", o, ", ", y, ", ", x, "] = ", got, " expected ", want);
            ++bad;
          }
        }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " wrong elements; seed ", testing::test_seed());
}

// The same convolution as im2col + simad's GEMM with the epilogue (bf16: its bf16 GEMM), image by image.
std::vector<float> im2col_conv(const Case& c, const std::vector<float>& in, const std::vector<float>& w,
                               const float* bias, bool bf16 = false) {
  const ops::Conv2dShape s = shape_of(c);
  const int64_t HWo = s.out_h() * s.out_w(), depth = c.C * c.K * c.K;
  std::vector<float> cols(static_cast<size_t>(depth * HWo)), out(static_cast<size_t>(c.B * c.O * HWo));
  for (int64_t b = 0; b < c.B; ++b) {
    ops::detail::im2col(cols.data(), HWo, 0, in.data() + b * c.C * c.H * c.W, s);
    (bf16 ? ops::cpu::gemm_bf16 : ops::cpu::sgemm)(false, false, c.O, HWo, depth, 1.0f, w.data(), depth, cols.data(),
                                                   HWo, 0.0f, out.data() + b * c.O * HWo, HWo,
                                                   ops::cpu::SgemmEpilogue{bias, c.leaky}, nullptr);
  }
  return out;
}

const Case kCases[] = {
    {1, 3, 9, 70, 17, 3, 1, 1, true, true},    // 3 channels (an image), rows off the 14-row tile
    {2, 5, 11, 131, 30, 3, 2, 1, true, true},  // stride 2, odd width: masked columns, batch 2
    {1, 60, 6, 40, 15, 3, 1, 1, true, false},  // depth 540: two KC blocks (AVX2: three), linear
    {1, 4, 8, 33, 9, 5, 1, 2, false, true},    // 5x5, padding 2, no bias
    {1, 6, 7, 37, 7, 3, 1, 0, true, true},     // unpadded 3x3
    {1, 8, 5, 50, 20, 1, 2, 0, true, true},    // 1x1 stride 2
    {2, 2, 3, 3, 3, 3, 2, 1, true, true},      // a map narrower than one vector
};

}  // namespace

TEST_CASE("ops/conv2d_direct: every ISA level matches the double reference and im2col + GEMM bit for bit") {
  Rng rng = testing::test_rng();
  const std::vector<cpu::Isa> levels = testing::fp32_kernel_levels();
  if (levels.empty()) {
    MESSAGE("skipped: this CPU has no AVX2 + FMA");
    CHECK_FALSE(ops::cpu::conv2d_direct_available());
    return;
  }
  for (const Case& c : kCases) {
    const ops::Conv2dShape s = shape_of(c);
    const auto in = testing::random_vector<float>(rng, size_t(c.B * c.C * c.H * c.W));
    const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * c.K * c.K));
    const auto bias = testing::random_vector<float>(rng, size_t(c.O), -2.0, 2.0);
    const float* bias_ptr = c.bias ? bias.data() : nullptr;
    for (cpu::Isa isa : levels) {
      cpu::IsaScope scope(isa);
      const std::string what = std::string(cpu::isa_name(isa)) + " " + name_of(c);
      std::vector<float> out(static_cast<size_t>(c.B * c.O * s.out_h() * s.out_w()));
      testing::poison(std::span<float>(out));
      ops::cpu::conv2d_direct(out.data(), in.data(), c.B, w.data(), bias_ptr, c.leaky,
                              ops::cpu::DirectConvShape{c.C, c.H, c.W, c.O, c.K, c.S, c.P});
      check_reference(c, in, w, bias, out, what);
      CHECK_MESSAGE(same_bits(out, im2col_conv(c, in, w, bias_ptr)), what, ": not im2col + GEMM's bits");
      // Weights packed beforehand (a network's way) give the same bits.
      const int64_t depth = c.C * c.K * c.K;
      const ops::cpu::SgemmPackedA packed(w.data(), depth, c.O, depth);
      REQUIRE(packed.usable_for(c.O, depth));
      std::vector<float> again(out.size());
      testing::poison(std::span<float>(again));
      ops::cpu::conv2d_direct(again.data(), in.data(), c.B, w.data(), bias_ptr, c.leaky,
                              ops::cpu::DirectConvShape{c.C, c.H, c.W, c.O, c.K, c.S, c.P}, &packed);
      CHECK_MESSAGE(same_bits(out, again), what, ": prepacked weights change the bits");
    }
  }
}

// For the unfolding GEMM: more depth and filters, so that the GEMM is split between threads (by rows
// or by columns) and has several KC blocks, and maps whose rows are shorter than a 32-column panel.
const Case kImplicitCases[] = {
    {1, 40, 13, 13, 33, 3, 1, 1, true, true},   // 13x13: 169 = 5 * 32 + 9 columns (narrow last panel)
    {1, 33, 26, 26, 20, 3, 2, 1, true, false},  // stride 2 down to 13x13, depth 297
    {1, 64, 20, 50, 30, 3, 1, 1, false, true},  // rows of 50 across panels, depth 576, no bias
    {2, 7, 31, 29, 45, 3, 2, 0, true, true},    // stride 2 unpadded, odd sizes, batch 2
    {1, 9, 12, 17, 16, 5, 1, 2, true, true},    // 5x5, padding 2
    {1, 12, 15, 21, 18, 1, 2, 0, true, true},   // 1x1 stride 2
    {1, 5, 4, 3, 6, 3, 1, 1, true, true},       // maps narrower than a vector
};

namespace {

// What the unfolding GEMM's tests run: its own cases, then the ring's.
std::vector<Case> implicit_test_cases() {
  std::vector<Case> cases(std::begin(kImplicitCases), std::end(kImplicitCases));
  cases.insert(cases.end(), std::begin(kCases), std::end(kCases));
  return cases;
}

// conv2d_implicit (fp32, or its bf16 form on the current bf16 kernel) on case c with fresh random inputs, on 1
// and 2 threads, weights packed beforehand or not: against the double reference (bf16: on bf16-rounded
// inputs) and bit for bit against im2col + sgemm (gemm_bf16). `level` names the kernel in messages.
void check_implicit(Rng& rng, const Case& c, bool bf16, const std::string& level) {
  const ops::Conv2dShape s = shape_of(c);
  const int64_t depth = c.C * c.K * c.K, per_image = c.O * s.out_h() * s.out_w();
  const auto in = testing::random_vector<float>(rng, size_t(c.B * c.C * c.H * c.W));
  const auto w = testing::random_vector<float>(rng, size_t(c.O * depth));
  const auto bias = testing::random_vector<float>(rng, size_t(c.O), -2.0, 2.0);
  const float* bias_ptr = c.bias ? bias.data() : nullptr;
  const ops::cpu::SgemmPackedA packed = bf16 ? ops::cpu::SgemmPackedA::for_bf16(w.data(), depth, c.O, depth)
                                             : ops::cpu::SgemmPackedA(w.data(), depth, c.O, depth);
  REQUIRE((bf16 ? packed.usable_for_bf16(c.O, depth) : packed.usable_for(c.O, depth)));
  const std::vector<float> want = im2col_conv(c, in, w, bias_ptr, bf16);
  const int saved_threads = num_threads();
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (const ops::cpu::SgemmPackedA* pw : {(const ops::cpu::SgemmPackedA*)nullptr, &packed}) {
      const std::string what =
          level + " " + name_of(c) + " threads " + std::to_string(threads) + (pw ? " prepacked" : "");
      std::vector<float> out(static_cast<size_t>(c.B * per_image));
      testing::poison(std::span<float>(out));
      for (int64_t b = 0; b < c.B; ++b)
        ops::cpu::conv2d_implicit(out.data() + b * per_image, in.data() + b * c.C * c.H * c.W, w.data(), bias_ptr,
                                  c.leaky, ops::cpu::DirectConvShape{c.C, c.H, c.W, c.O, c.K, c.S, c.P}, pw, bf16);
      check_reference(c, in, w, bias, out, what, bf16);
      CHECK_MESSAGE(same_bits(out, want), what, ": not the bits of im2col + ", bf16 ? "gemm_bf16" : "sgemm");
    }
  }
  set_num_threads(saved_threads);
}

}  // namespace

TEST_CASE("ops/conv2d_implicit: every ISA level matches the double reference and im2col + GEMM bit for bit") {
  Rng rng = testing::test_rng();
  const std::vector<cpu::Isa> levels = testing::fp32_kernel_levels();
  if (levels.empty()) {
    MESSAGE("skipped: this CPU has no AVX2 + FMA");
    CHECK_FALSE(ops::cpu::sgemm_available());
    return;
  }
  for (const Case& c : implicit_test_cases())
    for (cpu::Isa isa : levels) {
      cpu::IsaScope scope(isa);
      check_implicit(rng, c, false, cpu::isa_name(isa));
    }
}

TEST_CASE(
    "ops/conv2d_implicit: the bf16 form matches the reference on bf16-rounded inputs and im2col + gemm_bf16 bit for bit") {
  const auto kernels = testing::bf16_kernels();
  if (kernels.empty()) {
    MESSAGE("skipped: this CPU has neither AVX512-BF16 nor AMX-BF16");
    CHECK_FALSE(ops::cpu::gemm_bf16_available());
    return;
  }
  Rng rng = testing::test_rng();
  std::vector<Case> cases = implicit_test_cases();
  cases.push_back(Case{1, 70, 9, 11, 20, 3, 1, 1, true, true});  // depth 630: a second KC block (512) of odd length
  for (ops::cpu::Bf16Kernel kernel : kernels) {
    ops::cpu::set_bf16_kernel_cap(kernel);
    for (const Case& c : cases) check_implicit(rng, c, true, ops::cpu::bf16_kernel_name(kernel));
  }
  ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
}

TEST_CASE("ops/conv2d: a batch's images split between the threads give the bits of one image at a time") {
  if (!ops::cpu::sgemm_available()) {
    MESSAGE("skipped: this CPU has no AVX2 + FMA");
    return;
  }
  Rng rng = testing::test_rng();
  // A 1x1 layer (a GEMM on the input) and a 3x3 one (the unfolding GEMM), 4 images on 2 threads.
  const Case cases[] = {{4, 24, 13, 13, 19, 1, 1, 0, true, true}, {4, 40, 13, 11, 21, 3, 1, 1, true, false}};
  const int saved_threads = num_threads();
  for (const ops::CpuGemm gemm : {ops::CpuGemm::simad, ops::CpuGemm::bf16})
    for (const Case& c : cases) {
      if (gemm == ops::CpuGemm::bf16 && !ops::cpu::gemm_bf16_available()) continue;
      const bool bf16 = gemm == ops::CpuGemm::bf16;
      const std::string what = std::string(bf16 ? "bf16 " : "fp32 ") + name_of(c);
      const ops::Conv2dShape s = shape_of(c);
      const auto in = testing::random_vector<float>(rng, size_t(c.B * c.C * c.H * c.W));
      const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * c.K * c.K));
      const auto bias = testing::random_vector<float>(rng, size_t(c.O));
      const ops::ConvActivation act = c.leaky ? ops::ConvActivation::leaky : ops::ConvActivation::linear;
      std::vector<std::vector<float>> outs;
      for (const int threads : {1, 2}) {
        set_num_threads(threads);
        ops::set_cpu_gemm(gemm);
        const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(w.data(), s);
        std::vector<float> out(static_cast<size_t>(c.B * c.O * s.out_h() * s.out_w()));
        testing::poison(std::span<float>(out));
        ops::conv2d_forward(out.data(), in.data(), w.data(), bias.data(), s, act, static_cast<float*>(nullptr),
                            &packed);
        ops::set_cpu_gemm(ops::CpuGemm::simad);
        outs.push_back(out);
      }
      set_num_threads(saved_threads);
      check_reference(c, in, w, bias, outs[1], what, bf16);
      CHECK_MESSAGE(same_bits(outs[0], outs[1]), what, ": 1 and 2 threads differ");
      CHECK_MESSAGE(same_bits(outs[1], im2col_conv(c, in, w, bias.data(), bf16)), what, ": not im2col + GEMM's bits");
    }
}

TEST_CASE("ops/conv2d_implicit: with SIMAD_GEMM=bf16 conv2d_forward runs the bf16 form, with weights packed for it") {
  if (!ops::cpu::gemm_bf16_available()) {
    MESSAGE("skipped: this CPU has neither AVX512-BF16 nor AMX-BF16");
    return;
  }
  Rng rng = testing::test_rng();
  const Case c{1, 40, 13, 13, 33, 3, 1, 1, true, true};  // deep for the ring: the unfolding GEMM
  const ops::Conv2dShape s = shape_of(c);
  const auto in = testing::random_vector<float>(rng, size_t(c.C * c.H * c.W));
  const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * 9));
  const auto bias = testing::random_vector<float>(rng, size_t(c.O));
  ops::set_cpu_gemm(ops::CpuGemm::bf16);
  const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(w.data(), s);
  CHECK(packed.gemm.usable_for_bf16(c.O, c.C * 9));
  CHECK(ops::conv2d_float_path(s, ops::ConvActivation::leaky, &packed) == ops::Conv2dPath::implicit);
  std::vector<float> plain(static_cast<size_t>(c.O * s.out_h() * s.out_w())), pre(plain.size());
  testing::poison(std::span<float>(plain));
  testing::poison(std::span<float>(pre));
  ops::conv2d_forward(plain.data(), in.data(), w.data(), bias.data(), s, ops::ConvActivation::leaky);
  ops::conv2d_forward(pre.data(), in.data(), w.data(), bias.data(), s, ops::ConvActivation::leaky,
                      static_cast<float*>(nullptr), &packed);
  // A 1x1 layer: the plain bf16 GEMM, taking the packed weights too.
  const Case one{1, 24, 7, 9, 19, 1, 1, 0, true, true};
  const auto w1 = testing::random_vector<float>(rng, size_t(one.O * one.C));
  const ops::Conv2dPackedWeights packed1 = ops::pack_conv2d_weights(w1.data(), shape_of(one));
  CHECK(ops::conv2d_float_path(shape_of(one), ops::ConvActivation::leaky, &packed1) == ops::Conv2dPath::gemm);
  std::vector<float> one_plain(static_cast<size_t>(one.O * one.H * one.W)), one_pre(one_plain.size());
  testing::poison(std::span<float>(one_pre));
  ops::conv2d_forward(one_plain.data(), in.data(), w1.data(), bias.data(), shape_of(one), ops::ConvActivation::leaky);
  const std::vector<float> nan_w(w1.size(), std::numeric_limits<float>::quiet_NaN());  // prepacked: not read
  ops::conv2d_forward(one_pre.data(), in.data(), nan_w.data(), bias.data(), shape_of(one), ops::ConvActivation::leaky,
                      static_cast<float*>(nullptr), &packed1);
  // Batch 2 of small maps: image by image, as on the fp32 kernels (no joint im2col GEMM).
  Case batch2 = c;
  batch2.B = 2;
  const auto in2 = testing::random_vector<float>(rng, size_t(2 * c.C * c.H * c.W));
  CHECK_FALSE(ops::conv2d_joins_images<float>(shape_of(batch2)));
  CHECK(ops::conv2d_float_path(shape_of(batch2), ops::ConvActivation::leaky, &packed) == ops::Conv2dPath::implicit);
  std::vector<float> two(static_cast<size_t>(2 * c.O * s.out_h() * s.out_w()));
  testing::poison(std::span<float>(two));
  ops::conv2d_forward(two.data(), in2.data(), w.data(), bias.data(), shape_of(batch2), ops::ConvActivation::leaky,
                      static_cast<float*>(nullptr), &packed);
  ops::set_cpu_gemm(ops::CpuGemm::simad);
  CHECK_MESSAGE(same_bits(two, im2col_conv(batch2, in2, w, bias.data(), true)), "batch 2: not im2col + gemm_bf16's bits");
  check_reference(c, in, w, bias, plain, "conv2d_forward bf16 " + name_of(c), true);
  CHECK_MESSAGE(same_bits(plain, im2col_conv(c, in, w, bias.data(), true)), "not im2col + gemm_bf16's bits");
  CHECK_MESSAGE(same_bits(plain, pre), "the packed weights change the bits");
  check_reference(one, in, w1, bias, one_pre, "conv2d_forward bf16 prepacked " + name_of(one), true);
  CHECK_MESSAGE(same_bits(one_plain, one_pre), "the packed 1x1 weights change the bits");
}

namespace {

// ops::conv2d_forward on case c with simad's GEMM (whichever path c's shape takes) against the double
// reference and im2col + sgemm's bits, then with OpenBLAS (im2col) against the reference.
void check_forward_paths(Rng& rng, const Case& c) {
  const ops::Conv2dShape s = shape_of(c);
  const auto in = testing::random_vector<float>(rng, size_t(c.B * c.C * c.H * c.W));
  const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * c.K * c.K));
  const auto bias = testing::random_vector<float>(rng, size_t(c.O));
  const size_t n = static_cast<size_t>(c.B * c.O * s.out_h() * s.out_w());
  std::vector<float> simad_out(n), blas_out(n);
  testing::poison(std::span<float>(simad_out));
  testing::poison(std::span<float>(blas_out));
  ops::conv2d_forward(simad_out.data(), in.data(), w.data(), bias.data(), s, ops::ConvActivation::leaky);
  check_reference(c, in, w, bias, simad_out, "conv2d_forward " + ops::cpu_gemm_name() + " " + name_of(c));
  if (ops::cpu::sgemm_available())
    CHECK_MESSAGE(same_bits(simad_out, im2col_conv(c, in, w, bias.data())), name_of(c), ": not im2col's bits");
  ops::set_cpu_gemm(ops::CpuGemm::openblas);
  ops::conv2d_forward(blas_out.data(), in.data(), w.data(), bias.data(), s, ops::ConvActivation::leaky);
  ops::set_cpu_gemm(ops::CpuGemm::simad);
  check_reference(c, in, w, bias, blas_out, "conv2d_forward OpenBLAS " + name_of(c));
}

}  // namespace

TEST_CASE("ops/conv2d_implicit: conv2d_forward runs it where it suits, and OpenBLAS's im2col path agrees") {
  Rng rng = testing::test_rng();
  const Case c{1, 40, 13, 13, 33, 3, 1, 1, true, true};
  REQUIRE(ops::conv2d_implicit_suits(shape_of(c)));
  REQUIRE_FALSE(ops::conv2d_direct_suits(shape_of(c)));
  Case batch2 = c;
  batch2.B = 2;
  // Batch 2 of small maps: image by image on simad's fp32 GEMM, one joint im2col GEMM on OpenBLAS and in double.
  CHECK(ops::conv2d_implicit_suits(shape_of(batch2)) == ops::cpu::sgemm_available());
  CHECK(ops::conv2d_joins_images<float>(shape_of(batch2)) == !ops::cpu::sgemm_available());
  CHECK(ops::conv2d_joins_images<double>(shape_of(batch2)));
  ops::set_cpu_gemm(ops::CpuGemm::openblas);
  CHECK(ops::conv2d_joins_images<float>(shape_of(batch2)));
  CHECK_FALSE(ops::conv2d_implicit_suits(shape_of(batch2)));
  ops::set_cpu_gemm(ops::CpuGemm::simad);
  check_forward_paths(rng, batch2);
  CHECK_FALSE(ops::conv2d_implicit_suits(ops::Conv2dShape{1, 64, 13, 13, 8, 1, 1, 0}));  // 1x1: a plain GEMM
  check_forward_paths(rng, c);
}

TEST_CASE("ops/conv2d_direct: conv2d_forward runs it where it suits, and OpenBLAS's im2col path agrees") {
  Rng rng = testing::test_rng();
  const Case c{2, 3, 20, 67, 16, 3, 1, 1, true, true};  // 67 columns out: the direct path
  REQUIRE(ops::conv2d_direct_suits(shape_of(c)));
  CHECK_FALSE(ops::conv2d_direct_suits(ops::Conv2dShape{1, 256, 26, 26, 512, 3, 1, 1}));  // deep: the unfolding GEMM
  CHECK_FALSE(ops::conv2d_direct_suits(ops::Conv2dShape{1, 3, 64, 64, 8, 1, 1, 0}));      // 1x1: a plain GEMM
  check_forward_paths(rng, c);
}

TEST_CASE(
    "ops/conv2d_direct: the bf16 ring is exact on small integers, within the bound on bf16-rounded inputs, the same "
    "on 1 and 2 threads") {
  if (!ops::cpu::conv2d_direct_available()) {
    MESSAGE("skipped: this CPU has no AVX2 + FMA");
    return;
  }
  {  // Without AVX512-BF16 it says what it needs.
    ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::none);
    std::vector<float> buf(64);
    const std::string error = testing::error_of([&] {
      ops::cpu::conv2d_direct(buf.data(), buf.data(), 1, buf.data(), nullptr, true,
                              ops::cpu::DirectConvShape{1, 2, 2, 1, 3, 1, 1}, nullptr, nullptr, nullptr, true);
    });
    ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
    CHECK_MESSAGE(error.find("AVX512-BF16") != std::string::npos, error);
  }
  if (!ops::cpu::conv2d_direct_bf16_available()) {
    MESSAGE("skipped: this CPU has no AVX512-BF16");
    return;
  }
  Rng rng = testing::test_rng();
  std::vector<Case> cases(std::begin(kCases), std::end(kCases));
  cases.push_back(Case{1, 61, 5, 40, 15, 3, 1, 1, true, true});  // 31 channel pairs, 279 steps: two KC blocks
  cases.push_back(Case{2, 1, 6, 35, 5, 3, 2, 1, true, true});    // one channel: its pair's second is zero
  const int saved_threads = num_threads();
  for (const Case& c : cases) {
    const ops::Conv2dShape s = shape_of(c);
    const ops::cpu::DirectConvShape ds{c.C, c.H, c.W, c.O, c.K, c.S, c.P};
    const size_t n_in = size_t(c.B * c.C * c.H * c.W), n_w = size_t(c.O * c.C * c.K * c.K);
    const size_t n_out = size_t(c.B * c.O * s.out_h() * s.out_w());
    const auto in = testing::small_integers(rng, n_in, 8);
    const auto w = testing::small_integers(rng, n_w, 4);
    std::vector<float> bias = testing::small_integers(rng, size_t(c.O), 40);
    for (float& b : bias) b *= 0.25f;
    const float* bias_ptr = c.bias ? bias.data() : nullptr;
    const std::vector<float> want = testing::exact_conv(s, in, w, bias_ptr, c.leaky);
    const auto rin = testing::random_vector<float>(rng, n_in);
    const auto rw = testing::random_vector<float>(rng, n_w);
    const auto rbias = testing::random_vector<float>(rng, size_t(c.O), -2.0, 2.0);
    std::vector<float> first;
    for (const int threads : {1, 2}) {
      set_num_threads(threads);
      const std::string what = "bf16 ring " + name_of(c) + " threads " + std::to_string(threads);
      std::vector<float> out(n_out), rout(n_out);
      testing::poison(std::span<float>(out));
      testing::poison(std::span<float>(rout));
      ops::cpu::conv2d_direct(out.data(), in.data(), c.B, w.data(), bias_ptr, c.leaky, ds, nullptr, nullptr, nullptr,
                              true);
      int64_t bad = 0;
      for (size_t k = 0; k < n_out; ++k)
        if (!(out[k] == want[k]) && bad++ < 3) FAIL_CHECK(what, ": out[", k, "] = ", out[k], " expected ", want[k]);
      CHECK_MESSAGE(bad == 0, what, ": ", bad, " outputs not exact");
      ops::cpu::conv2d_direct(rout.data(), rin.data(), c.B, rw.data(), c.bias ? rbias.data() : nullptr, c.leaky, ds,
                              nullptr, nullptr, nullptr, true);
      check_reference(c, rin, rw, rbias, rout, what, true);
      if (threads == 1)
        first = rout;
      else
        CHECK_MESSAGE(same_bits(first, rout), what, ": 1 and 2 threads differ");
    }
  }
  set_num_threads(saved_threads);
}

// An image's output of 2^20 floats or more goes to memory with non-temporal stores where its vectors are
// 64-byte aligned (the 3-channel first layer's case): the same bits as im2col + GEMM (fp32, each ISA level) and
// the exact convolution on small integers (bf16), on 1 and 2 threads.
TEST_CASE("ops/conv2d_direct: a large output written with non-temporal stores has the same values") {
  if (!ops::cpu::conv2d_direct_available()) {
    MESSAGE("skipped: this CPU has no AVX2 + FMA");
    return;
  }
  Rng rng = testing::test_rng();
  const Case c{1, 3, 256, 256, 16, 3, 1, 1, true, true};  // 16 x 256 x 256 = 2^20 outputs
  const ops::Conv2dShape s = shape_of(c);
  const ops::cpu::DirectConvShape ds{c.C, c.H, c.W, c.O, c.K, c.S, c.P};
  const size_t n = size_t(c.O * s.out_h() * s.out_w());
  std::vector<float> buffer(n + 16);
  float* out = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buffer.data()) + 63) & ~uintptr_t(63));
  const std::span<float> out_span(out, n);
  const auto in = testing::small_integers(rng, size_t(c.C * c.H * c.W), 8);
  const auto w = testing::small_integers(rng, size_t(c.O * c.C * 9), 4);
  std::vector<float> bias = testing::small_integers(rng, size_t(c.O), 40);
  for (float& b : bias) b *= 0.25f;
  const std::vector<float> exact = testing::exact_conv(s, in, w, bias.data(), true);
  const std::vector<float> want_fp32 = im2col_conv(c, in, w, bias.data());
  const int saved_threads = num_threads();
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (cpu::Isa isa : testing::fp32_kernel_levels()) {
      cpu::IsaScope scope(isa);
      testing::poison(out_span);
      ops::cpu::conv2d_direct(out, in.data(), 1, w.data(), bias.data(), true, ds);
      CHECK_MESSAGE(std::memcmp(out, want_fp32.data(), n * sizeof(float)) == 0, cpu::isa_name(isa), " threads ",
                    threads, ": not im2col + GEMM's bits");
    }
    if (!ops::cpu::conv2d_direct_bf16_available()) continue;
    testing::poison(out_span);
    ops::cpu::conv2d_direct(out, in.data(), 1, w.data(), bias.data(), true, ds, nullptr, nullptr, nullptr, true);
    CHECK_MESSAGE(std::memcmp(out, exact.data(), n * sizeof(float)) == 0, "bf16 threads ", threads,
                  ": not the exact convolution");
  }
  set_num_threads(saved_threads);
}

TEST_CASE("ops/conv2d_direct: with SIMAD_GEMM=bf16 on AVX512-BF16 conv2d_forward runs the bf16 ring where the ring suits") {
  if (!ops::cpu::conv2d_direct_bf16_available()) {
    MESSAGE("skipped: this CPU has no AVX512-BF16");
    return;
  }
  Rng rng = testing::test_rng();
  const Case c{2, 5, 9, 130, 19, 3, 1, 1, true, true};  // 130 columns out, depth 45: the ring
  const ops::Conv2dShape s = shape_of(c);
  REQUIRE(ops::conv2d_direct_suits(s));
  const auto in = testing::random_vector<float>(rng, size_t(c.B * c.C * c.H * c.W));
  const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * 9));
  const auto bias = testing::random_vector<float>(rng, size_t(c.O));
  std::vector<float> want(static_cast<size_t>(c.B * c.O * s.out_h() * s.out_w())), plain(want.size()),
      pre(want.size());
  ops::cpu::conv2d_direct(want.data(), in.data(), c.B, w.data(), bias.data(), true,
                          ops::cpu::DirectConvShape{c.C, c.H, c.W, c.O, c.K, c.S, c.P}, nullptr, nullptr, nullptr,
                          true);
  testing::poison(std::span<float>(plain));
  testing::poison(std::span<float>(pre));
  ops::set_cpu_gemm(ops::CpuGemm::bf16);
  ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::avx512_bf16);  // an AMX CPU: its AVX512-BF16 kernel
  const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(w.data(), s);
  CHECK(ops::conv2d_ring(s) == ops::Conv2dRing::bf16);
  CHECK(ops::conv2d_float_path(s, ops::ConvActivation::leaky, &packed) == ops::Conv2dPath::ring);
  CHECK_FALSE(packed.gemm.usable_for_bf16(c.O, c.C * 9));  // the ring packs its own pairs of channels
  CHECK_FALSE(packed.gemm.usable_for(c.O, c.C * 9));
  ops::conv2d_forward(plain.data(), in.data(), w.data(), bias.data(), s, ops::ConvActivation::leaky);
  ops::conv2d_forward(pre.data(), in.data(), w.data(), bias.data(), s, ops::ConvActivation::leaky,
                      static_cast<float*>(nullptr), &packed);
  ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
  ops::set_cpu_gemm(ops::CpuGemm::simad);
  check_reference(c, in, w, bias, plain, "conv2d_forward bf16 ring " + name_of(c), true);
  CHECK_MESSAGE(same_bits(plain, want), "conv2d_forward: not the bf16 ring's bits");
  CHECK_MESSAGE(same_bits(pre, want), "conv2d_forward with prepared weights: not the bf16 ring's bits");
}

TEST_CASE("ops/conv2d_direct: with SIMAD_GEMM=bf16 on AMX the shallowest wide layers stay on the exact fp32 ring") {
  const ops::Conv2dShape wide{1, 3, 5, 130, 9, 3, 1, 1};  // 130 columns out, depth 27
  CHECK(ops::conv2d_direct_suits_amx(wide));
  CHECK_FALSE(ops::conv2d_direct_suits_amx(ops::Conv2dShape{1, 3, 20, 67, 16, 3, 1, 1}));   // narrower: AMX
  CHECK_FALSE(ops::conv2d_direct_suits_amx(ops::Conv2dShape{1, 64, 20, 208, 8, 3, 1, 1}));  // deeper: AMX
  if (ops::cpu::bf16_kernel() != ops::cpu::Bf16Kernel::amx) {
    MESSAGE("skipped: this CPU has no AMX-BF16");
    return;
  }
  Rng rng = testing::test_rng();
  const Case c{1, 3, 5, 130, 9, 3, 1, 1, true, true};
  const auto in = testing::random_vector<float>(rng, size_t(c.C * c.H * c.W));
  const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * 9));
  const auto bias = testing::random_vector<float>(rng, size_t(c.O));
  std::vector<float> out(static_cast<size_t>(c.O * wide.out_h() * wide.out_w()));
  testing::poison(std::span<float>(out));
  ops::set_cpu_gemm(ops::CpuGemm::bf16);
  CHECK(ops::conv2d_ring(wide) == ops::Conv2dRing::fp32);
  CHECK(ops::conv2d_ring(ops::Conv2dShape{1, 64, 20, 208, 8, 3, 1, 1}) == ops::Conv2dRing::none);
  ops::conv2d_forward(out.data(), in.data(), w.data(), bias.data(), wide, ops::ConvActivation::leaky);
  ops::set_cpu_gemm(ops::CpuGemm::simad);
  check_reference(c, in, w, bias, out, "conv2d_forward bf16 setting on AMX, shallow wide layer");
  CHECK_MESSAGE(same_bits(out, im2col_conv(c, in, w, bias.data())), "not the fp32 ring's bits");
}

namespace {

// The ways the ring runs: each fp32 level, then bf16 at the best level where the CPU has AVX512-BF16 (on
// its AVX512-BF16 kernel, which set() caps the bf16 kernels at; reset() undoes it).
struct RingMode {
  cpu::Isa isa;
  ops::CpuGemm gemm;
  std::string name() const { return gemm == ops::CpuGemm::bf16 ? "bf16" : cpu::isa_name(isa); }
  void set() const {
    ops::set_cpu_gemm(gemm);
    if (gemm == ops::CpuGemm::bf16) ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::avx512_bf16);
  }
  static void reset() {
    ops::set_cpu_gemm(ops::CpuGemm::simad);
    ops::cpu::set_bf16_kernel_cap(ops::cpu::Bf16Kernel::amx);
  }
};
std::vector<RingMode> ring_modes() {
  std::vector<RingMode> modes;
  for (cpu::Isa isa : testing::fp32_kernel_levels()) modes.push_back({isa, ops::CpuGemm::simad});
  if (ops::cpu::conv2d_direct_bf16_available()) modes.push_back({cpu::best_isa(), ops::CpuGemm::bf16});
  return modes;
}

}  // namespace

TEST_CASE("ops/conv2d_maxpool: the ring with its 2x2 pool in one pass gives the bits of conv2d_forward then maxpool2d") {
  Rng rng = testing::test_rng();
  struct PoolCase {
    Case conv;
    int64_t padding;  // the [maxpool]'s: 1 keeps a last odd row or column (alone), 0 drops it
  };
  const PoolCase cases[] = {
      {{2, 3, 13, 70, 17, 3, 1, 1, true, true}, 1},    // odd rows out: the last pooled row has one conv row
      {{1, 5, 12, 67, 30, 3, 1, 1, true, false}, 0},   // odd columns out, padding 0: the last column dropped
      {{1, 4, 15, 133, 16, 3, 2, 1, false, true}, 1},  // stride 2 (67 columns out), no bias
      {{2, 60, 6, 66, 9, 3, 1, 1, true, true}, 1},     // depth 540: two KC blocks before the pool
      {{1, 2, 3, 64, 5, 3, 1, 1, true, true}, 0},      // three rows out, padding 0: one pooled row
  };
  const int threads = num_threads();
  for (const PoolCase& pc : cases)
    for (const RingMode& mode : ring_modes())
      for (int t : {1, 2}) {
        const Case& c = pc.conv;
        const ops::Conv2dShape s = shape_of(c);
        const std::string what = name_of(c) + " pool padding " + std::to_string(pc.padding) + " " + mode.name() +
                                 " threads " + std::to_string(t);
        CAPTURE(what);
        cpu::IsaScope scope(mode.isa);
        set_num_threads(t);
        mode.set();
        const auto in = testing::random_vector<float>(rng, size_t(c.B * c.C * c.H * c.W));
        const auto w = testing::random_vector<float>(rng, size_t(c.O * c.C * c.K * c.K));
        const auto bias = testing::random_vector<float>(rng, size_t(c.O));
        const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(w.data(), s);
        const ops::ConvActivation act = c.leaky ? ops::ConvActivation::leaky : ops::ConvActivation::linear;
        const bool fusable = ops::conv2d_maxpool_fusable(s, act, &packed, 2, 2, pc.padding);
        CHECK(fusable);
        if (!fusable) {
          RingMode::reset();
          continue;
        }
        const int64_t Ho = s.out_h(), Wo = s.out_w();
        const int64_t Hp = ops::maxpool2d_out_size(Ho, 2, 2, pc.padding), Wp = ops::maxpool2d_out_size(Wo, 2, 2, pc.padding);
        std::vector<float> conv(size_t(c.B * c.O * Ho * Wo)), want(size_t(c.B * c.O * Hp * Wp)), got(want.size());
        testing::poison(std::span<float>(got));
        ops::conv2d_forward(conv.data(), in.data(), w.data(), c.bias ? bias.data() : nullptr, s, act,
                            static_cast<float*>(nullptr), &packed);
        ops::maxpool2d_forward(want.data(), conv.data(), c.B, c.O, Ho, Wo, 2, 2, pc.padding);
        ops::conv2d_maxpool_forward(got.data(), in.data(), w.data(), c.bias ? bias.data() : nullptr, s, act, &packed,
                                    pc.padding);
        RingMode::reset();
        CHECK_MESSAGE(same_bits(got, want), what, ": not the bits of the convolution then the pool");
      }
  set_num_threads(threads);
  // Where it does not run as one pass, it says so.
  const ops::Conv2dShape wide = shape_of(cases[0].conv), deep{1, 256, 26, 26, 512, 3, 1, 1};
  const ops::Conv2dPackedWeights none;
  CHECK_FALSE(ops::conv2d_maxpool_fusable(wide, ops::ConvActivation::leaky, &none, 2, 1, 1));  // stride 1 pool
  CHECK_FALSE(ops::conv2d_maxpool_fusable(wide, ops::ConvActivation::leaky, &none, 3, 2, 1));  // 3x3 pool
  CHECK_FALSE(ops::conv2d_maxpool_fusable(wide, ops::ConvActivation::leaky, &none, 2, 2, 2));  // an offset window
  CHECK_FALSE(ops::conv2d_maxpool_fusable(wide, ops::ConvActivation::logistic, &none, 2, 2, 1));
  CHECK_FALSE(ops::conv2d_maxpool_fusable(deep, ops::ConvActivation::leaky, &none, 2, 2, 1));  // not the ring
  std::vector<float> dummy(16);
  CHECK(testing::error_of([&] {
          ops::conv2d_maxpool_forward(dummy.data(), dummy.data(), dummy.data(), nullptr, deep,
                                      ops::ConvActivation::leaky, &none, 1);
        }).find("conv2d_maxpool_fusable") != std::string::npos);
}

TEST_CASE("ops/conv2d_residual: the ring adding the residual to each finished row gives the bits of conv2d_forward then a + b") {
  Rng rng = testing::test_rng();
  const Case cases[] = {
      {2, 3, 7, 70, 17, 3, 1, 1, true, true},   // 70 columns out: a narrow tile at the right edge, batch 2
      {1, 32, 5, 64, 64, 3, 1, 1, true, true},  // yolov3's 32-to-64 block before its first shortcut
      {1, 4, 9, 133, 20, 3, 2, 1, false, false},  // stride 2 (67 columns out), no bias, linear
      {1, 60, 4, 66, 9, 3, 1, 1, true, true},   // depth 540: two KC blocks before the row is finished
  };
  const int threads = num_threads();
  for (const Case& c : cases)
    for (const RingMode& mode : ring_modes())
      for (int t : {1, 2}) {
        const ops::Conv2dShape s = shape_of(c);
        const std::string what = name_of(c) + " " + mode.name() + " threads " + std::to_string(t);
        CAPTURE(what);
        cpu::IsaScope scope(mode.isa);
        set_num_threads(t);
        mode.set();
        const ops::ConvActivation act = c.leaky ? ops::ConvActivation::leaky : ops::ConvActivation::linear;
        const bool ring = ops::conv2d_float_path(s, act, nullptr) == ops::Conv2dPath::ring;
        // With the weights prepared beforehand and without: the same path, the same bits.
        const bool prepared = ring && testing::conv2d_residual_gives_conv_then_shortcut(rng, s, c.bias, act, true);
        const bool unprepared = ring && testing::conv2d_residual_gives_conv_then_shortcut(rng, s, c.bias, act, false);
        RingMode::reset();
        REQUIRE(ring);
        CHECK_MESSAGE(prepared, what, ": not the bits of the convolution then a + b");
        CHECK_MESSAGE(unprepared, what, ": unprepared weights: not the bits of the convolution then a + b");
      }
  set_num_threads(threads);
  // The ring refuses a residual beside a pool or in place of its output.
  if (!ops::cpu::conv2d_direct_available()) return;  // it would refuse the CPU first
  const Case c = cases[0];
  const ops::cpu::DirectConvShape ds{c.C, c.H, c.W, c.O, c.K, c.S, c.P};
  std::vector<float> buf(size_t(c.B * c.O * c.H * c.W) + size_t(c.B * c.C * c.H * c.W) + size_t(c.O * c.C * 9));
  const ops::cpu::DirectMaxPool2 pool{buf.data(), 2, 2};
  CHECK(testing::error_of([&] {
          ops::cpu::conv2d_direct(nullptr, buf.data(), c.B, buf.data(), nullptr, true, ds, nullptr, &pool, buf.data());
        }).find("residual") != std::string::npos);
  CHECK(testing::error_of([&] {
          ops::cpu::conv2d_direct(buf.data(), buf.data(), c.B, buf.data(), nullptr, true, ds, nullptr, nullptr,
                                  buf.data());
        }).find("residual") != std::string::npos);
}

}  // namespace SIMAD_TEST_FILE_ID
