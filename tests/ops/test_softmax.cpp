// Tests of include/simad/ops/softmax.hpp: masked row softmax against a naive double reference (awkward
// shapes, all-but-one and fully padded rows, large logits), finite-difference gradients, in-place and
// thread-count independence, bad arguments.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "simad/ops/softmax.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

// Mask rows cycle through: all kept, random (~70% kept), all but one padded, fully padded.
std::vector<uint8_t> awkward_mask(Rng& rng, int64_t N, int64_t C) {
  std::vector<uint8_t> m(size_t(N * C));
  for (int64_t i = 0; i < N; ++i) {
    uint8_t* row = m.data() + i * C;
    const int64_t only = int64_t(rng.next_below(uint32_t(C)));
    for (int64_t j = 0; j < C; ++j) {
      switch (i % 4) {
        case 0: row[j] = 1; break;
        case 1: row[j] = rng.next_uniform() < 0.7 ? 1 : 0; break;
        case 2: row[j] = j == only ? 1 : 0; break;
        default: row[j] = 0; break;
      }
    }
  }
  return m;
}

// Naive double softmax: exp(x - max) over the kept positions, 0 elsewhere; fully padded rows are 0.
template <typename T>
std::vector<double> reference_softmax(const std::vector<T>& x, const uint8_t* mask, int64_t N, int64_t C) {
  std::vector<double> y(size_t(N * C), 0.0);
  for (int64_t i = 0; i < N; ++i) {
    double mx = -HUGE_VAL;
    bool any = false;
    for (int64_t j = 0; j < C; ++j)
      if (!mask || mask[i * C + j]) mx = std::max(mx, double(x[size_t(i * C + j)])), any = true;
    if (!any) continue;
    double sum = 0;
    for (int64_t j = 0; j < C; ++j)
      if (!mask || mask[i * C + j]) sum += std::exp(double(x[size_t(i * C + j)]) - mx);
    for (int64_t j = 0; j < C; ++j)
      if (!mask || mask[i * C + j]) y[size_t(i * C + j)] = std::exp(double(x[size_t(i * C + j)]) - mx) / sum;
  }
  return y;
}

const std::pair<int64_t, int64_t> kShapes[] = {{1, 1},   {1, 7},    {5, 1},    {3, 33},
                                               {8, 2},   {64, 100}, {257, 13}, {2, 1000}};

template <typename T>
void check_forward(double atol, double rtol) {
  auto rng = testing::test_rng();
  for (auto [N, C] : kShapes) {
    for (int masked = 0; masked < 2; ++masked) {
      for (double shift : {0.0, 1000.0}) {  // large logits: only a max-subtracting softmax survives
        std::vector<T> x = testing::random_vector<T>(rng, size_t(N * C), -8.0 + shift, 8.0 + shift);
        const std::vector<uint8_t> mask = awkward_mask(rng, N, C);
        const uint8_t* m = masked ? mask.data() : nullptr;
        std::vector<T> out(x.size());
        testing::poison(std::span<T>(out));
        ops::softmax_forward(out.data(), x.data(), m, N, C);
        const std::string what = "softmax (" + std::to_string(N) + ", " + std::to_string(C) + ")" +
                                 (masked ? " masked" : "") + " shift " + std::to_string(int(shift));
        testing::check_close(out, reference_softmax(x, m, N, C), atol, rtol, what);
        if (m) {  // padded positions (and fully padded rows) are exactly 0, not NaN
          size_t nonzero_padded = 0;
          for (size_t k = 0; k < out.size(); ++k) nonzero_padded += !mask[k] && out[k] != T(0);
          CHECK_MESSAGE(nonzero_padded == 0, what);
        }
        // In place: the same bits.
        ops::softmax_forward(x.data(), x.data(), m, N, C);
        CHECK_MESSAGE(std::memcmp(x.data(), out.data(), x.size() * sizeof(T)) == 0, what, " in place");
      }
    }
  }
}

}  // namespace

TEST_CASE("ops/softmax: forward matches the double reference") {
  check_forward<float>(1e-6, 1e-5);
  check_forward<double>(1e-12, 1e-12);
}

TEST_CASE("ops/softmax: fully padded rows are zeros and all-but-one padded rows are one-hot") {
  const float x[6] = {3.0f, -1.0f, 2.0f, 5.0f, 7.0f, -2.0f};
  const uint8_t mask[6] = {0, 0, 0, 0, 1, 0};
  float y[6];
  testing::poison(std::span<float>(y));
  ops::softmax_forward(y, x, mask, 2, 3);
  for (int j = 0; j < 3; ++j) CHECK(y[j] == 0.0f);
  CHECK(y[3] == 0.0f);
  CHECK(y[4] == 1.0f);
  CHECK(y[5] == 0.0f);
  float dx[6] = {1, 2, 3, 4, 5, 6};
  const float dy[6] = {0.5f, -1, 2, 3, -4, 5};
  ops::softmax_backward(dx, dy, y, 2, 3);
  for (int j = 0; j < 6; ++j) CHECK(dx[j] == float(j + 1));  // zero gradient everywhere here
}

