// Tests of include/simad/ops/layernorm.hpp: forward (output, mean, rstd) and backward against the reference tier,
// finite-difference gradients for input, weight and bias, accumulation, thread-count independent
// parameter gradients, optional pointers, bad arguments.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "simad/ops/layernorm.hpp"
#include "simad/ops/reference/layernorm.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

struct Reference {
  std::vector<double> out, mean, rstd;
};

// The reference tier (ops/reference/layernorm.hpp) run in double on the inputs widened to double;
// weight/bias may be null (1 and 0).
template <typename T>
Reference reference_layernorm(const std::vector<T>& x, const T* w, const T* b, int64_t N, int64_t C, double eps) {
  Reference r{std::vector<double>(size_t(N * C)), std::vector<double>(size_t(N)), std::vector<double>(size_t(N))};
  const std::vector<double> xd(x.begin(), x.end());
  std::vector<double> wd, bd;
  if (w) wd.assign(w, w + C);
  if (b) bd.assign(b, b + C);
  ops::reference::layernorm_forward<double>(r.out.data(), r.mean.data(), r.rstd.data(), xd.data(),
                                            w ? wd.data() : nullptr, b ? bd.data() : nullptr, N, C, eps);
  return r;
}

const std::pair<int64_t, int64_t> kShapes[] = {{1, 1}, {1, 7}, {4, 1}, {3, 33}, {64, 8}, {130, 77}, {2, 1000}};

template <typename T>
void check_forward(double atol, double rtol) {
  auto rng = testing::test_rng();
  for (auto [N, C] : kShapes) {
    // Rows with an offset (mean ~ 3) and spread ~ 2: a one-pass variance would lose digits.
    const std::vector<T> x = testing::random_vector<T>(rng, size_t(N * C), 1.0, 5.0);
    const std::vector<T> w = testing::random_vector<T>(rng, size_t(C), 0.5, 1.5);
    const std::vector<T> b = testing::random_vector<T>(rng, size_t(C));
    const std::string what = "layernorm (" + std::to_string(N) + ", " + std::to_string(C) + ")";
    std::vector<T> out(x.size()), mean(static_cast<size_t>(N)), rstd(static_cast<size_t>(N));
    testing::poison(std::span<T>(out));
    testing::poison(std::span<T>(mean));
    testing::poison(std::span<T>(rstd));
    ops::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
    const Reference ref = reference_layernorm(x, w.data(), b.data(), N, C, 1e-5);
    testing::check_close(out, ref.out, atol, rtol, what + " out");
    testing::check_close(mean, ref.mean, atol, rtol, what + " mean");
    testing::check_close(rstd, ref.rstd, atol, rtol, what + " rstd");
    // mean/rstd not wanted: the same output bits.
    std::vector<T> out2(x.size());
    testing::poison(std::span<T>(out2));
    ops::layernorm_forward<T>(out2.data(), nullptr, nullptr, x.data(), w.data(), b.data(), N, C);
    CHECK_MESSAGE(std::memcmp(out2.data(), out.data(), out.size() * sizeof(T)) == 0, what, " without mean/rstd");
    // In place.
    std::vector<T> inplace = x;
    ops::layernorm_forward<T>(inplace.data(), nullptr, nullptr, inplace.data(), w.data(), b.data(), N, C);
    CHECK_MESSAGE(std::memcmp(inplace.data(), out.data(), out.size() * sizeof(T)) == 0, what, " in place");
    // No affine (weight and bias null), and another eps.
    testing::poison(std::span<T>(out2));
    ops::layernorm_forward<T>(out2.data(), nullptr, nullptr, x.data(), nullptr, nullptr, N, C, T(1e-3));
    testing::check_close(out2, reference_layernorm<T>(x, nullptr, nullptr, N, C, double(T(1e-3))).out, atol, rtol,
                         what + " no affine, eps 1e-3");
  }
}

}  // namespace

TEST_CASE("ops/layernorm: forward matches the double reference") {
  check_forward<float>(1e-5, 1e-5);
  check_forward<double>(1e-12, 1e-12);
}

