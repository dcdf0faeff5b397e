// Tests of include/simad/ops/dropout.hpp: the mask against the positional rule keep_i = u(offset + i) >= p,
// the outputs and gradients against the reference tier applying that mask, independence from the
// thread count, the kept fraction, p == 0, finite-difference gradients and accumulation, bad arguments.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/ops/dropout.hpp"
#include "simad/ops/reference/dropout.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

// Element i is kept when the uniform double drawn from stream position offset + i is >= p.
bool reference_keep(const Rng& rng, uint64_t position, double p) {
  return double(rng.bits_at(position) >> 11) * 0x1p-53 >= p;
}

template <typename T>
void check_forward(double rtol) {
  auto rng = testing::test_rng();
  const Rng drop(testing::test_seed() ^ 0xD50Full, 3);
  for (size_t n : {size_t(1), size_t(7), size_t(1001), size_t(100003)}) {
    for (double p : {0.1, 0.5, 0.9}) {
      for (uint64_t offset : {uint64_t(0), uint64_t(1), uint64_t(12345), (uint64_t(1) << 40) + 7}) {
        const std::vector<T> x = testing::random_vector<T>(rng, n, -2.0, 2.0);
        std::vector<T> out(n);
        std::vector<uint8_t> keep(n);
        testing::poison(std::span<T>(out));
        testing::poison(std::span<uint8_t>(keep));
        ops::dropout_forward(out.data(), keep.data(), x.data(), int64_t(n), T(p), drop, offset);
        std::vector<uint8_t> want_keep(n);
        size_t mask_errors = 0;
        for (size_t i = 0; i < n; ++i) {
          want_keep[i] = uint8_t(reference_keep(drop, offset + i, double(T(p))));
          mask_errors += keep[i] != want_keep[i];
        }
        // The reference tier applies the expected mask (in double, on the input widened to double).
        std::vector<double> expected(n);
        const std::vector<double> xd(x.begin(), x.end());
        ops::reference::dropout_forward(expected.data(), want_keep.data(), xd.data(), int64_t(n), double(T(p)));
        const std::string what = "dropout n=" + std::to_string(n) + " p=" + std::to_string(p) +
                                 " offset=" + std::to_string(offset);
        CHECK_MESSAGE(mask_errors == 0, what);
        testing::check_close(out, expected, 0.0, rtol, what);
        // In place: the same bits.
        std::vector<T> inplace = x;
        ops::dropout_forward<T>(inplace.data(), nullptr, inplace.data(), int64_t(n), T(p), drop, offset);
        CHECK_MESSAGE(std::memcmp(inplace.data(), out.data(), n * sizeof(T)) == 0, what, " in place");
      }
    }
  }
}

}  // namespace

TEST_CASE("ops/dropout: forward keeps element i when u(offset + i) >= p") {
  check_forward<float>(1e-6);
  check_forward<double>(1e-12);
}

TEST_CASE("ops/dropout: the mask depends on seed and offset only and not on the thread count") {
  auto rng = testing::test_rng();
  const int64_t n = 100003;
  const std::vector<float> x = testing::random_vector<float>(rng, size_t(n));
  const Rng drop(42, 7);
  auto run = [&](int threads, uint64_t offset, const Rng& r) {
    set_num_threads(threads);
    std::vector<float> out(static_cast<size_t>(n));
    std::vector<uint8_t> keep(static_cast<size_t>(n));
    ops::dropout_forward(out.data(), keep.data(), x.data(), n, 0.3f, r, offset);
    return keep;
  };
  const std::vector<uint8_t> one = run(1, 1000, drop), three = run(3, 1000, drop);
  const std::vector<uint8_t> shifted = run(3, 1001, drop), other_seed = run(3, 1000, Rng(43, 7));
  set_num_threads(ThreadPool::default_threads());
  CHECK(one == three);
  // Offset o + 1 gives the mask of offset o moved by one element.
  CHECK(std::equal(shifted.begin(), shifted.end() - 1, one.begin() + 1));
  CHECK(one != shifted);
  CHECK(one != other_seed);
}

TEST_CASE("ops/dropout: keeps about 1 - p of the elements") {
  const int64_t n = 1000000;
  std::vector<double> x(size_t(n), 1.0), out(static_cast<size_t>(n));
  std::vector<uint8_t> keep(static_cast<size_t>(n));
  const Rng drop(testing::test_seed());
  for (double p : {0.05, 0.3, 0.5, 0.9}) {
    ops::dropout_forward(out.data(), keep.data(), x.data(), n, p, drop, 0);
    double kept = 0, total = 0;
    for (int64_t i = 0; i < n; ++i) kept += keep[size_t(i)], total += out[size_t(i)];
    // The kept count is Binomial(n, 1 - p): within 6 standard deviations sqrt(n p (1 - p)) (a false
    // failure has probability ~2e-9). The inverted scaling keeps the expected sum: sum(out) = kept / (1 - p).
    const double sd = std::sqrt(double(n) * p * (1.0 - p));
    CHECK_MESSAGE(std::fabs(kept - double(n) * (1.0 - p)) < 6.0 * sd, "p=", p, " kept ", kept, " of ", n);
    CHECK(total == doctest::Approx(kept / (1.0 - p)).epsilon(1e-9));  // 1e6 terms summed in double
    CHECK(std::fabs(total - double(n)) < 6.0 * sd / (1.0 - p));
  }
}

