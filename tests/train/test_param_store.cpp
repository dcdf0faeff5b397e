// Tests of include/simad/train/param_store.hpp: layout (declaration order, 16-element alignment,
// zero padding), views into the flat buffers, errors, zero_grad and the init helpers.
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "simad/train/param_store.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using train::ParamSlice;
using train::ParamStore;

TEST_CASE("train/param_store: slices are carved in declaration order, 16-element aligned") {
  ParamStore<float> store;
  CHECK(store.add("encoder.wq", {5, 7}) == 0);  // 35 -> padded to 48
  CHECK(store.add("encoder.bq", {7}) == 1);     // 7 -> 16
  CHECK(store.add("scalar", {}) == 2);          // rank 0: 1 element -> 16
  CHECK(store.add("empty", {0, 4}) == 3);       // 0 elements -> 0
  CHECK(store.add("head", {16}) == 4);          // exactly 16
  CHECK(store.size() == 5);
  CHECK(store.num_params() == 35 + 7 + 1 + 0 + 16);
  CHECK(store.buffer_size() == 48 + 16 + 16 + 0 + 16);
  CHECK(!store.allocated());
  store.allocate();
  CHECK(store.allocated());

  const std::vector<int64_t> offsets = {0, 48, 64, 80, 80};
  int i = 0;
  for (const ParamSlice& s : store) {
    CHECK(s.offset == offsets[size_t(i)]);
    CHECK(s.offset % ParamStore<float>::kAlign == 0);
    CHECK(s.numel == s.shape.numel());
    CHECK(store.index_of(s.name) == i);
    CHECK(&store.slice(i) == &store.slice(s.name));
    ++i;
  }
  CHECK(i == 5);
  CHECK(store.slices().size() == 5);

  // Views: the right place in the flat buffers, the right shape, shared storage, aligned.
  Tensor<float> wq = store.param("encoder.wq"), dwq = store.grad("encoder.wq");
  CHECK(wq.shape() == Shape{5, 7});
  CHECK(wq.data() == store.params().data());
  CHECK(dwq.data() == store.grads().data());
  CHECK(wq.shares_storage_with(store.params()));
  CHECK(store.param(1).data() == store.params().data() + 48);
  CHECK(store.grad("head").data() == store.grads().data() + 80);
  CHECK(store.param("scalar").shape() == Shape{});
  CHECK(store.param("scalar").numel() == 1);
  CHECK(store.param("empty").numel() == 0);
  for (const ParamSlice& s : store)
    CHECK(reinterpret_cast<uintptr_t>(store.param(s.name).data()) % 64 == 0);  // 16 floats = 64 bytes
  CHECK(store.params().shape() == Shape{store.buffer_size()});

  // allocate() zero-fills both buffers (padding included).
  for (float x : store.params().span()) REQUIRE(x == 0.0f);
  for (float x : store.grads().span()) REQUIRE(x == 0.0f);

  // A write through a view lands in the flat buffer.
  wq(4, 6) = 3.5f;
  CHECK(store.params().data()[4 * 7 + 6] == 3.5f);
  store.grad(1)(6) = -1.0f;
  CHECK(store.grads().data()[48 + 6] == -1.0f);
}

TEST_CASE("train/param_store: double slices, and views outlive a moved store") {
  ParamStore<double> store;
  store.add("a", {3, 3});
  store.add("b", {2});
  store.allocate();
  CHECK(store.param("b").data() == store.params().data() + 16);
  CHECK(reinterpret_cast<uintptr_t>(store.param("b").data()) % 64 == 0);
  Tensor<double> a = store.param("a");
  ParamStore<double> moved = std::move(store);
  a(2, 2) = 9.0;
  CHECK(moved.param("a")(2, 2) == 9.0);
  CHECK(moved.num_params() == 11);
}

