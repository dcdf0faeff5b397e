// tests/cuda/kernels/test_attention.cpp: kernels/attention.cu under the SIMT emulator against the CPU
// op simad::ops::attention_{forward,backward} (itself tested against a double reference). Small
// shapes that still hit the edges: N = 1, N not a multiple of the 32-row tile, two and three tiles,
// head sizes 1..64 (the kernel's limit), a fully padded sequence and one with a single token.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/attention.hpp"
#include "simad/ops/attention.hpp"
#include "device_buffer.hpp"
#include "masks.hpp"
#include "testing.hpp"

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;

using t::Dev;

struct Shape {
  int64_t B, N, C, NH;
};
const Shape kShapes[] = {{1, 1, 4, 1}, {4, 33, 16, 2}, {4, 17, 64, 1}, {2, 70, 8, 8}, {5, 9, 12, 4}};

constexpr double kAtol = 2e-6, kRtol = 2e-5;

}  // namespace

TEST_CASE("cuda/attention: forward matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes)
    for (int masked = 0; masked < 2; ++masked) {
      CAPTURE(s.B);
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(s.NH);
      CAPTURE(masked);
      const auto qkv = t::random_vector<float>(rng, size_t(s.B * s.N * 3 * s.C), -2.0, 2.0);
      const auto mask = t::prefix_padding_mask(rng, s.B, s.N);
      const uint8_t* m = masked ? mask.data() : nullptr;
      std::vector<float> want(size_t(s.B * s.N * s.C)), want_lse(size_t(s.B * s.NH * s.N));
      simad::ops::attention_forward(want.data(), want_lse.data(), qkv.data(), m, s.B, s.N, s.C, s.NH);
      Dev<float> dqkv(qkv), dout = Dev<float>::poisoned(want.size()), dlse = Dev<float>::poisoned(want_lse.size());
      Dev<uint8_t> dm(mask);
      k::attention_forward(dout.ptr, dlse.ptr, dqkv.ptr, masked ? dm.ptr : nullptr, s.B, s.N, s.C, s.NH);
      CUDA_OK(cudaDeviceSynchronize());
      t::check_close(dout.get(), want, kAtol, kRtol, "attention out");
      t::check_close(dlse.get(), want_lse, kAtol, kRtol, "attention lse");  // +inf must match exactly
    }
}

TEST_CASE("cuda/attention: backward accumulates and matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes) {
    CAPTURE(s.N);
    CAPTURE(s.C);
    CAPTURE(s.NH);
    const size_t n_qkv = size_t(s.B * s.N * 3 * s.C), n_out = size_t(s.B * s.N * s.C);
    const auto qkv = t::random_vector<float>(rng, n_qkv, -2.0, 2.0);
    const auto mask = t::prefix_padding_mask(rng, s.B, s.N);
    std::vector<float> out(n_out), lse(size_t(s.B * s.NH * s.N));
    simad::ops::attention_forward(out.data(), lse.data(), qkv.data(), mask.data(), s.B, s.N, s.C, s.NH);
    const auto dy = t::random_vector<float>(rng, n_out);
    const auto start = t::random_vector<float>(rng, n_qkv);  // non-zero: backward accumulates
    std::vector<float> want = start;
    simad::ops::attention_backward(want.data(), dy.data(), qkv.data(), out.data(), lse.data(), mask.data(), s.B, s.N,
                                   s.C, s.NH);
    Dev<float> dg(start), ddy(dy), dqkv(qkv), dout(out), dlse(lse);
    Dev<uint8_t> dm(mask);
    k::attention_backward(dg.ptr, ddy.ptr, dqkv.ptr, dout.ptr, dlse.ptr, dm.ptr, s.B, s.N, s.C, s.NH);
    CUDA_OK(cudaDeviceSynchronize());
    t::check_close(dg.get(), want, 1e-5, 1e-4, "attention dqkv");
  }
  k::attention_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 2, 3, 4, 1);  // null dqkv: nothing
  CUDA_OK(cudaDeviceSynchronize());
}

TEST_CASE("cuda/attention: two runs give identical bits") {
  auto rng = t::test_rng();
  const Shape s{3, 40, 16, 4};
  const auto qkv = t::random_vector<float>(rng, size_t(s.B * s.N * 3 * s.C));
  const auto dy = t::random_vector<float>(rng, size_t(s.B * s.N * s.C));
  const auto mask = t::prefix_padding_mask(rng, s.B, s.N);
  Dev<float> dqkv(qkv), ddy(dy);
  Dev<uint8_t> dm(mask);
  std::vector<float> o[2], g[2];
  for (int run = 0; run < 2; ++run) {
    Dev<float> dout = Dev<float>::poisoned(dy.size()), dlse = Dev<float>::poisoned(size_t(s.B * s.NH * s.N));
    Dev<float> dg(std::vector<float>(qkv.size(), 0.5f));
    k::attention_forward(dout.ptr, dlse.ptr, dqkv.ptr, dm.ptr, s.B, s.N, s.C, s.NH);
    k::attention_backward(dg.ptr, ddy.ptr, dqkv.ptr, dout.ptr, dlse.ptr, dm.ptr, s.B, s.N, s.C, s.NH);
    CUDA_OK(cudaDeviceSynchronize());
    o[run] = dout.get();
    g[run] = dg.get();
  }
  CHECK(t::same_bits(o[0], o[1]));
  CHECK(t::same_bits(g[0], g[1]));
}

TEST_CASE("cuda/attention: bad sizes throw and empty inputs do nothing") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::attention_forward(p, p, p, nullptr, 1, 2, 6, 4), simad::Error);     // 4 does not divide 6
  CHECK_THROWS_AS(k::attention_forward(p, p, p, nullptr, 1, 2, 130, 1), simad::Error);   // head size above 64
  CHECK_THROWS_AS(k::attention_forward(nullptr, p, p, nullptr, 1, 2, 8, 1), simad::Error);
  CHECK_THROWS_AS(k::attention_backward(p, nullptr, p, p, p, nullptr, 1, 2, 8, 1), simad::Error);
  k::attention_forward(nullptr, nullptr, nullptr, nullptr, 0, 3, 8, 2);
  CUDA_OK(cudaDeviceSynchronize());
}