TEST_CASE("ops/dropout: p == 0 copies and p outside 0 <= p < 1 throws") {
  auto rng = testing::test_rng();
  const std::vector<float> x = testing::random_vector<float>(rng, 1000);
  std::vector<float> out(x.size());
  std::vector<uint8_t> keep(x.size(), 0);
  const Rng drop(1);
  ops::dropout_forward(out.data(), keep.data(), x.data(), 1000, 0.0f, drop, 0);
  CHECK(out == x);
  CHECK(std::all_of(keep.begin(), keep.end(), [](uint8_t k) { return k == 1; }));
  std::vector<float> dx(x.size(), 1.0f);
  ops::dropout_backward<float>(dx.data(), x.data(), nullptr, 1000, 0.0f);  // p == 0: no mask needed
  for (size_t i = 0; i < x.size(); ++i) REQUIRE(dx[i] == 1.0f + x[i]);

  for (float p : {1.0f, -0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
    CHECK_THROWS_AS(ops::dropout_forward(out.data(), keep.data(), x.data(), 1000, p, drop, 0), Error);
    CHECK_THROWS_AS(ops::dropout_backward(dx.data(), x.data(), keep.data(), 1000, p), Error);
  }
  CHECK_THROWS_WITH_AS(ops::dropout_forward(out.data(), keep.data(), x.data(), 1000, 1.0f, drop, 0),
                       doctest::Contains("[0, 1)"), Error);
  CHECK_THROWS_AS(ops::dropout_forward(out.data(), keep.data(), x.data(), -1, 0.5f, drop, 0), Error);
  CHECK_THROWS_AS(ops::dropout_forward<float>(nullptr, keep.data(), x.data(), 10, 0.5f, drop, 0), Error);
  CHECK_THROWS_AS(ops::dropout_forward<float>(out.data(), keep.data(), nullptr, 10, 0.5f, drop, 0), Error);
  CHECK_THROWS_AS(ops::dropout_backward(dx.data(), x.data(), keep.data(), -1, 0.5f), Error);
  CHECK_THROWS_AS(ops::dropout_backward<float>(dx.data(), x.data(), nullptr, 10, 0.5f), Error);
  CHECK_THROWS_AS(ops::dropout_backward<float>(dx.data(), nullptr, keep.data(), 10, 0.5f), Error);
  ops::dropout_forward<float>(nullptr, nullptr, nullptr, 0, 0.5f, drop, 0);  // empty
  ops::dropout_backward<float>(nullptr, x.data(), keep.data(), 10, 0.5f);   // no gradient wanted
}

TEST_CASE("ops/dropout: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  const Rng drop(testing::test_seed(), 1);
  for (double p : {0.2, 0.6}) {
    const size_t n = 57;
    const uint64_t offset = 99;
    std::vector<double> x = testing::random_vector<double>(rng, n);
    const std::vector<double> W = testing::random_vector<double>(rng, n);
    std::vector<double> out(n);
    std::vector<uint8_t> keep(n);
    auto loss = [&] {
      ops::dropout_forward(out.data(), keep.data(), x.data(), int64_t(n), p, drop, offset);
      double L = 0;
      for (size_t i = 0; i < n; ++i) L += out[i] * W[i];
      return L;
    };
    const std::vector<double> numeric = testing::numeric_gradient(std::span<double>(x), loss);
    loss();
    std::vector<double> from_zero(n, 0.0);
    ops::dropout_backward(from_zero.data(), W.data(), keep.data(), int64_t(n), p);
    SIMAD_CHECK_GRADIENT(from_zero, numeric, "dropout dinp");

    const std::vector<double> start = testing::random_vector<double>(rng, n);
    std::vector<double> acc = start, expected = start, added(n);
    ops::dropout_backward(acc.data(), W.data(), keep.data(), int64_t(n), p);
    ops::reference::dropout_backward(expected.data(), W.data(), keep.data(), int64_t(n), p);
    for (size_t i = 0; i < n; ++i) added[i] = acc[i] - start[i];
    testing::check_close(acc, expected, 1e-15, 1e-15, "dropout dinp accumulates");
    SIMAD_CHECK_GRADIENT(added, numeric, "dropout dinp accumulated");
  }
  // float, large: dinp = start + keep * dout / (1 - p), on several threads.
  const int64_t n = 100003;
  const std::vector<float> dout = testing::random_vector<float>(rng, size_t(n));
  const std::vector<float> start = testing::random_vector<float>(rng, size_t(n));
  std::vector<float> out(static_cast<size_t>(n)), dinp = start;
  std::vector<uint8_t> keep(static_cast<size_t>(n));
  ops::dropout_forward(out.data(), keep.data(), dout.data(), n, 0.25f, drop, 5);
  ops::dropout_backward(dinp.data(), dout.data(), keep.data(), n, 0.25f);
  std::vector<double> expected(start.begin(), start.end());
  const std::vector<double> dout_d(dout.begin(), dout.end());
  ops::reference::dropout_backward(expected.data(), dout_d.data(), keep.data(), n, 0.25);
  testing::check_close(dinp, expected, 1e-7, 1e-6, "dropout float backward");
}

}  // namespace SIMAD_TEST_FILE_ID