TEST_CASE("ops/layernorm: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  for (auto [N, C] : {std::pair<int64_t, int64_t>{1, 1}, {3, 1}, {1, 7}, {6, 11}, {5, 33}}) {
    for (int affine = 0; affine < 2; ++affine) {
      std::vector<double> x = testing::random_vector<double>(rng, size_t(N * C), -2.0, 2.0);
      std::vector<double> w = testing::random_vector<double>(rng, size_t(C), 0.5, 1.5);
      std::vector<double> b = testing::random_vector<double>(rng, size_t(C));
      const std::vector<double> W = testing::random_vector<double>(rng, x.size());
      const double* wp = affine ? w.data() : nullptr;
      const double* bp = affine ? b.data() : nullptr;
      std::vector<double> out(x.size()), mean(static_cast<size_t>(N)), rstd(static_cast<size_t>(N));
      auto loss = [&] {
        ops::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), wp, bp, N, C);
        double L = 0;
        for (size_t k = 0; k < out.size(); ++k) L += out[k] * W[k];
        return L;
      };
      const std::vector<double> num_x = testing::numeric_gradient(std::span<double>(x), loss);
      const std::vector<double> num_w = testing::numeric_gradient(std::span<double>(w), loss);
      const std::vector<double> num_b = testing::numeric_gradient(std::span<double>(b), loss);
      loss();  // mean, rstd of the unperturbed input

      const std::string what = "layernorm (" + std::to_string(N) + ", " + std::to_string(C) + ")" +
                               (affine ? "" : " no affine");
      std::vector<double> dx0(x.size(), 0.0), dw0(size_t(C), 0.0), db0(size_t(C), 0.0);
      ops::layernorm_backward(dx0.data(), dw0.data(), db0.data(), W.data(), x.data(), wp, mean.data(), rstd.data(),
                              N, C);
      SIMAD_CHECK_GRADIENT(dx0, num_x, (what + " dinp"));
      if (affine) {  // without affine the forward ignores w, b: the numeric gradients are 0
        SIMAD_CHECK_GRADIENT(dw0, num_w, (what + " dweight"));
        SIMAD_CHECK_GRADIENT(db0, num_b, (what + " dbias"));
      }
      std::vector<double> rdx(x.size(), 0.0), rdw(size_t(C), 0.0), rdb(size_t(C), 0.0);
      ops::reference::layernorm_backward(rdx.data(), rdw.data(), rdb.data(), W.data(), x.data(), wp, mean.data(),
                                         rstd.data(), N, C);
      testing::check_close(dx0, rdx, 1e-12, 1e-12, what + " dinp vs the reference tier");
      testing::check_close(dw0, rdw, 1e-12, 1e-12, what + " dweight vs the reference tier");
      testing::check_close(db0, rdb, 1e-12, 1e-12, what + " dbias vs the reference tier");

      const std::vector<double> sx = testing::random_vector<double>(rng, x.size());
      const std::vector<double> sw = testing::random_vector<double>(rng, size_t(C));
      const std::vector<double> sb = testing::random_vector<double>(rng, size_t(C));
      std::vector<double> dx = sx, dw = sw, db = sb;
      ops::layernorm_backward(dx.data(), dw.data(), db.data(), W.data(), x.data(), wp, mean.data(), rstd.data(), N,
                              C);
      auto sum = [](const std::vector<double>& a, const std::vector<double>& c) {
        std::vector<double> s(a.size());
        for (size_t k = 0; k < a.size(); ++k) s[k] = a[k] + c[k];
        return s;
      };
      auto diff = [](const std::vector<double>& a, const std::vector<double>& c) {
        std::vector<double> s(a.size());
        for (size_t k = 0; k < a.size(); ++k) s[k] = a[k] - c[k];
        return s;
      };
      testing::check_close(dx, sum(sx, dx0), 1e-14, 1e-14, what + " dinp accumulates");
      testing::check_close(dw, sum(sw, dw0), 1e-14, 1e-14, what + " dweight accumulates");
      testing::check_close(db, sum(sb, db0), 1e-14, 1e-14, what + " dbias accumulates");
      SIMAD_CHECK_GRADIENT(diff(dx, sx), num_x, (what + " dinp accumulated"));
      if (affine) {
        SIMAD_CHECK_GRADIENT(diff(dw, sw), num_w, (what + " dweight accumulated"));
        SIMAD_CHECK_GRADIENT(diff(db, sb), num_b, (what + " dbias accumulated"));
      }

      // Each gradient alone (the others null) gives the same bits.
      std::vector<double> only_x = sx, only_w = sw, only_b = sb;
      ops::layernorm_backward<double>(only_x.data(), nullptr, nullptr, W.data(), x.data(), wp, mean.data(),
                                      rstd.data(), N, C);
      ops::layernorm_backward<double>(nullptr, only_w.data(), nullptr, W.data(), x.data(), wp, mean.data(),
                                      rstd.data(), N, C);
      ops::layernorm_backward<double>(nullptr, nullptr, only_b.data(), W.data(), x.data(), wp, mean.data(),
                                      rstd.data(), N, C);
      CHECK(only_x == dx);
      CHECK(only_w == dw);
      CHECK(only_b == db);
    }
  }
}

