// tests/cuda/kernels/test_cross_entropy.cpp: what the op harness (tests/op_cases/cases_cross_entropy.cpp)
// cannot express for kernels/cross_entropy.cu: bad targets and bad arguments throw; the deferred forms
// (loss on the device, caller's workspace, a device flag for bad targets) give the synchronous forms' bits.
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

TEST_CASE("cuda/cross_entropy: the deferred forms give the synchronous forms' bits and flag the first bad row") {
  auto rng = t::test_rng();
  const int64_t N = 300;
  for (const int64_t C : {int64_t(9), int64_t(1500)}) {  // a warp per row, a block per row
    CAPTURE(C);
    const auto x = t::random_vector<float>(rng, std::size_t(N * C), -4.0, 4.0);
    const auto g0 = t::random_vector<float>(rng, std::size_t(N * C));  // accumulated into
    auto tg = make_targets(rng, N, C, true);
    Dev<float> dx(x), probs_sync = Dev<float>::poisoned(x.size()), probs_def = Dev<float>::poisoned(x.size());
    Dev<float> g_sync(g0), g_def(g0), loss = Dev<float>::poisoned(1);
    Dev<int32_t> dt(tg);
    Dev<int> flag(std::vector<int>{-3});  // reset must overwrite it
    const size_t bytes = k::cross_entropy_workspace_bytes(N);
    CHECK(bytes >= std::size_t(N) * sizeof(double));  // the row losses are doubles
    auto ws = Dev<unsigned char>::poisoned(bytes);

    const float want = k::cross_entropy_forward(probs_sync.ptr, dx.ptr, dt.ptr, N, C, kIgnore);
    k::cross_entropy_backward(g_sync.ptr, 0.75f, probs_sync.ptr, dt.ptr, N, C, kIgnore);
    k::cross_entropy_reset_bad_row(flag.ptr);
    k::cross_entropy_forward_deferred(loss.ptr, probs_def.ptr, dx.ptr, dt.ptr, N, C, kIgnore, flag.ptr, ws.ptr, bytes);
    k::cross_entropy_backward_deferred(g_def.ptr, 0.75f, probs_def.ptr, dt.ptr, N, C, kIgnore, flag.ptr, ws.ptr,
                                       bytes);
    CUDA_OK(cudaDeviceSynchronize());
    CHECK(same_bits(loss.get(), std::vector<float>{want}));
    CHECK(same_bits(probs_def.get(), probs_sync.get()));
    CHECK(same_bits(g_def.get(), g_sync.get()));
    CHECK(flag.get()[0] == k::cross_entropy_no_bad_row);
    CHECK_NOTHROW(k::cross_entropy_check_bad_row("x", k::cross_entropy_no_bad_row, dt.ptr, C, kIgnore));

    // Bad targets at rows 211 and 97: the flag holds 97 after either call; the message is the synchronous one.
    tg[211] = int32_t(C);
    tg[97] = -1;
    Dev<int32_t> dbad(tg);
    for (const bool forward : {true, false}) {
      k::cross_entropy_reset_bad_row(flag.ptr);
      if (forward)
        k::cross_entropy_forward_deferred(loss.ptr, probs_def.ptr, dx.ptr, dbad.ptr, N, C, kIgnore, flag.ptr, ws.ptr,
                                          bytes);
      else
        k::cross_entropy_backward_deferred(g_def.ptr, 0.75f, probs_def.ptr, dbad.ptr, N, C, kIgnore, flag.ptr, ws.ptr,
                                           bytes);
      CUDA_OK(cudaDeviceSynchronize());
      const int first_bad = flag.get()[0];
      CHECK(first_bad == 97);
      std::string message;
      try {
        k::cross_entropy_check_bad_row("cuda cross_entropy_forward_deferred", first_bad, dbad.ptr, C, kIgnore);
      } catch (const simad::Error& e) {
        message = e.what();
      }
      CHECK_MESSAGE(contains(message, "row 97 has target -1"), message);
    }
    // A workspace one byte short, a null flag or loss: refused before anything runs.
    CHECK_THROWS_AS(k::cross_entropy_forward_deferred(loss.ptr, probs_def.ptr, dx.ptr, dt.ptr, N, C, kIgnore, flag.ptr,
                                                      ws.ptr, bytes - 1),
                    simad::Error);
    CHECK_THROWS_AS(k::cross_entropy_forward_deferred(loss.ptr, probs_def.ptr, dx.ptr, dt.ptr, N, C, kIgnore, nullptr,
                                                      ws.ptr, bytes),
                    simad::Error);
    CHECK_THROWS_AS(k::cross_entropy_forward_deferred(nullptr, probs_def.ptr, dx.ptr, dt.ptr, N, C, kIgnore, flag.ptr,
                                                      ws.ptr, bytes),
                    simad::Error);
    CHECK_THROWS_AS(k::cross_entropy_backward_deferred(g_def.ptr, 1.0f, probs_def.ptr, dt.ptr, N, C, kIgnore, flag.ptr,
                                                       nullptr, bytes),
                    simad::Error);
  }
  CHECK_THROWS_AS(k::cross_entropy_reset_bad_row(nullptr), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
