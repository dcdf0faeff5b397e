// tests/cuda/kernels/test_conv2d.cpp: what the op harness (tests/op_cases/cases_darknet_layers.cpp) does not
// cover for kernels/conv2d.cu:
// - the bf16 tensor-core forward (ConvMath::bf16_tensor_cores, both tile sides). On inputs and weights that are bf16 already
//   (rounded here), its products are exact and only the float sums round: it must match a naive double
//   convolution within 1e-5 + 1e-5 |ref|, which any mix-up of the mma fragments' rows, columns or halves
//   fails by far. On unrounded inputs it must give the naive convolution of their nearest bf16 values (and
//   so differ from the fp32 kernel). Shapes: filters past one and two tiles (64), depths that are not multiples
//   of the slice (16), stride 2, 1x1, batches.
// - the fused [shortcut] (residual, linear and leaky) against the CPU convolution followed by the CPU
//   shortcut op;
// - bad arguments throw before anything runs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "device_buffer.hpp"
#include "simad/core/dtype.hpp"
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/conv2d.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/ops/shortcut.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace ck = simad::cuda::kernels;
namespace t = simad::testing;
using simad::ops::Conv2dShape;
using simad::ops::ConvActivation;
using t::Dev;

// The bf16 nearest to x (ties to even), as a float (the CPU's conversion, core/dtype.hpp).
float round_to_bf16(float x) { return simad::bf16_to_float(simad::float_to_bf16(x)); }

// act(bias + sum weight * inp), in double.
std::vector<double> naive_conv(const std::vector<float>& inp, const std::vector<float>& weight,
                               const std::vector<float>& bias, const Conv2dShape& s, ConvActivation act) {
  const int64_t Ho = s.out_h(), Wo = s.out_w();
  std::vector<double> out(size_t(s.B * s.O * Ho * Wo));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t y = 0; y < Ho; ++y)
        for (int64_t x = 0; x < Wo; ++x) {
          double acc = bias[size_t(o)];
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t i = 0; i < s.K; ++i)
              for (int64_t j = 0; j < s.K; ++j) {
                const int64_t iy = y * s.stride - s.pad + i, ix = x * s.stride - s.pad + j;
                if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                acc += double(weight[size_t(((o * s.C + c) * s.K + i) * s.K + j)]) *
                       double(inp[size_t(((b * s.C + c) * s.H + iy) * s.W + ix)]);
              }
          if (act == ConvActivation::leaky && acc <= 0) acc *= 0.1;
          if (act == ConvActivation::logistic) acc = 1.0 / (1.0 + std::exp(-acc));
          out[size_t(((b * s.O + o) * Ho + y) * Wo + x)] = acc;
        }
  return out;
}

const Conv2dShape kShapes[] = {{2, 3, 9, 7, 70, 3, 2, 1},
                               {1, 40, 6, 6, 7, 3, 1, 1},
                               {2, 33, 13, 13, 65, 1, 1, 0},
                               {1, 20, 9, 11, 130, 3, 1, 1}};

std::vector<float> run(const std::vector<float>& inp, const std::vector<float>& weight,
                       const std::vector<float>& bias, const Conv2dShape& s, ConvActivation act, ck::ConvMath math) {
  Dev<float> din(inp), dw(weight), db(bias);
  auto dout = Dev<float>::poisoned(size_t(s.B * s.O * s.out_h() * s.out_w()));
  ck::conv2d_forward(dout.ptr, din.ptr, dw.ptr, db.ptr, s, act, nullptr, false, math);
  CUDA_OK(cudaDeviceSynchronize());
  return dout.get();
}

}  // namespace

TEST_CASE("cuda/conv2d: the bf16 tensor-core forward is exact on bf16 inputs up to float sums") {
  auto rng = t::test_rng();
  for (const Conv2dShape& s : kShapes) {
    for (const ConvActivation act : {ConvActivation::linear, ConvActivation::leaky}) {
      const std::string what = "B=" + std::to_string(s.B) + " C=" + std::to_string(s.C) + " O=" + std::to_string(s.O) +
                               " K=" + std::to_string(s.K) + " S=" + std::to_string(s.stride) +
                               (act == ConvActivation::leaky ? " leaky" : " linear");
      auto inp = t::random_vector<float>(rng, size_t(s.B * s.C * s.H * s.W));
      auto weight = t::random_vector<float>(rng, size_t(s.O * s.C * s.K * s.K), -0.5, 0.5);
      const auto bias = t::random_vector<float>(rng, size_t(s.O));
      for (auto& v : inp) v = round_to_bf16(v);
      for (auto& v : weight) v = round_to_bf16(v);
      const auto want = naive_conv(inp, weight, bias, s, act);
      // Chosen by size (64 x 64 at these sizes), and each tile side forced.
      for (const ck::ConvMath math : {ck::ConvMath::bf16_tensor_cores, ck::ConvMath::bf16_tensor_cores_64,
                                      ck::ConvMath::bf16_tensor_cores_128})
        t::check_close(run(inp, weight, bias, s, act, math), want, 1e-5, 1e-5,
                       what + " bf16 inputs, math " + std::to_string(int(math)));
    }
  }
}

