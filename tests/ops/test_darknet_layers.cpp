// Tests of the backward of Darknet's parameter-free layers: maxpool2d (argmax recorded by the
// forward, Darknet padding: size 2 stride 2, size 2 stride 1 with right/bottom padding, size 3
// stride 1), upsample_nearest (with a scale), shortcut (linear and leaky) and route (a channel
// concat: ops/concat.hpp with outer = B). Each: central finite differences in double, gradients
// that start non-zero (backward adds), forward outputs poisoned with NaN first; maxpool2d's forward,
// upsample and shortcut also against the reference tier (ops/reference/).
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "simad/ops/concat.hpp"
#include "simad/ops/maxpool2d.hpp"
#include "simad/ops/reference/maxpool2d.hpp"
#include "simad/ops/reference/shortcut.hpp"
#include "simad/ops/reference/upsample.hpp"
#include "simad/ops/shortcut.hpp"
#include "simad/ops/upsample.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using simad::testing::random_vector;

namespace {

std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] - b[i];
  return r;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

TEST_CASE("ops/maxpool2d: argmax names the maximum and the backward matches finite differences") {
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  struct Case {
    int64_t B, C, H, W, size, stride, padding;
  };
  // Darknet's default padding is size - 1.
  for (const Case c : {Case{2, 3, 6, 8, 2, 2, 1}, Case{2, 2, 7, 5, 2, 2, 1}, Case{1, 3, 5, 5, 2, 1, 1},
                       Case{2, 2, 6, 7, 3, 1, 2}, Case{1, 2, 7, 6, 3, 2, 2}}) {
    CAPTURE(c.H);
    CAPTURE(c.W);
    CAPTURE(c.size);
    CAPTURE(c.stride);
    CAPTURE(c.padding);
    const int64_t Ho = ops::maxpool2d_out_size(c.H, c.size, c.stride, c.padding);
    const int64_t Wo = ops::maxpool2d_out_size(c.W, c.size, c.stride, c.padding);
    const size_t n_in = size_t(c.B * c.C * c.H * c.W), n_out = size_t(c.B * c.C * Ho * Wo);
    std::vector<double> x = random_vector<double>(rng, n_in);
    const std::vector<double> r = random_vector<double>(rng, n_out);
    std::vector<double> out(n_out), plain(n_out);
    std::vector<int32_t> arg(n_out);
    simad::testing::poison(std::span<double>(out));
    simad::testing::poison(std::span<int32_t>(arg));
    ops::maxpool2d_forward(out.data(), x.data(), c.B, c.C, c.H, c.W, c.size, c.stride, c.padding, arg.data());
    ops::maxpool2d_forward(plain.data(), x.data(), c.B, c.C, c.H, c.W, c.size, c.stride, c.padding);
    simad::testing::check_close(out, plain, 0.0, 0.0, "forward with argmax == forward without");
    for (size_t k = 0; k < n_out; ++k) {
      const size_t plane = k / size_t(Ho * Wo);
      REQUIRE(arg[k] >= 0);
      REQUIRE(arg[k] < c.H * c.W);
      CHECK(x[plane * size_t(c.H * c.W) + size_t(arg[k])] == out[k]);
    }
    if (c.size == 2 && c.stride == 1) CHECK((Ho == c.H && Wo == c.W));  // yolov3-tiny's 13x13 -> 13x13
    const std::vector<double> dx0 = random_vector<double>(rng, n_in);
    std::vector<double> dx = dx0;
    ops::maxpool2d_backward(dx.data(), r.data(), arg.data(), c.B, c.C, c.H, c.W, c.size, c.stride, c.padding);
    auto loss = [&] {
      ops::maxpool2d_forward(out.data(), x.data(), c.B, c.C, c.H, c.W, c.size, c.stride, c.padding);
      return dot(out, r);
    };
    SIMAD_CHECK_GRADIENT(minus(dx, dx0), simad::testing::numeric_gradient(std::span<double>(x), loss), "dinp");
  }
}