TEST_CASE("ops/layernorm: float backward matches the double backward") {
  auto rng = testing::test_rng();
  const int64_t N = 700, C = 45;
  const std::vector<float> xf = testing::random_vector<float>(rng, size_t(N * C), -2.0, 3.0);
  const std::vector<float> wf = testing::random_vector<float>(rng, size_t(C), 0.5, 1.5);
  const std::vector<float> bf = testing::random_vector<float>(rng, size_t(C));
  const std::vector<float> dyf = testing::random_vector<float>(rng, xf.size());
  const std::vector<double> xd(xf.begin(), xf.end()), wd(wf.begin(), wf.end()), bd(bf.begin(), bf.end()),
      dyd(dyf.begin(), dyf.end());
  const size_t n = xf.size(), rows = size_t(N), cols = size_t(C);
  std::vector<float> of(n), mf(rows), rf(rows), dxf(n, 0.25f), dwf(cols, 0.25f), dbf(cols, 0.25f);
  std::vector<double> od(n), md(rows), rd(rows), dxd(n, 0.25), dwd(cols, 0.25), dbd(cols, 0.25);
  ops::layernorm_forward(of.data(), mf.data(), rf.data(), xf.data(), wf.data(), bf.data(), N, C);
  ops::layernorm_forward(od.data(), md.data(), rd.data(), xd.data(), wd.data(), bd.data(), N, C);
  ops::layernorm_backward(dxf.data(), dwf.data(), dbf.data(), dyf.data(), xf.data(), wf.data(), mf.data(), rf.data(),
                          N, C);
  ops::layernorm_backward(dxd.data(), dwd.data(), dbd.data(), dyd.data(), xd.data(), wd.data(), md.data(), rd.data(),
                          N, C);
  testing::check_close(dxf, dxd, 1e-5, 1e-5, "layernorm float dinp");
  // dweight/dbias sum 700 rows of O(1) terms: float rounding of each term adds up to ~1e-5.
  testing::check_close(dwf, dwd, 1e-4, 1e-5, "layernorm float dweight");
  testing::check_close(dbf, dbd, 1e-4, 1e-5, "layernorm float dbias");
}

TEST_CASE("ops/layernorm: gradients do not depend on the thread count") {
  auto rng = testing::test_rng();
  const int64_t N = 5000, C = 50;  // several column chunks and several row chunks
  const std::vector<float> x = testing::random_vector<float>(rng, size_t(N * C), -2.0, 2.0);
  const std::vector<float> w = testing::random_vector<float>(rng, size_t(C));
  const std::vector<float> b = testing::random_vector<float>(rng, size_t(C));
  const std::vector<float> dy = testing::random_vector<float>(rng, x.size());
  auto run = [&](int threads) {
    set_num_threads(threads);
    const size_t n = x.size(), rows = size_t(N), cols = size_t(C);
    std::vector<float> out(n), mean(rows), rstd(rows), dx(n, 0.0f), dw(cols, 0.0f), db(cols, 0.0f);
    ops::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
    ops::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(), rstd.data(),
                            N, C);
    for (auto* v : {&dx, &dw, &db, &mean, &rstd}) out.insert(out.end(), v->begin(), v->end());
    return out;
  };
  const std::vector<float> one = run(1), three = run(3), two = run(2);
  set_num_threads(ThreadPool::default_threads());
  CHECK(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
}

TEST_CASE("ops/layernorm: bad arguments throw simad::Error") {
  std::vector<double> a(6), b(6), m(2), r(2), w(3);
  CHECK_THROWS_AS(ops::layernorm_forward(a.data(), m.data(), r.data(), b.data(), w.data(), w.data(), -1, 3), Error);
  CHECK_THROWS_AS(ops::layernorm_forward(a.data(), m.data(), r.data(), b.data(), w.data(), w.data(), 2, -3), Error);
  CHECK_THROWS_AS(ops::layernorm_forward(a.data(), m.data(), r.data(), b.data(), w.data(), w.data(), 2, 0), Error);
  CHECK_THROWS_AS(ops::layernorm_forward(a.data(), m.data(), r.data(), b.data(), w.data(), w.data(), 2, 3, -1e-5),
                  Error);
  CHECK_THROWS_AS(ops::layernorm_forward(a.data(), m.data(), r.data(), b.data(), w.data(), w.data(), 2, 3,
                                         std::numeric_limits<double>::quiet_NaN()),
                  Error);
  CHECK_THROWS_AS(ops::layernorm_forward<double>(nullptr, m.data(), r.data(), b.data(), w.data(), w.data(), 2, 3),
                  Error);
  CHECK_THROWS_AS(ops::layernorm_forward<double>(a.data(), m.data(), r.data(), nullptr, w.data(), w.data(), 2, 3),
                  Error);
  CHECK_THROWS_AS(ops::layernorm_backward(a.data(), w.data(), w.data(), b.data(), b.data(), w.data(), m.data(),
                                          r.data(), -2, 3),
                  Error);
  CHECK_THROWS_AS(ops::layernorm_backward<double>(a.data(), w.data(), w.data(), b.data(), b.data(), w.data(), nullptr,
                                                  r.data(), 2, 3),
                  Error);
  CHECK_THROWS_AS(ops::layernorm_backward<double>(a.data(), w.data(), w.data(), b.data(), b.data(), w.data(), m.data(),
                                                  nullptr, 2, 3),
                  Error);
  CHECK_THROWS_AS(ops::layernorm_backward<double>(a.data(), nullptr, nullptr, nullptr, b.data(), w.data(), m.data(),
                                                  r.data(), 2, 3),
                  Error);
  // Nothing to do: no rows, or no gradient wanted.
  ops::layernorm_forward<double>(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 3);
  ops::layernorm_backward<double>(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 2, 3);
}

}  // namespace SIMAD_TEST_FILE_ID