TEST_CASE("cuda/conv2d: the bf16 tensor-core forward rounds its inputs to the nearest bf16") {
  auto rng = t::test_rng();
  for (const Conv2dShape& s : kShapes) {
    const auto inp = t::random_vector<float>(rng, size_t(s.B * s.C * s.H * s.W));
    const auto weight = t::random_vector<float>(rng, size_t(s.O * s.C * s.K * s.K), -0.5, 0.5);
    const auto bias = t::random_vector<float>(rng, size_t(s.O));
    auto inp_bf16 = inp, weight_bf16 = weight;
    for (auto& v : inp_bf16) v = round_to_bf16(v);
    for (auto& v : weight_bf16) v = round_to_bf16(v);
    // The kernel, given the unrounded values, computes the convolution of the rounded ones (truncating
    // instead of rounding to nearest fails this), which is not the fp32 kernel's.
    const auto bf16 = run(inp, weight, bias, s, ConvActivation::linear, ck::ConvMath::bf16_tensor_cores);
    const auto want = naive_conv(inp_bf16, weight_bf16, bias, s, ConvActivation::linear);
    t::check_close(bf16, want, 1e-5, 1e-5, "bf16 of unrounded inputs");
    t::check_close(run(inp, weight, bias, s, ConvActivation::linear, ck::ConvMath::bf16_tensor_cores_128), want,
                   1e-5, 1e-5, "bf16 of unrounded inputs, 128 x 128 tiles");
    const auto fp32 = run(inp, weight, bias, s, ConvActivation::linear, ck::ConvMath::fp32);
    double worst = 0;
    for (size_t i = 0; i < fp32.size(); ++i) worst = std::max(worst, double(std::fabs(bf16[i] - fp32[i])));
    CHECK(worst > 1e-4);
  }
}

TEST_CASE("cuda/conv2d: a fused shortcut equals the convolution followed by the shortcut op") {
  auto rng = t::test_rng();
  const Conv2dShape s{2, 12, 10, 9, 70, 3, 1, 1};
  const size_t n = size_t(s.B * s.O * s.out_h() * s.out_w());
  const auto inp = t::random_vector<float>(rng, size_t(s.B * s.C * s.H * s.W));
  const auto weight = t::random_vector<float>(rng, size_t(s.O * s.C * s.K * s.K), -0.5, 0.5);
  const auto bias = t::random_vector<float>(rng, size_t(s.O));
  const auto residual = t::random_vector<float>(rng, n, -2.0, 2.0);
  Dev<float> din(inp), dw(weight), db(bias), dres(residual);
  for (const ConvActivation act : {ConvActivation::leaky, ConvActivation::logistic})
    for (const bool leaky : {false, true}) {
      CAPTURE(leaky);
      std::vector<float> conv(n), want(n);
      simad::ops::conv2d_forward(conv.data(), inp.data(), weight.data(), bias.data(), s, act);
      simad::ops::shortcut_forward(want.data(), conv.data(), residual.data(), int64_t(n), leaky);
      for (const ck::ConvMath math : {ck::ConvMath::fp32, ck::ConvMath::bf16_tensor_cores}) {
        auto dout = Dev<float>::poisoned(n);
        ck::conv2d_forward(dout.ptr, din.ptr, dw.ptr, db.ptr, s, act, dres.ptr, leaky, math);
        CUDA_OK(cudaDeviceSynchronize());
        const bool exact = math == ck::ConvMath::fp32;
        t::check_close(dout.get(), want, exact ? 1e-5 : 5e-2, exact ? 1e-5 : 2e-2,
                       exact ? "fused shortcut fp32" : "fused shortcut bf16");
      }
    }
}

