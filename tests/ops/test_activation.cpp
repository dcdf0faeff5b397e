// Tests of include/simad/ops/activation.hpp: relu, leaky_relu, gelu, gelu_tanh, tanh, sigmoid against the reference
// tier (ops/reference/activation.hpp), finite-difference gradients, in-place forward, special values, bad arguments.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/ops/activation.hpp"
#include "simad/ops/reference/activation.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

enum class Act { relu, leaky_relu, gelu, gelu_tanh, tanh, sigmoid };
constexpr Act kAll[] = {Act::relu, Act::leaky_relu, Act::gelu, Act::gelu_tanh, Act::tanh, Act::sigmoid};
constexpr double kSlope = 0.1;  // leaky_relu's default, checked against this reference

const char* name(Act a) {
  switch (a) {
    case Act::relu: return "relu";
    case Act::leaky_relu: return "leaky_relu";
    case Act::gelu: return "gelu";
    case Act::gelu_tanh: return "gelu_tanh";
    case Act::tanh: return "tanh";
    case Act::sigmoid: return "sigmoid";
  }
  return "?";
}

// The ops under test (leaky_relu with its default slope).
template <typename T>
void forward(Act a, T* out, const T* inp, int64_t n) {
  switch (a) {
    case Act::relu: ops::relu_forward(out, inp, n); break;
    case Act::leaky_relu: ops::leaky_relu_forward(out, inp, n); break;
    case Act::gelu: ops::gelu_forward(out, inp, n); break;
    case Act::gelu_tanh: ops::gelu_tanh_forward(out, inp, n); break;
    case Act::tanh: ops::tanh_forward(out, inp, n); break;
    case Act::sigmoid: ops::sigmoid_forward(out, inp, n); break;
  }
}
// tanh and sigmoid take the forward output, the others the input.
template <typename T>
void backward(Act a, T* dinp, const T* dout, const T* inp, const T* out, int64_t n) {
  switch (a) {
    case Act::relu: ops::relu_backward(dinp, dout, inp, n); break;
    case Act::leaky_relu: ops::leaky_relu_backward(dinp, dout, inp, n); break;
    case Act::gelu: ops::gelu_backward(dinp, dout, inp, n); break;
    case Act::gelu_tanh: ops::gelu_tanh_backward(dinp, dout, inp, n); break;
    case Act::tanh: ops::tanh_backward(dinp, dout, out, n); break;
    case Act::sigmoid: ops::sigmoid_backward(dinp, dout, out, n); break;
  }
}

// The reference tier (ops/reference/activation.hpp) in double, on inputs widened to double; leaky_relu
// with an explicit kSlope (so the ops' default slope is checked). Backward: start + dout * f'(x).
std::vector<double> reference_forward(Act a, const std::vector<double>& x) {
  std::vector<double> y(x.size());
  const auto n = int64_t(x.size());
  switch (a) {
    case Act::relu: ops::reference::relu_forward(y.data(), x.data(), n); break;
    case Act::leaky_relu: ops::reference::leaky_relu_forward(y.data(), x.data(), n, kSlope); break;
    case Act::gelu: ops::reference::gelu_forward(y.data(), x.data(), n); break;
    case Act::gelu_tanh: ops::reference::gelu_tanh_forward(y.data(), x.data(), n); break;
    case Act::tanh: ops::reference::tanh_forward(y.data(), x.data(), n); break;
    case Act::sigmoid: ops::reference::sigmoid_forward(y.data(), x.data(), n); break;
  }
  return y;
}
std::vector<double> reference_backward(Act a, std::vector<double> dinp, const std::vector<double>& dout,
                                       const std::vector<double>& x) {
  const std::vector<double> y = reference_forward(a, x);
  const auto n = int64_t(x.size());
  switch (a) {
    case Act::relu: ops::reference::relu_backward(dinp.data(), dout.data(), x.data(), n); break;
    case Act::leaky_relu: ops::reference::leaky_relu_backward(dinp.data(), dout.data(), x.data(), n, kSlope); break;
    case Act::gelu: ops::reference::gelu_backward(dinp.data(), dout.data(), x.data(), n); break;
    case Act::gelu_tanh: ops::reference::gelu_tanh_backward(dinp.data(), dout.data(), x.data(), n); break;
    case Act::tanh: ops::reference::tanh_backward(dinp.data(), dout.data(), y.data(), n); break;
    case Act::sigmoid: ops::reference::sigmoid_backward(dinp.data(), dout.data(), y.data(), n); break;
  }
  return dinp;
}

