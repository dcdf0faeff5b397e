// tests/cuda/kernels/test_cross_entropy.cpp: what the op harness (tests/op_cases/cases_cross_entropy.cpp)
// cannot express for kernels/cross_entropy.cu: bad targets and bad arguments throw.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/cross_entropy.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;

using t::Dev;
using t::same_bits;

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

}  // namespace SIMAD_TEST_FILE_ID
