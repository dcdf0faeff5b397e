// Tests of include/simad/ops/cross_entropy.hpp: loss, probabilities and gradient against the reference
// tier (ops/reference/cross_entropy.hpp), ignore-index rows (default and custom), all rows ignored, finite-difference gradients and
// accumulation, thread-count independence, bad targets and arguments.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "simad/ops/cross_entropy.hpp"
#include "simad/ops/reference/cross_entropy.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

constexpr int32_t kIgnore = -100;

// Random targets in [0, C), about a fifth of the rows set to `ignore`.
std::vector<int32_t> random_targets(Rng& rng, int64_t N, int64_t C, int32_t ignore = kIgnore) {
  std::vector<int32_t> t(static_cast<size_t>(N));
  for (auto& v : t) v = rng.next_uniform() < 0.2 ? ignore : int32_t(rng.next_below(uint32_t(C)));
  return t;
}

struct Reference {
  double loss = 0;
  std::vector<double> probs;
};

// The reference tier (ops/reference/cross_entropy.hpp) in double, on the logits widened to double.
template <typename T>
Reference reference_cross_entropy(const std::vector<T>& x, const std::vector<int32_t>& t, int64_t N, int64_t C,
                                  int32_t ignore = kIgnore) {
  Reference r{0.0, std::vector<double>(size_t(N * C))};
  const std::vector<double> xd(x.begin(), x.end());
  r.loss = ops::reference::cross_entropy_forward<double>(r.probs.data(), xd.data(), t.data(), N, C, ignore);
  return r;
}

const std::pair<int64_t, int64_t> kShapes[] = {{1, 1}, {1, 5}, {7, 3}, {33, 17}, {300, 10}, {5, 1000}};

template <typename T>
void check_forward(double atol, double rtol) {
  auto rng = testing::test_rng();
  for (auto [N, C] : kShapes) {
    for (double shift : {0.0, 1000.0}) {  // large logits: only a max-subtracting log-sum-exp survives
      const std::vector<T> x = testing::random_vector<T>(rng, size_t(N * C), -10.0 + shift, 10.0 + shift);
      std::vector<int32_t> t = random_targets(rng, N, C);
      t[0] = int32_t(C - 1);  // at least one row counts
      std::vector<T> probs(x.size());
      testing::poison(std::span<T>(probs));
      const T loss = ops::cross_entropy_forward(probs.data(), x.data(), t.data(), N, C);
      const Reference ref = reference_cross_entropy(x, t, N, C);
      const std::string what = "cross_entropy (" + std::to_string(N) + ", " + std::to_string(C) + ") shift " +
                               std::to_string(int(shift));
      testing::check_close(std::vector<T>{loss}, std::vector<double>{ref.loss}, atol, rtol, what + " loss");
      testing::check_close(probs, ref.probs, atol, rtol, what + " probs");
      // Without probs: the same loss bits.
      const T loss2 = ops::cross_entropy_forward<T>(nullptr, x.data(), t.data(), N, C);
      CHECK_MESSAGE(std::memcmp(&loss, &loss2, sizeof(T)) == 0, what, " without probs");
    }
  }
}

}  // namespace

TEST_CASE("ops/cross_entropy: forward matches a naive double log-softmax") {
  check_forward<float>(1e-6, 1e-5);
  check_forward<double>(1e-12, 1e-12);
}