TEST_CASE("ops/softmax: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  for (auto [N, C] : {std::pair<int64_t, int64_t>{1, 1}, {1, 9}, {8, 11}, {5, 2}}) {
    for (int masked = 0; masked < 2; ++masked) {
      std::vector<double> x = testing::random_vector<double>(rng, size_t(N * C), -3.0, 3.0);
      const std::vector<double> W = testing::random_vector<double>(rng, x.size());
      const std::vector<uint8_t> mask = awkward_mask(rng, N, C);
      const uint8_t* m = masked ? mask.data() : nullptr;
      std::vector<double> out(x.size());
      auto loss = [&] {
        ops::softmax_forward(out.data(), x.data(), m, N, C);
        double L = 0;
        for (size_t k = 0; k < out.size(); ++k) L += out[k] * W[k];
        return L;
      };
      const std::vector<double> numeric = testing::numeric_gradient(std::span<double>(x), loss);
      loss();
      const std::string what = "softmax dinp (" + std::to_string(N) + ", " + std::to_string(C) + ")" +
                               (masked ? " masked" : "");
      std::vector<double> from_zero(x.size(), 0.0);
      ops::softmax_backward(from_zero.data(), W.data(), out.data(), N, C);
      if (C > 1) SIMAD_CHECK_GRADIENT(from_zero, numeric, what);
      else for (double g : from_zero) CHECK(g == 0.0);  // one column: softmax is constant 1 (or 0)

      const std::vector<double> start = testing::random_vector<double>(rng, x.size());
      std::vector<double> acc = start, expected(x.size()), added(x.size());
      ops::softmax_backward(acc.data(), W.data(), out.data(), N, C);
      for (size_t k = 0; k < x.size(); ++k) expected[k] = start[k] + from_zero[k], added[k] = acc[k] - start[k];
      testing::check_close(acc, expected, 1e-15, 1e-15, what + " accumulates");
      if (C > 1) SIMAD_CHECK_GRADIENT(added, numeric, (what + " accumulated"));
      if (m)  // padded positions get exactly zero gradient
        for (size_t k = 0; k < x.size(); ++k)
          if (!mask[k]) CHECK(acc[k] == start[k]);
    }
  }
}

TEST_CASE("ops/softmax: float backward matches the double backward") {
  auto rng = testing::test_rng();
  const int64_t N = 300, C = 57;
  const std::vector<float> xf = testing::random_vector<float>(rng, size_t(N * C), -4.0, 4.0);
  const std::vector<float> wf = testing::random_vector<float>(rng, xf.size());
  std::vector<float> sf = testing::random_vector<float>(rng, xf.size());
  const std::vector<uint8_t> mask = awkward_mask(rng, N, C);
  std::vector<double> xd(xf.begin(), xf.end()), wd(wf.begin(), wf.end()), sd(sf.begin(), sf.end());
  std::vector<float> yf(xf.size());
  std::vector<double> yd(xf.size());
  ops::softmax_forward(yf.data(), xf.data(), mask.data(), N, C);
  ops::softmax_forward(yd.data(), xd.data(), mask.data(), N, C);
  ops::softmax_backward(sf.data(), wf.data(), yf.data(), N, C);
  ops::softmax_backward(sd.data(), wd.data(), yd.data(), N, C);
  testing::check_close(sf, sd, 1e-6, 1e-5, "softmax float backward");
}

TEST_CASE("ops/softmax: results do not depend on the thread count") {
  auto rng = testing::test_rng();
  const int64_t N = 3001, C = 37;
  const std::vector<float> x = testing::random_vector<float>(rng, size_t(N * C), -5.0, 5.0);
  const std::vector<float> W = testing::random_vector<float>(rng, x.size());
  const std::vector<uint8_t> mask = awkward_mask(rng, N, C);
  auto run = [&](int threads) {
    set_num_threads(threads);
    std::vector<float> y(x.size()), dx(x.size(), 0.5f);
    ops::softmax_forward(y.data(), x.data(), mask.data(), N, C);
    ops::softmax_backward(dx.data(), W.data(), y.data(), N, C);
    y.insert(y.end(), dx.begin(), dx.end());
    return y;
  };
  const std::vector<float> one = run(1), three = run(3);
  set_num_threads(ThreadPool::default_threads());
  CHECK(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0);
}

TEST_CASE("ops/softmax: bad arguments throw simad::Error") {
  std::vector<double> a(6), b(6);
  CHECK_THROWS_AS(ops::softmax_forward(a.data(), b.data(), nullptr, -1, 3), Error);
  CHECK_THROWS_AS(ops::softmax_forward(a.data(), b.data(), nullptr, 2, -3), Error);
  CHECK_THROWS_AS(ops::softmax_forward<double>(nullptr, b.data(), nullptr, 2, 3), Error);
  CHECK_THROWS_AS(ops::softmax_forward<double>(a.data(), nullptr, nullptr, 2, 3), Error);
  CHECK_THROWS_AS(ops::softmax_backward(a.data(), b.data(), b.data(), -2, 3), Error);
  CHECK_THROWS_AS(ops::softmax_backward<double>(a.data(), nullptr, b.data(), 2, 3), Error);
  CHECK_THROWS_AS(ops::softmax_backward<double>(a.data(), b.data(), nullptr, 2, 3), Error);
  ops::softmax_forward<double>(nullptr, nullptr, nullptr, 0, 3);  // empty: nothing to do
  ops::softmax_backward<double>(nullptr, b.data(), b.data(), 2, 3);  // no gradient wanted
}

}  // namespace SIMAD_TEST_FILE_ID