// Uniform in [lo, hi) with |x| > 1e-3: no element near relu's kink (finite differences use 1e-5).
template <typename T>
std::vector<T> inputs_off_kink(Rng& rng, size_t n, double lo, double hi) {
  std::vector<T> x = testing::random_vector<T>(rng, n, lo, hi);
  for (T& v : x)
    if (std::fabs(double(v)) < 1e-3) v = v < T(0) ? T(-0.5) : T(0.5);
  return x;
}

template <typename T>
void check_forward(double atol, double rtol) {
  auto rng = testing::test_rng();
  for (Act a : kAll) {
    for (size_t n : {size_t(1), size_t(7), size_t(33), size_t(1000), size_t(70001)}) {
      const std::vector<T> x = inputs_off_kink<T>(rng, n, -6.0, 6.0);
      std::vector<T> out(n);
      testing::poison(std::span<T>(out));
      forward(a, out.data(), x.data(), int64_t(n));
      const std::vector<double> expected = reference_forward(a, std::vector<double>(x.begin(), x.end()));
      testing::check_close(out, expected, atol, rtol, std::string(name(a)) + " forward n=" + std::to_string(n));
      // In place: the same bits as out of place.
      std::vector<T> inplace = x;
      forward(a, inplace.data(), inplace.data(), int64_t(n));
      CHECK_MESSAGE(std::memcmp(inplace.data(), out.data(), n * sizeof(T)) == 0, name(a), " in place, n=", n);
    }
  }
}

template <typename T>
void check_backward_reference(double atol, double rtol) {
  auto rng = testing::test_rng(1);
  for (Act a : kAll) {
    for (size_t n : {size_t(1), size_t(13), size_t(70001)}) {
      const std::vector<T> x = inputs_off_kink<T>(rng, n, -6.0, 6.0);
      const std::vector<T> dout = testing::random_vector<T>(rng, n);
      const std::vector<T> start = testing::random_vector<T>(rng, n);
      std::vector<T> out(n);
      forward(a, out.data(), x.data(), int64_t(n));
      std::vector<T> dinp = start;
      backward(a, dinp.data(), dout.data(), x.data(), out.data(), int64_t(n));
      const std::vector<double> expected =
          reference_backward(a, std::vector<double>(start.begin(), start.end()),
                             std::vector<double>(dout.begin(), dout.end()), std::vector<double>(x.begin(), x.end()));
      testing::check_close(dinp, expected, atol, rtol, std::string(name(a)) + " backward n=" + std::to_string(n));
    }
  }
}

}  // namespace

TEST_CASE("ops/activation: forward matches the double reference") {
  check_forward<float>(1e-6, 1e-6);
  check_forward<double>(1e-12, 1e-12);
}

TEST_CASE("ops/activation: backward matches the double reference derivative and accumulates") {
  // float: tanh/sigmoid backward use the float output y, whose rounding (~6e-8) enters 1 - y^2.
  check_backward_reference<float>(1e-6, 1e-5);
  check_backward_reference<double>(1e-12, 1e-12);
}

TEST_CASE("ops/activation: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  for (Act a : kAll) {
    const size_t n = 41;
    std::vector<double> x = inputs_off_kink<double>(rng, n, -3.0, 3.0);
    const std::vector<double> W = testing::random_vector<double>(rng, n);
    std::vector<double> out(n);
    auto loss = [&] {
      forward(a, out.data(), x.data(), int64_t(n));
      double L = 0;
      for (size_t i = 0; i < n; ++i) L += out[i] * W[i];
      return L;
    };
    const std::vector<double> numeric = testing::numeric_gradient(std::span<double>(x), loss);
    loss();  // out for the current x (tanh/sigmoid backward read it)

    std::vector<double> from_zero(n, 0.0);
    backward(a, from_zero.data(), W.data(), x.data(), out.data(), int64_t(n));
    SIMAD_CHECK_GRADIENT(from_zero, numeric, (std::string(name(a)) + " dinp"));

    const std::vector<double> start = testing::random_vector<double>(rng, n);
    std::vector<double> accumulated = start;
    backward(a, accumulated.data(), W.data(), x.data(), out.data(), int64_t(n));
    std::vector<double> expected(n), added(n);
    for (size_t i = 0; i < n; ++i) {
      expected[i] = start[i] + from_zero[i];
      added[i] = accumulated[i] - start[i];
    }
    testing::check_close(accumulated, expected, 1e-15, 1e-15, std::string(name(a)) + " accumulates");
    SIMAD_CHECK_GRADIENT(added, numeric, (std::string(name(a)) + " dinp accumulated"));
  }
}

