// tests/cuda/kernels/test_embedding.cpp: what the op harness (tests/op_cases/cases_embedding.cpp) cannot
// express for kernels/embedding.cu: an id out of range and bad arguments throw before anything is written.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/embedding.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;

using t::Dev;
using t::same_bits;

std::vector<int32_t> make_ids(simad::Rng& rng, int64_t N, int64_t V) {
  std::vector<int32_t> ids(static_cast<std::size_t>(N));
  for (auto& x : ids) x = int32_t(rng.next_below(uint32_t(V)));
  return ids;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("cuda/embedding: an id out of range throws naming the first bad position before writing") {
  auto rng = t::test_rng();
  const int64_t N = 600, C = 5, V = 9;
  const auto table = t::random_vector<float>(rng, std::size_t(V * C));
  for (const int32_t bad : {int32_t(V), int32_t(-1), int32_t(1 << 30)}) {
    auto ids = make_ids(rng, N, V);
    ids[413] = bad;
    ids[577] = bad;
    Dev<float> dtab(table), dg(std::vector<float>(std::size_t(N * C), 1.0f));
    Dev<int32_t> dids(ids);
    auto dout = Dev<float>::poisoned(std::size_t(N * C));
    const std::string want = "id " + std::to_string(bad) + " at position 413 is out of range";
    std::string message;
    try {
      k::embedding_forward(dout.ptr, dids.ptr, dtab.ptr, N, C, V);
    } catch (const simad::Error& e) {
      message = e.what();
    }
    CHECK_MESSAGE(contains(message, want), message);
    message.clear();
    try {
      k::embedding_backward(dtab.ptr, dg.ptr, dids.ptr, N, C, V);
    } catch (const simad::Error& e) {
      message = e.what();
    }
    CHECK_MESSAGE(contains(message, want), message);
    CHECK(same_bits(dtab.get(), table));  // nothing written
    bool all_nan = true;
    for (const float v : dout.get()) all_nan = all_nan && v != v;
    CHECK(all_nan);
  }
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::embedding_forward(p, nullptr, p, 2, 3, 4), simad::Error);
  CHECK_THROWS_AS(k::embedding_forward(p, nullptr, p, 0, 3, 4, 4), simad::Error);  // padding id not in [0, V)
  CHECK_THROWS_AS(k::embedding_forward(p, nullptr, p, -1, 3, 4), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