TEST_CASE("cuda/conv2d: the weight gradient's split-K matches the CPU, the same bits every run") {
  // A shallow layer (3 filters of 3 x 3 x 3: one 64 x 64 tile) over a long reduction (2 x 40 x 38 pixels: 190
  // slices, so 5 parts), and a deep one that needs no split.
  auto rng = t::test_rng();
  const Conv2dShape shallow{2, 3, 40, 38, 3, 3, 1, 1}, deep{1, 64, 4, 4, 130, 3, 1, 1};
  CHECK(ck::conv2d_backward_workspace_bytes(shallow) == 5 * 3 * 27 * sizeof(float));
  CHECK(ck::conv2d_backward_workspace_bytes(deep) == 0);
  for (const Conv2dShape& s : {shallow, deep}) {
    CAPTURE(s.C);
    const size_t nw = size_t(s.O * s.C * s.K * s.K), no = size_t(s.B * s.O * s.out_h() * s.out_w());
    const auto inp = t::random_vector<float>(rng, size_t(s.B * s.C * s.H * s.W));
    const auto dout = t::random_vector<float>(rng, no);
    const auto start = t::random_vector<float>(rng, nw);  // the gradient is added to what is there
    std::vector<float> want = start;
    simad::ops::conv2d_backward(static_cast<float*>(nullptr), want.data(), static_cast<float*>(nullptr), dout.data(),
                                inp.data(), static_cast<const float*>(nullptr), s);
    Dev<float> din(inp), ddout(dout);
    auto run = [&](bool own_workspace) {
      Dev<float> dw(start);
      const size_t bytes = ck::conv2d_backward_workspace_bytes(s);
      Dev<unsigned char> ws(std::vector<unsigned char>(std::max<size_t>(bytes, 1), 0xff));  // poisoned
      if (own_workspace)
        ck::conv2d_backward(nullptr, dw.ptr, nullptr, ddout.ptr, din.ptr, nullptr, s, bytes ? ws.ptr : nullptr, bytes);
      else
        ck::conv2d_backward(nullptr, dw.ptr, nullptr, ddout.ptr, din.ptr, nullptr, s);
      CUDA_OK(cudaDeviceSynchronize());
      return dw.get();
    };
    const auto first = run(false);
    t::check_close(first, want, 1e-4, 1e-4, "dweight");  // sums of 3,040 products, in another order
    CHECK(t::same_bits(run(false), first));
    CHECK(t::same_bits(run(true), first));
  }
  Dev<float> x(std::vector<float>(size_t(2 * 3 * 40 * 38), 0.5f)), dw(std::vector<float>(81, 0.0f));
  Dev<unsigned char> small(std::vector<unsigned char>(16, 0));
  CHECK_THROWS_AS(ck::conv2d_backward(nullptr, dw.ptr, nullptr, x.ptr, x.ptr, nullptr, shallow, small.ptr, 16),
                  simad::Error);  // the workspace is too small
}

TEST_CASE("cuda/conv2d: bad arguments throw before anything runs") {
  float* p = reinterpret_cast<float*>(16);
  const Conv2dShape ok{1, 2, 5, 5, 3, 3, 1, 1};
  CHECK_THROWS_AS(ck::conv2d_forward(nullptr, p, p, p, ok, ConvActivation::leaky), simad::Error);
  CHECK_THROWS_AS(ck::conv2d_forward(p, p, p, p, Conv2dShape{1, 2, 2, 2, 3, 5, 1, 0}, ConvActivation::leaky),
                  simad::Error);  // kernel larger than the padded input
  CHECK_THROWS_AS(ck::conv2d_forward(p, p, p, p, ok, ConvActivation(7)), simad::Error);
  CHECK_THROWS_AS(ck::conv2d_forward(p, p, p, p, Conv2dShape{1 << 16, 1 << 10, 64, 64, 3, 3, 1, 1},
                                     ConvActivation::leaky),
                  simad::Error);  // beyond 32-bit offsets
  CHECK_THROWS_AS(ck::conv2d_backward(p, nullptr, nullptr, nullptr, p, p, ok), simad::Error);  // no dout
  CHECK_THROWS_AS(ck::conv2d_backward(p, nullptr, nullptr, p, p, nullptr, ok), simad::Error);  // dinp, no weight
  CHECK_NOTHROW(ck::conv2d_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, ok));  // nothing asked
}

}  // namespace SIMAD_TEST_FILE_ID