TEST_CASE("train/param_store: bad use throws simad::Error") {
  ParamStore<float> store;
  store.add("w", {2, 2});
  CHECK_THROWS_WITH_AS(store.add("w", {3}), doctest::Contains("duplicate parameter name 'w'"), Error);
  CHECK_THROWS_AS(store.add("", {3}), Error);
  CHECK_THROWS_AS(store.add("huge", {int64_t(1) << 40, int64_t(1) << 40}), Error);  // would overflow
  // Before allocate(): no buffers, no views.
  CHECK_THROWS_WITH_AS(store.param("w"), doctest::Contains("allocate()"), Error);
  CHECK_THROWS_AS(store.grads(), Error);
  CHECK_THROWS_AS(store.zero_grad(), Error);
  // Metadata works before allocate().
  CHECK(store.contains("w"));
  CHECK(!store.contains("v"));
  CHECK(store.slice("w").shape == Shape{2, 2});
  store.allocate();
  CHECK_THROWS_WITH_AS(store.add("v", {1}), doctest::Contains("already allocated"), Error);
  CHECK_THROWS_AS(store.allocate(), Error);
  CHECK_THROWS_WITH_AS(store.param("nope"), doctest::Contains("unknown parameter 'nope'"), Error);
  CHECK_THROWS_AS(store.grad("nope"), Error);
  CHECK_THROWS_AS(store.index_of("nope"), Error);
  CHECK_THROWS_AS(store.param(1), Error);
  CHECK_THROWS_AS(store.grad(-1), Error);
  CHECK_THROWS_AS(store.slice(7), Error);
}

TEST_CASE("train/param_store: zero_grad clears every gradient and padding stays zero") {
  ParamStore<float> store;
  store.add("a", {3, 5});
  store.add("b", {100003});  // large enough to run zero_grad in parallel
  store.add("c", {1});
  store.allocate();
  auto rng = testing::test_rng();
  for (const ParamSlice& s : store) rng.fill_uniform(store.grad(s.name).span(), -1.0, 1.0);
  CHECK(store.grads().data()[15] == 0.0f);  // padding after "a" (15 elements) is untouched
  store.zero_grad();
  for (float g : store.grads().span()) REQUIRE(g == 0.0f);
  // Parameters are not touched by zero_grad.
  store.fill("a", 2.0);
  store.zero_grad();
  for (float p : store.param("a").span()) CHECK(p == 2.0f);
}

TEST_CASE("train/param_store: init helpers fill one slice, reproducibly") {
  auto make = [] {
    ParamStore<double> store;
    store.add("w", {40, 50});
    store.add("b", {50});
    store.add("g", {50});
    store.allocate();
    return store;
  };
  ParamStore<double> s1 = make(), s2 = make();
  auto init = [](ParamStore<double>& s, uint64_t seed) {
    Rng rng(seed);
    s.init_normal("w", rng, 0.0, 0.02);
    s.init_uniform("b", rng, -0.5, 0.25);
    s.fill("g", 1.0);
  };
  init(s1, 7);
  init(s2, 7);
  CHECK(std::memcmp(s1.params().data(), s2.params().data(), s1.params().bytes()) == 0);
  // Values: the uniform slice in range, the constant slice exact, the normal slice's moments.
  for (double b : s1.param("b").span()) CHECK((b >= -0.5 && b < 0.25));
  for (double g : s1.param("g").span()) CHECK(g == 1.0);
  double mean = 0, var = 0;
  const auto w = s1.param("w").span();
  for (double x : w) mean += x;
  mean /= double(w.size());
  for (double x : w) var += (x - mean) * (x - mean);
  var /= double(w.size());
  CHECK(std::fabs(mean) < 5 * 0.02 / std::sqrt(double(w.size())));
  CHECK(std::fabs(std::sqrt(var) - 0.02) < 0.02 * 0.1);
  // The normal fill is exactly the Rng stream at positions 0..1999, then the uniform at 2000..
  Rng ref(7);
  CHECK(w[0] == 0.0 + 0.02 * ref.normal_at(0));
  CHECK(w[1999] == 0.0 + 0.02 * ref.normal_at(1999));
  CHECK(s1.param("b")(0) == -0.5 + 0.75 * ref.uniform_at(2000));
  // The padding after "b" (50 elements, padded to 64) stays zero.
  CHECK(s1.slice("g").offset == s1.slice("b").offset + 64);
  for (int64_t i = s1.slice("b").offset + 50; i < s1.slice("g").offset; ++i) CHECK(s1.params().data()[i] == 0.0);
  CHECK_THROWS_AS(s1.fill("nope", 1.0), Error);
}

}  // namespace SIMAD_TEST_FILE_ID