TEST_CASE("ops/maxpool2d: ties go to the first element in window order") {
  const std::vector<double> x = {1, 5, 5, 2,  //
                                 5, 0, 3, 3};  // (1, 1, 2, 4)
  std::vector<double> out(2);
  std::vector<int32_t> arg(2);
  ops::maxpool2d_forward(out.data(), x.data(), 1, 1, 2, 4, 2, 2, 1, arg.data());
  CHECK(out[0] == 5);
  CHECK(out[1] == 5);
  CHECK(arg[0] == 1);
  CHECK(arg[1] == 2);
}

TEST_CASE("ops/maxpool2d: the backward refuses an argmax outside its output's window") {
  // (1, 1, 4, 4), size 2 stride 2: output 0 owns rows 0-1, columns 0-1; output 3 rows 2-3, columns 2-3.
  const std::vector<double> dout = {0.5, -1.5, 2.0, 0.25};
  std::vector<double> dx(16, 1.0);
  std::vector<int32_t> arg = {5, 3, 12, 15};  // (1,1), (0,3), (3,0), (3,3): each inside its window
  ops::maxpool2d_backward(dx.data(), dout.data(), arg.data(), 1, 1, 4, 4, 2, 2, 0);
  CHECK(dx[5] == 1.5);
  CHECK(dx[3] == -0.5);
  CHECK(dx[12] == 3.0);
  CHECK(dx[15] == 1.25);
  for (const int32_t bad : {2, 6, 8, 16}) {  // (0,2) and (1,2): columns of output 1; (2,0): a row of output 2
    arg[0] = bad;
    CHECK_THROWS_AS(ops::maxpool2d_backward(dx.data(), dout.data(), arg.data(), 1, 1, 4, 4, 2, 2, 0), Error);
  }
}

namespace {

// The forward as a plain loop over every window position, clipped to the input: the reference tier
// (ops/reference/maxpool2d.hpp). With argmax the first element inside is taken unconditionally and
// later ones on a strict '>'; without, best starts at -max and is max(best, v) in row-major window order.
template <typename T>
void maxpool2d_reference(std::vector<T>& out, std::vector<int32_t>* arg, const std::vector<T>& x, int64_t planes,
                         int64_t H, int64_t W, int64_t size, int64_t stride, int64_t padding) {
  ops::reference::maxpool2d_forward(out.data(), x.data(), planes, 1, H, W, size, stride, padding,
                                    arg ? arg->data() : nullptr);
}

template <typename T>
bool same_value(T a, T b) {
  return (std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b));
}