TEST_CASE("ops/cross_entropy: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  for (auto [N, C] : {std::pair<int64_t, int64_t>{1, 4}, {6, 5}, {9, 3}, {4, 1}, {3, 29}}) {
    std::vector<double> x = testing::random_vector<double>(rng, size_t(N * C), -3.0, 3.0);
    std::vector<int32_t> t = random_targets(rng, N, C);
    t[0] = 0;
    if (N > 2) t[1] = kIgnore;  // at least one ignored row
    const double dloss = 0.7;   // L = 0.7 * loss
    std::vector<double> probs(x.size());
    auto loss = [&] { return dloss * ops::cross_entropy_forward(probs.data(), x.data(), t.data(), N, C); };
    const std::vector<double> numeric = testing::numeric_gradient(std::span<double>(x), loss);
    loss();
    const std::string what = "cross_entropy dlogits (" + std::to_string(N) + ", " + std::to_string(C) + ")";
    std::vector<double> from_zero(x.size(), 0.0);
    ops::cross_entropy_backward(from_zero.data(), dloss, probs.data(), t.data(), N, C);
    if (C > 1) SIMAD_CHECK_GRADIENT(from_zero, numeric, what);
    else for (double g : from_zero) CHECK(g == 0.0);  // one class: the loss is 0 whatever the logit
    std::vector<double> ref(x.size(), 0.0);
    ops::reference::cross_entropy_backward(ref.data(), dloss, probs.data(), t.data(), N, C);
    testing::check_close(from_zero, ref, 1e-15, 1e-14, what + " vs the reference tier");

    const std::vector<double> start = testing::random_vector<double>(rng, x.size());
    std::vector<double> acc = start, expected(x.size()), added(x.size());
    ops::cross_entropy_backward(acc.data(), dloss, probs.data(), t.data(), N, C);
    for (size_t k = 0; k < x.size(); ++k) expected[k] = start[k] + from_zero[k], added[k] = acc[k] - start[k];
    testing::check_close(acc, expected, 1e-15, 1e-15, what + " accumulates");
    if (C > 1) SIMAD_CHECK_GRADIENT(added, numeric, (what + " accumulated"));
    for (int64_t i = 0; i < N; ++i)  // ignored rows: no contribution at all
      if (t[size_t(i)] == kIgnore)
        for (int64_t j = 0; j < C; ++j) CHECK(acc[size_t(i * C + j)] == start[size_t(i * C + j)]);
  }
}

TEST_CASE("ops/cross_entropy: ignore-index rows are left out of the mean") {
  auto rng = testing::test_rng();
  const int64_t N = 40, C = 6;
  const std::vector<double> x = testing::random_vector<double>(rng, size_t(N * C), -4.0, 4.0);
  for (int32_t ignore : {kIgnore, int32_t(-1), int32_t(2)}) {  // 2: a class index can be the ignore index
    std::vector<int32_t> t(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) t[size_t(i)] = i % 3 == 0 ? ignore : int32_t((i * 7) % C);
    std::vector<double> probs(x.size());
    const double loss = ops::cross_entropy_forward(probs.data(), x.data(), t.data(), N, C, ignore);
    // The same loss from only the rows that count.
    std::vector<double> kept_x;
    std::vector<int32_t> kept_t;
    for (int64_t i = 0; i < N; ++i) {
      if (t[size_t(i)] == ignore) continue;
      kept_x.insert(kept_x.end(), x.begin() + i * C, x.begin() + (i + 1) * C);
      kept_t.push_back(t[size_t(i)]);
    }
    const int64_t K = int64_t(kept_t.size());
    CHECK(loss == doctest::Approx(ops::cross_entropy_forward<double>(nullptr, kept_x.data(), kept_t.data(), K, C,
                                                                     ignore))
                      .epsilon(1e-13));
    CHECK(loss == doctest::Approx(reference_cross_entropy(x, t, N, C, ignore).loss).epsilon(1e-12));
    // Gradient: (p - onehot) / count on rows that count, nothing elsewhere.
    std::vector<double> g(x.size(), 0.0);
    ops::cross_entropy_backward(g.data(), 1.0, probs.data(), t.data(), N, C, ignore);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < C; ++j) {
        const size_t k = size_t(i * C + j);
        const double want = t[size_t(i)] == ignore ? 0.0 : (probs[k] - (j == t[size_t(i)] ? 1.0 : 0.0)) / double(K);
        CHECK(g[k] == doctest::Approx(want).epsilon(1e-14));
      }
  }
}