TEST_CASE("ops/activation: special values and kinks and the leaky slope") {
  const double x[] = {0.0, 1.0, -2.0, 1000.0, -1000.0, 50.0, -50.0};
  double y[7];
  ops::relu_forward(y, x, 7);
  CHECK(y[0] == 0.0);
  CHECK(y[2] == 0.0);
  ops::leaky_relu_forward(y, x, 7);  // default slope 0.1
  CHECK(y[2] == doctest::Approx(-0.2).epsilon(1e-15));
  ops::leaky_relu_forward(y, x, 7, 0.25);
  CHECK(y[2] == -0.5);
  CHECK(y[3] == 1000.0);
  ops::gelu_forward(y, x, 7);
  CHECK(y[0] == 0.0);
  CHECK(y[1] == doctest::Approx(0.8413447460685429).epsilon(1e-14));
  CHECK(y[3] == 1000.0);
  CHECK(y[4] == 0.0);
  ops::sigmoid_forward(y, x, 7);
  CHECK(y[0] == 0.5);
  CHECK(y[3] == 1.0);
  CHECK(y[4] >= 0.0);
  CHECK(y[4] < 1e-300);
  CHECK(std::isfinite(y[4]));
  float yf[7], xf[7];
  for (int i = 0; i < 7; ++i) xf[i] = float(x[i]);
  ops::sigmoid_forward(yf, xf, 7);
  for (float v : yf) CHECK((std::isfinite(v) && v >= 0.0f && v <= 1.0f));
  ops::tanh_forward(y, x, 7);
  CHECK(y[5] == 1.0);
  CHECK(y[6] == -1.0);
  // NaN propagates through every activation.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (Act a : kAll) {
    double v = 0;
    forward(a, &v, &nan, 1);
    CHECK_MESSAGE(std::isnan(v), name(a));
  }
  // Derivatives at the kink x == 0: relu 0, leaky slope (as PyTorch); gelu'(0) = 0.5.
  const double zero = 0.0, one = 1.0;
  double d = 0;
  ops::relu_backward(&d, &one, &zero, 1);
  CHECK(d == 0.0);
  ops::leaky_relu_backward(&d, &one, &zero, 1, 0.25);
  CHECK(d == 0.25);
  d = 0;
  ops::gelu_backward(&d, &one, &zero, 1);
  CHECK(d == 0.5);
  d = 0;
  ops::gelu_tanh_backward(&d, &one, &zero, 1);
  CHECK(d == 0.5);
  // gelu_tanh(1) = 0.5 (1 + tanh(sqrt(2 / pi) 1.044715)) in closed form, and its gap to the exact gelu.
  double g = 0, e = 0;
  ops::gelu_tanh_forward(&g, &one, 1);
  ops::gelu_forward(&e, &one, 1);
  CHECK(g == doctest::Approx(0.5 * (1 + std::tanh(std::sqrt(2 / 3.14159265358979323846) * 1.044715))).epsilon(1e-15));
  CHECK(std::fabs(g - e) < 1e-3);
  // A null gradient is skipped.
  ops::relu_backward(static_cast<double*>(nullptr), &one, &zero, 1);
}

TEST_CASE("ops/activation: bad arguments throw simad::Error") {
  std::vector<float> a(4), b(4);
  for (Act act : kAll) {
    CHECK_THROWS_AS(forward(act, a.data(), b.data(), -1), Error);
    CHECK_THROWS_AS(forward<float>(act, nullptr, b.data(), 4), Error);
    CHECK_THROWS_AS(forward<float>(act, a.data(), nullptr, 4), Error);
    CHECK_THROWS_AS(backward(act, a.data(), b.data(), b.data(), b.data(), -1), Error);
    CHECK_THROWS_AS(backward<float>(act, a.data(), nullptr, nullptr, nullptr, 4), Error);
    forward<float>(act, nullptr, nullptr, 0);  // nothing to do
    backward<float>(act, nullptr, nullptr, nullptr, nullptr, 0);
  }
  CHECK_THROWS_AS(ops::leaky_relu_forward(a.data(), b.data(), 4, std::numeric_limits<float>::quiet_NaN()), Error);
  CHECK_THROWS_AS(ops::leaky_relu_backward(a.data(), b.data(), b.data(), 4, std::numeric_limits<float>::infinity()),
                  Error);
}

}  // namespace SIMAD_TEST_FILE_ID