template <typename T>
void check_maxpool2d_against_reference(Rng& rng) {
  struct Case {
    int64_t B, C, H, W, size, stride, padding;
  };
  // size 2 stride 2 (padding 1 = Darknet's default, 0), size 2 stride 1 (yolov3-tiny's last),
  // the generic path (size 3, 1, 4; stride 2, 3; left / top padding; windows wholly outside), odd
  // and tiny sizes, and enough planes to be split across threads.
  const Case cases[] = {{3, 5, 16, 16, 2, 2, 1}, {2, 3, 17, 23, 2, 2, 1}, {2, 3, 17, 23, 2, 2, 0},
                        {1, 2, 1, 1, 2, 2, 1},   {1, 3, 2, 5, 2, 2, 0},   {2, 7, 64, 66, 2, 2, 1},
                        {2, 3, 13, 13, 2, 1, 1}, {1, 4, 8, 31, 2, 1, 0},  {1, 2, 1, 7, 2, 1, 1},
                        {2, 3, 11, 9, 3, 1, 2},  {2, 2, 12, 13, 3, 2, 2}, {1, 2, 9, 10, 1, 1, 0},
                        {1, 3, 10, 11, 2, 3, 0}, {1, 2, 9, 8, 4, 2, 3},   {1, 2, 5, 6, 2, 1, 4},
                        {1, 2, 7, 7, 3, 3, 5},   {40, 16, 9, 7, 2, 2, 1}};
  for (const Case c : cases) {
    for (const bool specials : {false, true}) {
      CAPTURE(c.B);
      CAPTURE(c.C);
      CAPTURE(c.H);
      CAPTURE(c.W);
      CAPTURE(c.size);
      CAPTURE(c.stride);
      CAPTURE(c.padding);
      CAPTURE(specials);
      const int64_t Ho = ops::maxpool2d_out_size(c.H, c.size, c.stride, c.padding);
      const int64_t Wo = ops::maxpool2d_out_size(c.W, c.size, c.stride, c.padding);
      const size_t n_in = size_t(c.B * c.C * c.H * c.W), n_out = size_t(c.B * c.C * Ho * Wo);
      // Values from a small set (ties everywhere, signed zeros); with specials also NaN, +-inf
      // and -max.
      std::vector<T> x(n_in);
      for (T& v : x) {
        const int64_t k = int64_t(rng.next_uniform() * (specials ? 10 : 5));
        const T table[] = {T(-1), T(0), T(-0.0), T(1), T(2), std::numeric_limits<T>::quiet_NaN(),
                           std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
                           -std::numeric_limits<T>::max(), T(-2)};
        v = table[std::min<int64_t>(k, 9)];
      }
      std::vector<T> want(n_out), want_plain(n_out), out(n_out), plain(n_out);
      std::vector<int32_t> want_arg(n_out), arg(n_out);
      maxpool2d_reference(want, &want_arg, x, c.B * c.C, c.H, c.W, c.size, c.stride, c.padding);
      maxpool2d_reference(want_plain, nullptr, x, c.B * c.C, c.H, c.W, c.size, c.stride, c.padding);
      simad::testing::poison(std::span<T>(out));
      simad::testing::poison(std::span<T>(plain));
      simad::testing::poison(std::span<int32_t>(arg));
      ops::maxpool2d_forward(out.data(), x.data(), c.B, c.C, c.H, c.W, c.size, c.stride, c.padding, arg.data());
      ops::maxpool2d_forward(plain.data(), x.data(), c.B, c.C, c.H, c.W, c.size, c.stride, c.padding);
      size_t bad = 0, bad_plain = 0, bad_arg = 0;
      for (size_t k = 0; k < n_out; ++k) {
        bad += !same_value(out[k], want[k]);
        bad_plain += !same_value(plain[k], want_plain[k]);
        bad_arg += arg[k] != want_arg[k];
      }
      CHECK(bad == 0);
      CHECK(bad_plain == 0);
      CHECK(bad_arg == 0);
    }
  }
}

}  // namespace

TEST_CASE("ops/maxpool2d: outputs and argmax equal a plain reference loop (ties, NaN, inf, every path)") {
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  SUBCASE("float") { check_maxpool2d_against_reference<float>(rng); }
  SUBCASE("double") { check_maxpool2d_against_reference<double>(rng); }
}

TEST_CASE("ops/upsample: backward matches finite differences") {
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  struct Case {
    int64_t B, C, H, W, S;
    double scale;
  };
  for (const Case c : {Case{2, 3, 3, 5, 2, 1.0}, Case{1, 2, 4, 3, 3, 0.5}, Case{2, 1, 2, 2, 1, 2.0}}) {
    CAPTURE(c.S);
    CAPTURE(c.scale);
    const size_t n_in = size_t(c.B * c.C * c.H * c.W), n_out = n_in * size_t(c.S * c.S);
    std::vector<double> x = random_vector<double>(rng, n_in);
    const std::vector<double> r = random_vector<double>(rng, n_out);
    std::vector<double> out(n_out);
    simad::testing::poison(std::span<double>(out));
    auto loss = [&] {
      ops::upsample_nearest_forward(out.data(), x.data(), c.B, c.C, c.H, c.W, c.S, c.scale);
      return dot(out, r);
    };
    loss();
    for (double v : out) REQUIRE(std::isfinite(v));
    const std::vector<double> dx0 = random_vector<double>(rng, n_in);
    std::vector<double> dx = dx0;
    ops::upsample_nearest_backward(dx.data(), r.data(), c.B, c.C, c.H, c.W, c.S, c.scale);
    std::vector<double> want_out(n_out), want_dx = dx0;
    ops::reference::upsample_nearest_forward(want_out.data(), x.data(), c.B, c.C, c.H, c.W, c.S, c.scale);
    ops::reference::upsample_nearest_backward(want_dx.data(), r.data(), c.B, c.C, c.H, c.W, c.S, c.scale);
    CHECK(out == want_out);
    simad::testing::check_close(dx, want_dx, 1e-15, 1e-14, "upsample dinp vs the reference tier");
    SIMAD_CHECK_GRADIENT(minus(dx, dx0), simad::testing::numeric_gradient(std::span<double>(x), loss), "dinp");
  }
}

