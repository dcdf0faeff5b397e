// Tests of include/simad/ops/l2norm.hpp: y = x / max(||x||, eps) per row against the reference tier
// (normal rows, zero rows, rows below eps, float rows whose squares overflow float), saved norms,
// in place, finite-difference backward in both regimes (||x|| >= eps and clamped) with accumulation,
// bad arguments.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "simad/ops/l2norm.hpp"
#include "simad/ops/reference/l2norm.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

// Rows of kinds by i % 5: 0-1 random, 2 zero, 3 tiny (norm << 1e-12), 4 scaled by `big`.
template <typename T>
std::vector<T> mixed_rows(Rng& rng, int64_t N, int64_t C, double big) {
  auto x = testing::random_vector<T>(rng, size_t(N * C));
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < C; ++j) {
      T& v = x[size_t(i * C + j)];
      if (i % 5 == 2) v = T(0);
      if (i % 5 == 3) v = T(double(v) * 1e-15);
      if (i % 5 == 4) v = T(double(v) * big);
    }
  return x;
}

// The reference tier (ops/reference/l2norm.hpp) in double.
void ref_l2norm(std::vector<double>& y, std::vector<double>& n, const double* x, int64_t N, int64_t C, double eps) {
  y.assign(size_t(N * C), 0.0);
  n.assign(size_t(N), 0.0);
  ops::reference::l2norm_forward(y.data(), n.data(), x, N, C, eps);
}

template <typename T>
void check_forward(double atol, double rtol, double big) {
  auto rng = testing::test_rng();
  struct Dims {
    int64_t N, C;
  };
  for (const Dims d : {Dims{1, 1}, Dims{1, 17}, Dims{10, 1}, Dims{37, 19}, Dims{7, 1000}, Dims{5, 0}})
    for (bool in_place : {false, true}) {
      const auto x = mixed_rows<T>(rng, d.N, d.C, big);
      const std::vector<double> xd(x.begin(), x.end());
      std::vector<double> e_y, e_n;
      ref_l2norm(e_y, e_n, xd.data(), d.N, d.C, double(T(1e-12)));
      std::vector<T> y(x.size()), n(static_cast<size_t>(d.N));
      if (in_place) y = x;
      else testing::poison(std::span<T>(y));
      testing::poison(std::span<T>(n));
      ops::l2norm_forward(y.data(), n.data(), in_place ? y.data() : x.data(), d.N, d.C);
      const std::string what = "l2norm N=" + std::to_string(d.N) + " C=" + std::to_string(d.C) +
                               (in_place ? " in place" : "");
      testing::check_close(y, e_y, atol, rtol, what + " out");
      testing::check_close(n, e_n, 0.0, rtol, what + " norm");
    }
  // The norm pointer may be null.
  std::vector<T> x = {T(3), T(4)}, y(2);
  ops::l2norm_forward(y.data(), static_cast<T*>(nullptr), x.data(), 1, 2);
  testing::check_close(y, std::vector<double>{0.6, 0.8}, 0.0, 1e-7, "l2norm without saved norms");
}

}  // namespace

TEST_CASE("ops/l2norm: forward matches the double reference (zero, tiny and huge rows)") {
  // float: |x| up to 1e20, whose squares overflow a float accumulator.
  check_forward<float>(1e-7, 0x1p-22, 1e20);
  check_forward<double>(1e-15, 1e-14, 1e100);
}

namespace {

// Checks the backward for rows x (N, C) against finite differences of L = sum(y * W), and the exact
// value: dx = g / n - x (x . g) / n^3 (n >= eps), g / eps (clamped).
void check_backward(std::vector<double> x, int64_t N, int64_t C, double eps, double fd_step, const std::string& what) {
  auto rng = testing::test_rng(uint64_t(N * 1000 + C));
  const auto W = testing::random_vector<double>(rng, x.size());
  std::vector<double> y(x.size()), n(static_cast<size_t>(N));
  auto loss = [&] {
    ops::l2norm_forward(y.data(), n.data(), x.data(), N, C, eps);
    double L = 0;
    for (size_t i = 0; i < y.size(); ++i) L += y[i] * W[i];
    return L;
  };
  const auto numeric = testing::numeric_gradient(std::span<double>(x), loss, fd_step);
  loss();
  const auto dx0 = testing::random_vector<double>(rng, x.size());
  auto dx = dx0;
  ops::l2norm_backward(dx.data(), W.data(), y.data(), n.data(), N, C, eps);
  std::vector<double> delta(x.size()), expected(x.size());
  for (int64_t i = 0; i < N; ++i) {
    double ss = 0, xg = 0;
    for (int64_t j = 0; j < C; ++j) {
      ss += x[size_t(i * C + j)] * x[size_t(i * C + j)];
      xg += x[size_t(i * C + j)] * W[size_t(i * C + j)];
    }
    const double nn = std::sqrt(ss);
    for (int64_t j = 0; j < C; ++j) {
      const size_t at = size_t(i * C + j);
      delta[at] = dx[at] - dx0[at];
      const double g = nn >= eps ? W[at] / nn - x[at] * xg / (nn * nn * nn) : W[at] / eps;
      expected[at] = dx0[at] + g;
    }
  }
  if (C == 1 && eps < 1e-6) {
    // One column above eps: y = sign(x) is locally constant, the gradient is zero (a relative error
    // of two round-off vectors means nothing): the differences must vanish too.
    for (double v : numeric) CHECK(std::fabs(v) < 1e-8);
  } else {
    SIMAD_CHECK_GRADIENT(delta, numeric, what);
  }
  testing::check_close(dx, expected, 1e-12, 1e-10, what);
}

}  // namespace

