// tests/cuda/kernels/test_softmax.cpp: kernels/softmax.cu under the SIMT emulator against the CPU op
// simad::ops::softmax_{forward,backward} (itself tested against double references).
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/softmax.hpp"
#include "simad/ops/softmax.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;

using t::Dev;
using t::same_bits;

struct Shape {
  int64_t N, C;
};
// 1 row, 1 column, not multiples of 32 or of the block, rows longer than a warp row (1024) and than
// a block of 256 threads.
const Shape kShapes[] = {{1, 1}, {1, 37}, {5, 1}, {9, 33}, {3, 64}, {4, 1000}, {2, 1025}, {3, 3001}};

// Mask kinds: 0 none, 1 random with row 0 all-but-one padded and (N > 1) the last row all padded.
std::vector<uint8_t> make_mask(simad::Rng& rng, int64_t N, int64_t C) {
  std::vector<uint8_t> m(std::size_t(N * C));
  for (auto& x : m) x = rng.next_below(3) != 0;
  for (int64_t j = 0; j < C; ++j) m[std::size_t(j)] = 0;
  m[std::size_t(rng.next_below(uint32_t(C)))] = 1;
  if (N > 1)
    for (int64_t j = 0; j < C; ++j) m[std::size_t((N - 1) * C + j)] = 0;
  return m;
}

constexpr double kAtol = 1e-6, kRtol = 1e-5;

}  // namespace

TEST_CASE("cuda/softmax: forward matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes) {
    for (int masked = 0; masked < 2; ++masked) {
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(masked);
      const auto x = t::random_vector<float>(rng, std::size_t(s.N * s.C), -8.0, 8.0);
      const std::vector<uint8_t> mask = masked ? make_mask(rng, s.N, s.C) : std::vector<uint8_t>();
      std::vector<float> want(x.size());
      simad::ops::softmax_forward(want.data(), x.data(), masked ? mask.data() : nullptr, s.N, s.C);
      Dev<float> dx(x), dy = Dev<float>::poisoned(x.size());
      Dev<uint8_t> dm(masked ? mask : std::vector<uint8_t>{1});
      k::softmax_forward(dy.ptr, dx.ptr, masked ? dm.ptr : nullptr, s.N, s.C);
      CUDA_OK(cudaDeviceSynchronize());
      const auto got = dy.get();
      t::check_close(got, want, kAtol, kRtol, "softmax forward");
      if (masked && s.N > 1) {  // the fully padded row: exact zeros
        bool zeros = true;
        for (int64_t j = 0; j < s.C; ++j) zeros = zeros && got[std::size_t((s.N - 1) * s.C + j)] == 0.0f;
        CHECK(zeros);
      }
    }
  }
}

TEST_CASE("cuda/softmax: forward runs in place") {
  auto rng = t::test_rng();
  for (const Shape s : {Shape{6, 45}, Shape{2, 1500}}) {
    const auto x = t::random_vector<float>(rng, std::size_t(s.N * s.C), -4.0, 4.0);
    std::vector<float> want(x.size());
    simad::ops::softmax_forward(want.data(), x.data(), nullptr, s.N, s.C);
    Dev<float> dx(x);
    k::softmax_forward(dx.ptr, dx.ptr, nullptr, s.N, s.C);
    CUDA_OK(cudaDeviceSynchronize());
    t::check_close(dx.get(), want, kAtol, kRtol, "softmax forward in place");
  }
}

TEST_CASE("cuda/softmax: backward accumulates and matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes) {
    CAPTURE(s.N);
    CAPTURE(s.C);
    const std::size_t n = std::size_t(s.N * s.C);
    const auto x = t::random_vector<float>(rng, n, -3.0, 3.0);
    const auto mask = make_mask(rng, s.N, s.C);
    std::vector<float> y(n);
    simad::ops::softmax_forward(y.data(), x.data(), mask.data(), s.N, s.C);
    const auto dy = t::random_vector<float>(rng, n);
    const auto start = t::random_vector<float>(rng, n);  // non-zero: backward accumulates
    std::vector<float> want = start;
    simad::ops::softmax_backward(want.data(), dy.data(), y.data(), s.N, s.C);
    Dev<float> ddx(start), ddy(dy), dyy(y);
    k::softmax_backward(ddx.ptr, ddy.ptr, dyy.ptr, s.N, s.C);
    CUDA_OK(cudaDeviceSynchronize());
    t::check_close(ddx.get(), want, kAtol, kRtol, "softmax backward");
  }
  // A null dinp does nothing.
  k::softmax_backward(nullptr, nullptr, nullptr, 3, 5);
  CUDA_OK(cudaDeviceSynchronize());
}

TEST_CASE("cuda/softmax: two runs give identical bits") {
  auto rng = t::test_rng();
  for (const Shape s : {Shape{9, 33}, Shape{2, 3001}}) {
    const std::size_t n = std::size_t(s.N * s.C);
    const auto x = t::random_vector<float>(rng, n, -5.0, 5.0);
    const auto mask = make_mask(rng, s.N, s.C);
    const auto dy = t::random_vector<float>(rng, n);
    Dev<float> dx(x), ddy(dy);
    Dev<uint8_t> dm(mask);
    std::vector<float> y[2], g[2];
    for (int run = 0; run < 2; ++run) {
      Dev<float> dout = Dev<float>::poisoned(n), dg(std::vector<float>(n, 0.5f));
      k::softmax_forward(dout.ptr, dx.ptr, dm.ptr, s.N, s.C);
      k::softmax_backward(dg.ptr, ddy.ptr, dout.ptr, s.N, s.C);
      CUDA_OK(cudaDeviceSynchronize());
      y[run] = dout.get();
      g[run] = dg.get();
    }
    CHECK(same_bits(y[0], y[1]));
    CHECK(same_bits(g[0], g[1]));
  }
}

TEST_CASE("cuda/softmax: bad sizes throw and empty inputs do nothing") {
  CHECK_THROWS_AS(k::softmax_forward(nullptr, nullptr, nullptr, -1, 3), simad::Error);
  CHECK_THROWS_AS(k::softmax_forward(nullptr, nullptr, nullptr, 2, 3), simad::Error);
  CHECK_THROWS_AS(k::softmax_backward(reinterpret_cast<float*>(16), nullptr, nullptr, 2, 3), simad::Error);
  k::softmax_forward(nullptr, nullptr, nullptr, 0, 3);
  k::softmax_forward(nullptr, nullptr, nullptr, 3, 0);
  CUDA_OK(cudaDeviceSynchronize());
}
