// tests/testing.hpp: what every simad test uses.
// - test_rng(): a seeded Rng per test; the seed is a hash of the test's name (so a failure
//   reproduces) unless SIMAD_TEST_SEED overrides it, and it is printed with every failure.
// - random tensors/vectors, NaN poisoning of outputs (so an element a kernel forgets to write fails).
// - check_close(): |actual - expected| <= atol + rtol * |expected| per element, against a reference
//   computed in double; reports the worst element and the count of failures.
// - numeric_gradient() / gradient_relative_error(): central finite differences in double.
// - TempDir: a fresh temporary directory, removed with its contents when it goes out of scope.
// - error_of(f): the message of the simad::Error that f() throws, or "" when it throws none.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"

namespace simad::testing {

inline uint64_t test_seed() {
  if (const char* env = std::getenv("SIMAD_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  const doctest::ContextOptions* options = doctest::getContextOptions();
  const char* name = options && options->currentTest ? options->currentTest->m_name : "";
  uint64_t h = 1469598103934665603ull;  // FNV-1a of the test's name
  for (const char* p = name; *p; ++p) h = (h ^ uint8_t(*p)) * 1099511628211ull;
  return h;
}

// A fresh Rng for the running test. Failure messages of check_close and SIMAD_CHECK_GRADIENT print
// the seed; SIMAD_TEST_SEED=<seed> reruns a test with it.
inline Rng test_rng(uint64_t stream = 0) { return Rng(test_seed(), stream); }

template <typename T>
std::vector<T> random_vector(Rng& rng, size_t n, double lo = -1.0, double hi = 1.0) {
  std::vector<T> v(n);
  rng.fill_uniform(std::span<T>(v), lo, hi);
  return v;
}

template <typename T>
Tensor<T> random_tensor(Rng& rng, const Shape& shape, double lo = -1.0, double hi = 1.0) {
  Tensor<T> t = Tensor<T>::empty(shape);
  rng.fill_uniform(t.span(), lo, hi);
  return t;
}

// Fills with NaN (floating point) or a large sentinel (integers): elements an op must write.
template <typename T>
void poison(std::span<T> v) {
  T bad;
  if constexpr (std::numeric_limits<T>::has_quiet_NaN) bad = std::numeric_limits<T>::quiet_NaN();
  else bad = std::numeric_limits<T>::max();
  for (auto& x : v) x = bad;
}
template <typename T>
void poison(const Tensor<T>& t) { poison(t.span()); }

template <typename T>
Tensor<T> poisoned_tensor(const Shape& shape) {
  Tensor<T> t = Tensor<T>::empty(shape);
  poison(t);
  return t;
}

// Per-element |actual - expected| <= atol + rtol * |expected|; NaN anywhere fails.
template <typename A, typename E>
void check_close(std::span<const A> actual, std::span<const E> expected, double atol, double rtol,
                 const std::string& what) {
  REQUIRE_MESSAGE(actual.size() == expected.size(), what, ": sizes differ");
  size_t bad = 0, worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = double(actual[i]), e = double(expected[i]);
    const double err = std::fabs(a - e), tol = atol + rtol * std::fabs(e);
    const bool ok = std::isfinite(a) == std::isfinite(e) && (!std::isfinite(e) ? a == e : err <= tol);
    const double excess = std::isnan(err) ? std::numeric_limits<double>::infinity() : err - tol;
    if (!ok) ++bad;
    if (!ok && excess > worst_excess) worst_excess = excess, worst = i;
  }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " of ", actual.size(), " elements out of tolerance (atol ", atol,
                ", rtol ", rtol, "); worst at [", worst, "]: got ", double(actual.empty() ? A{} : actual[worst]),
                " expected ", double(expected.empty() ? E{} : expected[worst]), "; seed ", test_seed());
}
template <typename A, typename E>
void check_close(const std::vector<A>& actual, const std::vector<E>& expected, double atol, double rtol,
                 const std::string& what) {
  check_close(std::span<const A>(actual), std::span<const E>(expected), atol, rtol, what);
}
template <typename A, typename E>
void check_close(const Tensor<A>& actual, std::span<const E> expected, double atol, double rtol,
                 const std::string& what) {
  check_close(std::span<const A>(actual.data(), size_t(actual.numel())), expected, atol, rtol, what);
}
// Two CPU tensors of the same shape.
template <typename A, typename E>
void check_close(const Tensor<A>& actual, const Tensor<E>& expected, double atol, double rtol,
                 const std::string& what) {
  CHECK_MESSAGE(actual.shape() == expected.shape(), what, ": shape ", actual.shape(), ", expected ", expected.shape());
  if (actual.shape() != expected.shape()) return;
  check_close(actual, std::span<const E>(expected.data(), size_t(expected.numel())), atol, rtol, what);
}

// Central differences of loss() with respect to each element of x (x is perturbed and restored).
template <typename F>
std::vector<double> numeric_gradient(std::span<double> x, F&& loss, double eps = 1e-5) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double up = loss();
    x[i] = saved - eps;
    const double down = loss();
    x[i] = saved;
    g[i] = (up - down) / (2.0 * eps);
  }
  return g;
}

// ||analytic - numeric|| / max(||analytic||, ||numeric||, 1e-12): the gradient checks' measure.
inline double gradient_relative_error(std::span<const double> analytic, std::span<const double> numeric) {
  REQUIRE(analytic.size() == numeric.size());
  double diff = 0, na = 0, nn = 0;
  for (size_t i = 0; i < analytic.size(); ++i) {
    diff += (analytic[i] - numeric[i]) * (analytic[i] - numeric[i]);
    na += analytic[i] * analytic[i];
    nn += numeric[i] * numeric[i];
  }
  return std::sqrt(diff) / std::max({std::sqrt(na), std::sqrt(nn), 1e-12});
}
inline double gradient_relative_error(const std::vector<double>& analytic, const std::vector<double>& numeric) {
  return gradient_relative_error(std::span<const double>(analytic), std::span<const double>(numeric));
}

// A fresh, empty directory <tmp>/<name>-<pid>-<test seed>-<n>, n counting the TempDirs of this process (so two
// never collide, in one process or across concurrent ones), removed with everything in it on destruction.
class TempDir {
 public:
  const std::filesystem::path path;

  explicit TempDir(const std::string& name) : path(unique_path(name)) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);  // a leftover of a crashed run that had the same pid and seed
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

 private:
  static std::filesystem::path unique_path(const std::string& name) {
    static std::atomic<uint64_t> counter{0};
    return std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(test_seed()) + "-" + std::to_string(counter++));
  }
};

// Asserts the gradient check: relative error below 1e-6 (the foundation's bound for double).
#define SIMAD_CHECK_GRADIENT(analytic, numeric, what)                                       \
  do {                                                                                     \
    const double rel_ = ::simad::testing::gradient_relative_error(analytic, numeric);      \
    CHECK_MESSAGE(rel_ < 1e-6, (what), ": gradient relative error ", rel_, " >= 1e-6; seed ", \
                  ::simad::testing::test_seed());                                          \
    CHECK(!(analytic).empty());                                                            \
  } while (0)

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace simad::testing
