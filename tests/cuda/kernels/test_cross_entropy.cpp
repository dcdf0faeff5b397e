// tests/cuda/kernels/test_cross_entropy.cpp: kernels/cross_entropy.cu under the SIMT emulator against
// the CPU op simad::ops::cross_entropy_{forward,backward} (itself tested against double references).
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/cross_entropy.hpp"
#include "simad/ops/cross_entropy.hpp"
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
const Shape kShapes[] = {{1, 1}, {1, 37}, {5, 1}, {9, 33}, {300, 10}, {3, 1000}, {2, 1025}, {3, 3001}};

constexpr double kAtol = 1e-6, kRtol = 1e-5;
constexpr int32_t kIgnore = -100;

// Random targets; ignored (kIgnore) with probability 1/4 when `ignore`; row 0 always counts.
std::vector<int32_t> make_targets(simad::Rng& rng, int64_t N, int64_t C, bool ignore) {
  std::vector<int32_t> tg(static_cast<std::size_t>(N));
  for (auto& x : tg) x = int32_t(rng.next_below(uint32_t(C)));
  if (ignore)
    for (std::size_t i = 1; i < tg.size(); ++i)
      if (rng.next_below(4) == 0) tg[i] = kIgnore;
  return tg;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("cuda/cross_entropy: forward matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes) {
    for (int ignore = 0; ignore < 2; ++ignore) {
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(ignore);
      const auto x = t::random_vector<float>(rng, std::size_t(s.N * s.C), -6.0, 6.0);
      const auto tg = make_targets(rng, s.N, s.C, ignore != 0);
      std::vector<float> want_p(x.size());
      const float want = simad::ops::cross_entropy_forward(want_p.data(), x.data(), tg.data(), s.N, s.C, kIgnore);
      Dev<float> dx(x);
      Dev<int32_t> dt(tg);
      auto dp = Dev<float>::poisoned(x.size());
      const float got = k::cross_entropy_forward(dp.ptr, dx.ptr, dt.ptr, s.N, s.C, kIgnore);
      t::check_close(std::vector<float>{got}, std::vector<float>{want}, kAtol, kRtol, "cross_entropy loss");
      t::check_close(dp.get(), want_p, kAtol, kRtol, "cross_entropy probs");
      // Without probs: the same loss.
      CHECK(k::cross_entropy_forward(nullptr, dx.ptr, dt.ptr, s.N, s.C, kIgnore) == got);
    }
  }
}

TEST_CASE("cuda/cross_entropy: every row ignored gives a zero loss and no gradient") {
  auto rng = t::test_rng();
  const int64_t N = 7, C = 13;
  const auto x = t::random_vector<float>(rng, std::size_t(N * C));
  const std::vector<int32_t> tg(std::size_t(N), 3);  // ignore index 3 here
  std::vector<float> want_p(x.size());
  simad::ops::cross_entropy_forward(want_p.data(), x.data(), tg.data(), N, C, 3);
  Dev<float> dx(x);
  Dev<int32_t> dt(tg);
  auto dp = Dev<float>::poisoned(x.size());
  CHECK(k::cross_entropy_forward(dp.ptr, dx.ptr, dt.ptr, N, C, 3) == 0.0f);
  t::check_close(dp.get(), want_p, kAtol, kRtol, "probs of ignored rows");
  const auto g0 = t::random_vector<float>(rng, x.size());
  Dev<float> dg(g0);
  k::cross_entropy_backward(dg.ptr, 1.0f, dp.ptr, dt.ptr, N, C, 3);
  CUDA_OK(cudaDeviceSynchronize());
  CHECK(same_bits(dg.get(), g0));
}