TEST_CASE("ops/shortcut: forward and backward, linear and leaky") {
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  const size_t n = 2 * 3 * 4 * 5;
  for (const bool leaky : {false, true}) {
    CAPTURE(leaky);
    std::vector<double> a = random_vector<double>(rng, n), b = random_vector<double>(rng, n);
    const std::vector<double> r = random_vector<double>(rng, n);
    std::vector<double> out(n);
    simad::testing::poison(std::span<double>(out));
    auto loss = [&] {
      ops::shortcut_forward(out.data(), a.data(), b.data(), int64_t(n), leaky);
      return dot(out, r);
    };
    loss();
    std::vector<double> want(n);
    ops::reference::shortcut_forward(want.data(), a.data(), b.data(), int64_t(n), leaky);
    CHECK(out == want);
    const std::vector<double> da0 = random_vector<double>(rng, n), db0 = random_vector<double>(rng, n);
    std::vector<double> da = da0, db = db0, want_da = da0, want_db = db0;
    ops::shortcut_backward(da.data(), db.data(), r.data(), out.data(), int64_t(n), leaky);
    ops::reference::shortcut_backward(want_da.data(), want_db.data(), r.data(), out.data(), int64_t(n), leaky);
    CHECK(da == want_da);
    CHECK(db == want_db);
    SIMAD_CHECK_GRADIENT(minus(da, da0), simad::testing::numeric_gradient(std::span<double>(a), loss), "da");
    SIMAD_CHECK_GRADIENT(minus(db, db0), simad::testing::numeric_gradient(std::span<double>(b), loss), "db");
  }
}

// [route] layers=-1,-4: per image, the routed maps one after the other along channels.
TEST_CASE("ops/route: channel concat per image and its backward match finite differences") {
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  const int64_t B = 3, HW = 4 * 5;
  const int64_t channels[] = {2, 3, 1};
  std::vector<std::vector<double>> parts;
  std::vector<int64_t> sizes;
  for (int64_t c : channels) {
    parts.push_back(random_vector<double>(rng, size_t(B * c * HW)));
    sizes.push_back(c * HW);
  }
  const int64_t total = (2 + 3 + 1) * HW;
  const std::vector<double> r = random_vector<double>(rng, size_t(B * total));
  std::vector<double> out(size_t(B * total));
  simad::testing::poison(std::span<double>(out));
  auto loss = [&] {
    const double* ptrs[] = {parts[0].data(), parts[1].data(), parts[2].data()};
    ops::concat_forward<double>(out.data(), ptrs, sizes, B);
    return dot(out, r);
  };
  loss();
  // Image 1, channel 2 of the output is channel 0 of the second part.
  CHECK(out[size_t(1 * total + 2 * HW + 7)] == parts[1][size_t(1 * 3 * HW + 7)]);
  std::vector<std::vector<double>> d0, d;
  for (const auto& p : parts) d0.push_back(random_vector<double>(rng, p.size()));
  d = d0;
  double* dptrs[] = {d[0].data(), d[1].data(), d[2].data()};
  ops::concat_backward<double>(dptrs, r.data(), sizes, B);
  for (size_t p = 0; p < parts.size(); ++p) {
    CAPTURE(p);
    SIMAD_CHECK_GRADIENT(minus(d[p], d0[p]), simad::testing::numeric_gradient(std::span<double>(parts[p]), loss),
                         "dpart");
  }
}

}  // namespace SIMAD_TEST_FILE_ID