TEST_CASE("ops/l2norm: backward matches finite differences in both regimes and accumulates") {
  auto rng = testing::test_rng();
  // ||x|| > eps (the default eps).
  for (const auto& [N, C] : {std::pair<int64_t, int64_t>{4, 5}, {1, 1}, {3, 1}, {1, 9}, {2, 40}})
    check_backward(testing::random_vector<double>(rng, size_t(N * C)), N, C, 1e-12, 1e-6,
                   "unclamped N=" + std::to_string(N) + " C=" + std::to_string(C));
  // Clamped (||x|| < eps): with eps = 0.5, rows of norm < 0.3; with the default eps, rows near 1e-14
  // and zero rows (a step of 1e-17 stays below eps).
  {
    auto x = testing::random_vector<double>(rng, 4 * 6, -0.1, 0.1);
    check_backward(x, 4, 6, 0.5, 1e-6, "clamped eps=0.5");
  }
  {
    auto x = testing::random_vector<double>(rng, 3 * 5, -1e-14, 1e-14);
    std::fill(x.begin() + 10, x.end(), 0.0);  // the last row is zero
    check_backward(x, 3, 5, 1e-12, 1e-17, "clamped eps=1e-12");
  }
  // Both regimes in one call: eps = 1, rows alternately of norm ~0.2 and ~3.
  {
    auto x = testing::random_vector<double>(rng, 6 * 4, -1.0, 1.0);
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 4; ++j) x[size_t(i * 4 + j)] *= i % 2 ? 3.0 : 0.2;
    check_backward(x, 6, 4, 1.0, 1e-6, "mixed regimes eps=1");
  }
}

TEST_CASE("ops/l2norm: float backward matches the double reference") {
  auto rng = testing::test_rng();
  const int64_t N = 20, C = 33;
  const auto x = mixed_rows<float>(rng, N, C, 1e20);
  const auto g = testing::random_vector<float>(rng, x.size());
  const auto dx0 = testing::random_vector<float>(rng, x.size());
  std::vector<float> y(x.size()), n(static_cast<size_t>(N));
  ops::l2norm_forward(y.data(), n.data(), x.data(), N, C);
  auto dx = dx0;
  ops::l2norm_backward(dx.data(), g.data(), y.data(), n.data(), N, C);
  // The reference tier in double, forward then backward, on the inputs widened to double.
  const double eps = double(1e-12f);
  const std::vector<double> xd(x.begin(), x.end()), gd(g.begin(), g.end());
  std::vector<double> yd, nd, expected(dx0.begin(), dx0.end());
  ref_l2norm(yd, nd, xd.data(), N, C, eps);
  ops::reference::l2norm_backward(expected.data(), gd.data(), yd.data(), nd.data(), N, C, eps);
  // Tolerance relative to each row's gradient scale (1 / n can be 1e12 for clamped rows).
  for (int64_t i = 0; i < N; ++i) {
    const double scale = 1.0 / std::max(double(n[size_t(i)]), eps);
    const std::vector<float> got(dx.begin() + i * C, dx.begin() + (i + 1) * C);
    const std::vector<double> want(expected.begin() + i * C, expected.begin() + (i + 1) * C);
    testing::check_close(got, want, 1e-6 * scale, 1e-6, "float l2norm_backward row " + std::to_string(i));
  }
}

TEST_CASE("ops/l2norm: bad arguments throw simad::Error") {
  std::vector<double> x(12, 1.0), y(12), n(3), dx(12);
  CHECK_THROWS_AS(ops::l2norm_forward(y.data(), n.data(), x.data(), -1, 4), Error);
  CHECK_THROWS_AS(ops::l2norm_forward(y.data(), n.data(), x.data(), 3, -4), Error);
  CHECK_THROWS_AS(ops::l2norm_forward(y.data(), n.data(), x.data(), 3, 4, 0.0), Error);
  CHECK_THROWS_AS(ops::l2norm_forward(y.data(), n.data(), x.data(), 3, 4, -1e-12), Error);
  CHECK_THROWS_AS(ops::l2norm_forward(y.data(), n.data(), x.data(), 3, 4, std::nan("")), Error);
  CHECK_THROWS_AS(ops::l2norm_forward(static_cast<double*>(nullptr), n.data(), x.data(), 3, 4), Error);
  CHECK_THROWS_AS(ops::l2norm_backward(dx.data(), x.data(), y.data(), static_cast<const double*>(nullptr), 3, 4),
                  Error);
  CHECK_THROWS_AS(ops::l2norm_backward(dx.data(), x.data(), y.data(), n.data(), 3, 4, 0.0), Error);
  CHECK_NOTHROW(ops::l2norm_backward(static_cast<double*>(nullptr), x.data(), y.data(), n.data(), 3, 4));
}

}  // namespace SIMAD_TEST_FILE_ID