TEST_CASE("cuda/cross_entropy: backward accumulates and matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes) {
    CAPTURE(s.N);
    CAPTURE(s.C);
    const std::size_t n = std::size_t(s.N * s.C);
    const auto x = t::random_vector<float>(rng, n, -6.0, 6.0);
    const auto tg = make_targets(rng, s.N, s.C, true);
    std::vector<float> p(n);
    simad::ops::cross_entropy_forward(p.data(), x.data(), tg.data(), s.N, s.C, kIgnore);
    const auto g0 = t::random_vector<float>(rng, n);  // non-zero: backward accumulates
    std::vector<float> want = g0;
    simad::ops::cross_entropy_backward(want.data(), 0.75f, p.data(), tg.data(), s.N, s.C, kIgnore);
    Dev<float> dg(g0), dp(p);
    Dev<int32_t> dt(tg);
    k::cross_entropy_backward(dg.ptr, 0.75f, dp.ptr, dt.ptr, s.N, s.C, kIgnore);
    CUDA_OK(cudaDeviceSynchronize());
    t::check_close(dg.get(), want, kAtol, kRtol, "cross_entropy dlogits");
  }
  k::cross_entropy_backward(nullptr, 1.0f, nullptr, nullptr, 4, 5);  // null dlogits: nothing
}

TEST_CASE("cuda/cross_entropy: two runs give identical bits") {
  auto rng = t::test_rng();
  for (const Shape s : {Shape{300, 10}, Shape{3, 3001}}) {
    const std::size_t n = std::size_t(s.N * s.C);
    const auto x = t::random_vector<float>(rng, n, -6.0, 6.0);
    const auto tg = make_targets(rng, s.N, s.C, true);
    Dev<float> dx(x);
    Dev<int32_t> dt(tg);
    float loss[2];
    std::vector<float> p[2], g[2];
    for (int run = 0; run < 2; ++run) {
      auto dp = Dev<float>::poisoned(n);
      Dev<float> dg(std::vector<float>(n, 0.5f));
      loss[run] = k::cross_entropy_forward(dp.ptr, dx.ptr, dt.ptr, s.N, s.C, kIgnore);
      k::cross_entropy_backward(dg.ptr, 1.0f, dp.ptr, dt.ptr, s.N, s.C, kIgnore);
      CUDA_OK(cudaDeviceSynchronize());
      p[run] = dp.get(), g[run] = dg.get();
    }
    CHECK(std::memcmp(&loss[0], &loss[1], sizeof(float)) == 0);
    CHECK(same_bits(p[0], p[1]));
    CHECK(same_bits(g[0], g[1]));
  }
}

TEST_CASE("cuda/cross_entropy: a bad target throws naming the first bad row") {
  auto rng = t::test_rng();
  const int64_t N = 40, C = 9;
  const auto x = t::random_vector<float>(rng, std::size_t(N * C));
  for (const int32_t bad : {int32_t(C), int32_t(-1), int32_t(1000)}) {
    auto tg = make_targets(rng, N, C, true);
    tg[17] = bad;
    tg[31] = bad;
    Dev<float> dx(x), dp(x), dg(x);
    Dev<int32_t> dt(tg);
    std::string message;
    try {
      k::cross_entropy_forward(dp.ptr, dx.ptr, dt.ptr, N, C, kIgnore);
    } catch (const simad::Error& e) {
      message = e.what();
    }
    CHECK_MESSAGE(contains(message, "row 17 has target " + std::to_string(bad)), message);
    message.clear();
    try {
      k::cross_entropy_backward(dg.ptr, 1.0f, dp.ptr, dt.ptr, N, C, kIgnore);
    } catch (const simad::Error& e) {
      message = e.what();
    }
    CHECK_MESSAGE(contains(message, "row 17 has target " + std::to_string(bad)), message);
    CHECK(same_bits(dg.get(), x));  // nothing written
  }
  CHECK_THROWS_AS(k::cross_entropy_forward(nullptr, nullptr, nullptr, -1, 3), simad::Error);
  CHECK_THROWS_AS(k::cross_entropy_forward(nullptr, nullptr, nullptr, 2, 3), simad::Error);
  CHECK(k::cross_entropy_forward(nullptr, nullptr, nullptr, 0, 3) == 0.0f);
}
