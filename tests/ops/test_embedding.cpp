// Tests of include/simad/ops/embedding.hpp: lookup against the reference tier, the padding id (zeros out,
// no gradient), out-of-range ids (an Error naming the position and the value, nothing written),
// finite-difference backward with accumulation, and the scatter-add's determinism across thread
// counts (bitwise equal to the tier's serial loop on both of its schedules).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/core/parallel.hpp"
#include "simad/ops/embedding.hpp"
#include "simad/ops/reference/embedding.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

std::vector<int32_t> random_ids(Rng& rng, int64_t N, int64_t V) {
  std::vector<int32_t> ids(static_cast<size_t>(N));
  for (auto& id : ids) id = int32_t(rng.next_below(uint32_t(V)));
  return ids;
}

template <typename T>
void check_forward() {
  auto rng = testing::test_rng();
  struct Dims {
    int64_t N, C, V;
  };
  for (const Dims d : {Dims{1, 1, 1}, Dims{37, 19, 11}, Dims{100, 130, 7}, Dims{5, 1, 1000}, Dims{1, 33, 2}})
    for (int32_t padding_id : {-1, 0, int32_t(d.V - 1)}) {
      const auto table = testing::random_vector<T>(rng, size_t(d.V * d.C));
      auto ids = random_ids(rng, d.N, d.V);
      ids[0] = int32_t(d.V - 1);  // the padding id (when there is one) appears at least once
      std::vector<T> out(size_t(d.N * d.C));
      testing::poison(std::span<T>(out));
      ops::embedding_forward(out.data(), ids.data(), table.data(), d.N, d.C, d.V, padding_id);
      std::vector<T> want(out.size());
      ops::reference::embedding_forward(want.data(), ids.data(), table.data(), d.N, d.C, d.V, padding_id);
      const std::vector<double> expected(want.begin(), want.end());
      // A lookup copies: exact.
      testing::check_close(out, expected, 0.0, 0.0,
                           "embedding_forward N=" + std::to_string(d.N) + " C=" + std::to_string(d.C) +
                               " V=" + std::to_string(d.V) + " padding_id=" + std::to_string(padding_id));
    }
}

}  // namespace

TEST_CASE("ops/embedding: forward copies the table rows, the padding id gives zeros") {
  check_forward<float>();
  check_forward<double>();
}

TEST_CASE("ops/embedding: out-of-range ids throw an Error naming the position and the value") {
  std::vector<float> table(4 * 3, 1.0f), out(5 * 3, 7.0f), dtable(4 * 3, 0.0f);
  std::vector<int32_t> ids = {0, 3, 2, -1, 1};
  CHECK_THROWS_WITH_AS(ops::embedding_forward(out.data(), ids.data(), table.data(), 5, 3, 4),
                       doctest::Contains("id -1 at position 3"), Error);
  CHECK(std::all_of(out.begin(), out.end(), [](float x) { return x == 7.0f; }));  // nothing written
  CHECK_THROWS_WITH_AS(ops::embedding_backward(dtable.data(), out.data(), ids.data(), 5, 3, 4),
                       doctest::Contains("id -1 at position 3"), Error);
  CHECK(std::all_of(dtable.begin(), dtable.end(), [](float x) { return x == 0.0f; }));
  ids = {4, 0, 0, 0, 0};
  CHECK_THROWS_WITH_AS(ops::embedding_forward(out.data(), ids.data(), table.data(), 5, 3, 4),
                       doctest::Contains("id 4 at position 0"), Error);
  ids = {0, 1, 2, 3, std::numeric_limits<int32_t>::max()};
  CHECK_THROWS_WITH_AS(ops::embedding_backward(dtable.data(), out.data(), ids.data(), 5, 3, 4),
                       doctest::Contains("at position 4"), Error);
  ids = {0, 1, 2, 3, 0};
  CHECK_NOTHROW(ops::embedding_forward(out.data(), ids.data(), table.data(), 5, 3, 4));
  // The padding id must be -1 or a row; sizes must not be negative.
  CHECK_THROWS_AS(ops::embedding_forward(out.data(), ids.data(), table.data(), 5, 3, 4, 4), Error);
  CHECK_THROWS_AS(ops::embedding_forward(out.data(), ids.data(), table.data(), 5, 3, 4, -2), Error);
  CHECK_THROWS_AS(ops::embedding_backward(dtable.data(), out.data(), ids.data(), 5, 3, 4, 7), Error);
  CHECK_THROWS_AS(ops::embedding_forward(out.data(), ids.data(), table.data(), -5, 3, 4), Error);
  CHECK_THROWS_AS(ops::embedding_forward(out.data(), ids.data(), table.data(), 5, -3, 4), Error);
  CHECK_THROWS_AS(ops::embedding_forward(out.data(), ids.data(), table.data(), 5, 3, 0), Error);  // ids >= V = 0
  // N == 0 writes nothing, whatever the pointers.
  CHECK_NOTHROW(ops::embedding_forward(static_cast<float*>(nullptr), static_cast<const int32_t*>(nullptr),
                                       static_cast<const float*>(nullptr), 0, 3, 4));
}