TEST_CASE("ops/cross_entropy: every row ignored gives loss 0 and zero gradient") {
  auto rng = testing::test_rng();
  const int64_t N = 5, C = 4;
  const std::vector<float> x = testing::random_vector<float>(rng, size_t(N * C));
  const std::vector<int32_t> t(size_t(N), kIgnore);
  std::vector<float> probs(x.size());
  testing::poison(std::span<float>(probs));
  CHECK(ops::cross_entropy_forward(probs.data(), x.data(), t.data(), N, C) == 0.0f);
  for (float p : probs) CHECK((std::isfinite(p) && p > 0.0f));  // probabilities still written
  std::vector<float> g(x.size(), 0.5f);
  ops::cross_entropy_backward(g.data(), 1.0f, probs.data(), t.data(), N, C);
  for (float v : g) CHECK(v == 0.5f);
  // No rows at all.
  CHECK(ops::cross_entropy_forward<float>(nullptr, nullptr, nullptr, 0, C) == 0.0f);
}

TEST_CASE("ops/cross_entropy: the loss and gradients do not depend on the thread count") {
  auto rng = testing::test_rng();
  const int64_t N = 20000, C = 7;  // several reduction chunks
  const std::vector<float> x = testing::random_vector<float>(rng, size_t(N * C), -5.0, 5.0);
  const std::vector<int32_t> t = random_targets(rng, N, C);
  auto run = [&](int threads) {
    set_num_threads(threads);
    std::vector<float> probs(x.size()), g(x.size(), 0.0f);
    const float loss = ops::cross_entropy_forward(probs.data(), x.data(), t.data(), N, C);
    ops::cross_entropy_backward(g.data(), 1.0f, probs.data(), t.data(), N, C);
    probs.insert(probs.end(), g.begin(), g.end());
    probs.push_back(loss);
    return probs;
  };
  const std::vector<float> one = run(1), three = run(3);
  set_num_threads(ThreadPool::default_threads());
  CHECK(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0);
  CHECK(one.back() == doctest::Approx(reference_cross_entropy(x, t, N, C).loss).epsilon(1e-5));
}

TEST_CASE("ops/cross_entropy: bad targets and arguments throw simad::Error") {
  const int64_t N = 5, C = 4;
  std::vector<double> x(size_t(N * C), 0.1), probs(x.size()), g(x.size());
  for (int32_t bad : {int32_t(4), int32_t(-1), int32_t(1000)}) {
    std::vector<int32_t> t = {0, 1, 2, bad, 1};
    const std::string row_and_value = "row 3 has target " + std::to_string(bad);
    CHECK_THROWS_WITH_AS(ops::cross_entropy_forward(probs.data(), x.data(), t.data(), N, C),
                         doctest::Contains(row_and_value.c_str()), Error);
    CHECK_THROWS_WITH_AS(ops::cross_entropy_backward(g.data(), 1.0, probs.data(), t.data(), N, C),
                         doctest::Contains(row_and_value.c_str()), Error);
  }
  std::vector<int32_t> t = {0, 1, 2, 3, kIgnore};
  CHECK_THROWS_AS(ops::cross_entropy_forward(probs.data(), x.data(), t.data(), -1, C), Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward(probs.data(), x.data(), t.data(), N, -1), Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward<double>(probs.data(), nullptr, t.data(), N, C), Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward<double>(probs.data(), x.data(), nullptr, N, C), Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward(probs.data(), x.data(), t.data(), N, 0), Error);  // target 0 >= C
  CHECK_THROWS_AS(ops::cross_entropy_backward(g.data(), 1.0, probs.data(), t.data(), -1, C), Error);
  CHECK_THROWS_AS(ops::cross_entropy_backward<double>(g.data(), 1.0, nullptr, t.data(), N, C), Error);
  CHECK_THROWS_AS(ops::cross_entropy_backward<double>(g.data(), 1.0, probs.data(), nullptr, N, C), Error);
  ops::cross_entropy_backward<double>(nullptr, 1.0, probs.data(), t.data(), N, C);  // no gradient wanted
}

}  // namespace SIMAD_TEST_FILE_ID
