// tests/cuda/kernels/test_embedding.cpp: kernels/embedding.cu under the SIMT emulator against the CPU
// op simad::ops::embedding_{forward,backward} (itself tested against double references).
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/embedding.hpp"
#include "simad/ops/embedding.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;

using t::Dev;
using t::same_bits;

struct Shape {
  int64_t N, C, V;
};
// 1 position, 1 column, widths that are not multiples of 32, rows wider than a warp, many repeats of
// few ids (V = 3, 7) for the atomic scatter-add.
const Shape kShapes[] = {{1, 1, 1}, {1, 37, 4}, {5, 1, 3}, {37, 33, 7}, {300, 20, 7}, {9, 1000, 5}, {4, 70, 100}};

std::vector<int32_t> make_ids(simad::Rng& rng, int64_t N, int64_t V) {
  std::vector<int32_t> ids(static_cast<std::size_t>(N));
  for (auto& x : ids) x = int32_t(rng.next_below(uint32_t(V)));
  return ids;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("cuda/embedding: forward matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes) {
    for (const int32_t padding : {int32_t(-1), int32_t(0), int32_t(s.V - 1)}) {
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(s.V);
      CAPTURE(padding);
      const auto table = t::random_vector<float>(rng, std::size_t(s.V * s.C));
      const auto ids = make_ids(rng, s.N, s.V);
      std::vector<float> want(std::size_t(s.N * s.C));
      simad::ops::embedding_forward(want.data(), ids.data(), table.data(), s.N, s.C, s.V, padding);
      Dev<float> dtab(table);
      Dev<int32_t> dids(ids);
      auto dout = Dev<float>::poisoned(want.size());
      k::embedding_forward(dout.ptr, dids.ptr, dtab.ptr, s.N, s.C, s.V, padding);
      CUDA_OK(cudaDeviceSynchronize());
      CHECK(same_bits(dout.get(), want));  // a copy: exact
    }
  }
}

TEST_CASE("cuda/embedding: backward accumulates and matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes) {
    for (const int32_t padding : {int32_t(-1), int32_t(s.V / 2)}) {
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(s.V);
      CAPTURE(padding);
      const auto ids = make_ids(rng, s.N, s.V);
      const auto dout = t::random_vector<float>(rng, std::size_t(s.N * s.C));
      const auto d0 = t::random_vector<float>(rng, std::size_t(s.V * s.C));  // non-zero: accumulates
      std::vector<float> want = d0;
      simad::ops::embedding_backward(want.data(), dout.data(), ids.data(), s.N, s.C, s.V, padding);
      Dev<float> dtab(d0), dg(dout);
      Dev<int32_t> dids(ids);
      k::embedding_backward(dtab.ptr, dg.ptr, dids.ptr, s.N, s.C, s.V, padding);
      CUDA_OK(cudaDeviceSynchronize());
      // Atomic additions in another order than the CPU's serial loop: up to ~100 terms per element.
      t::check_close(dtab.get(), want, 1e-5, 1e-5, "embedding dtable");
      if (padding >= 0) {  // the padding row received nothing
        const auto got = dtab.get();
        CHECK(std::memcmp(got.data() + padding * s.C, d0.data() + padding * s.C, std::size_t(s.C) * sizeof(float)) ==
              0);
      }
    }
  }
  k::embedding_backward(nullptr, nullptr, nullptr, 3, 4, 5);  // null dtable: nothing
}

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