TEST_CASE("ops/embedding: backward matches finite differences, accumulates, skips the padding id") {
  auto rng = testing::test_rng();
  struct Case {
    int64_t N, C, V;
    int32_t padding_id;
  };
  // C = 3: the sorted schedule; C = 150: the column-block one (on few threads). Repeated ids.
  for (const Case k : {Case{9, 3, 4, -1}, Case{9, 3, 4, 2}, Case{1, 1, 1, -1}, Case{7, 150, 3, 1}, Case{6, 5, 9, 8}}) {
    auto table = testing::random_vector<double>(rng, size_t(k.V * k.C));
    auto ids = random_ids(rng, k.N, k.V);
    if (k.padding_id >= 0) ids[0] = k.padding_id;
    const auto W = testing::random_vector<double>(rng, size_t(k.N * k.C));
    auto loss = [&] {
      std::vector<double> out(size_t(k.N * k.C));
      ops::embedding_forward(out.data(), ids.data(), table.data(), k.N, k.C, k.V, k.padding_id);
      double L = 0;
      for (size_t i = 0; i < out.size(); ++i) L += out[i] * W[i];
      return L;
    };
    const auto dtable0 = testing::random_vector<double>(rng, table.size());
    auto dtable = dtable0;
    ops::embedding_backward(dtable.data(), W.data(), ids.data(), k.N, k.C, k.V, k.padding_id);
    std::vector<double> delta(dtable.size()), expected = dtable0;
    for (size_t i = 0; i < delta.size(); ++i) delta[i] = dtable[i] - dtable0[i];
    for (int64_t i = 0; i < k.N; ++i)
      if (ids[size_t(i)] != k.padding_id)
        for (int64_t j = 0; j < k.C; ++j) expected[size_t(ids[size_t(i)] * k.C + j)] += W[size_t(i * k.C + j)];
    const std::string what = "embedding_backward N=" + std::to_string(k.N) + " C=" + std::to_string(k.C) +
                             " padding_id=" + std::to_string(k.padding_id);
    SIMAD_CHECK_GRADIENT(delta, testing::numeric_gradient(std::span<double>(table), loss), what);
    testing::check_close(dtable, expected, 1e-12, 1e-12, what);
    if (k.padding_id >= 0)  // the padding row is untouched, bit for bit
      CHECK(std::memcmp(dtable.data() + k.padding_id * k.C, dtable0.data() + k.padding_id * k.C,
                        size_t(k.C) * sizeof(double)) == 0);
  }
  // A null dtable is skipped.
  std::vector<int32_t> ids = {0};
  std::vector<double> g = {1.0};
  CHECK_NOTHROW(ops::embedding_backward(static_cast<double*>(nullptr), g.data(), ids.data(), 1, 1, 1));
}

TEST_CASE("ops/embedding: backward is deterministic across thread counts and equals a serial loop") {
  auto rng = testing::test_rng();
  for (int64_t C : {int64_t(3), int64_t(200), int64_t(1)}) {
    const int64_t N = 5003, V = 37;
    const auto ids = random_ids(rng, N, V);
    const auto dout = testing::random_vector<float>(rng, size_t(N * C), -1e3, 1e3);
    const auto dtable0 = testing::random_vector<float>(rng, size_t(V * C));
    // The serial loop (the reference tier): additions in position order, each rounded to float.
    std::vector<float> serial = dtable0;
    ops::reference::embedding_backward(serial.data(), dout.data(), ids.data(), N, C, V, 5);
    for (int threads : {1, 3, 2}) {
      set_num_threads(threads);
      auto dtable = dtable0;
      ops::embedding_backward(dtable.data(), dout.data(), ids.data(), N, C, V, 5);
      CHECK_MESSAGE(std::memcmp(dtable.data(), serial.data(), serial.size() * sizeof(float)) == 0,
                    "C=", C, " threads=", threads);
    }
  }
  set_num_threads(ThreadPool::default_threads());
}

}  // namespace SIMAD_TEST_FILE_ID
