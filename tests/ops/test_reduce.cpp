// Tests of include/simad/ops/reduce.hpp: sum/mean over all elements, over rows and over columns,
// against the reference tier in double (float results must be the double sum rounded once), shapes that hit
// every schedule (one row chunk, several row chunks, several column blocks, empty extents),
// finite-difference backward with accumulation, bitwise determinism across thread counts, errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "simad/core/parallel.hpp"
#include "simad/ops/reduce.hpp"
#include "simad/ops/reference/reduce.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

struct Dims {
  int64_t N, C;
};

const Dims kShapes[] = {{1, 1}, {1, 17}, {23, 1}, {37, 19}, {1000, 3}, {300, 600}, {513, 1030}, {5, 0}, {0, 5}};

// Reference sums in double, from the reference tier (ops/reference/reduce.hpp) on the input widened to
// double: all, over rows (-> C), over columns (-> N).
template <typename T>
void ref_sums(const std::vector<T>& x, int64_t N, int64_t C, double& all, std::vector<double>& rows,
              std::vector<double>& cols) {
  const std::vector<double> xd(x.begin(), x.end());
  rows.assign(size_t(C), 0.0);
  cols.assign(size_t(N), 0.0);
  ops::reference::sum_forward(&all, xd.data(), N * C);
  ops::reference::sum_over_rows_forward(rows.data(), xd.data(), N, C);
  ops::reference::sum_over_cols_forward(cols.data(), xd.data(), N, C);
}

template <typename T>
void check_forward(double atol, double rtol) {
  auto rng = testing::test_rng();
  for (const Dims& d : kShapes) {
    const int64_t N = d.N, C = d.C;
    const auto x = testing::random_vector<T>(rng, size_t(N * C), -1.0, 2.0);
    double all;
    std::vector<double> rows, cols;
    ref_sums(x, N, C, all, rows, cols);
    const std::string what = " N=" + std::to_string(N) + " C=" + std::to_string(C);
    std::vector<T> s(1), r(static_cast<size_t>(C)), c(static_cast<size_t>(N));
    testing::poison(std::span<T>(s));
    ops::sum_forward(s.data(), x.data(), N * C);
    testing::check_close(s, std::vector<double>{all}, atol, rtol, "sum" + what);
    if (N * C > 0) {
      testing::poison(std::span<T>(s));
      ops::mean_forward(s.data(), x.data(), N * C);
      testing::check_close(s, std::vector<double>{all / double(N * C)}, atol, rtol, "mean" + what);
    }
    testing::poison(std::span<T>(r));
    ops::sum_over_rows_forward(r.data(), x.data(), N, C);
    testing::check_close(r, rows, atol, rtol, "sum_over_rows" + what);
    if (N > 0) {
      testing::poison(std::span<T>(r));
      ops::mean_over_rows_forward(r.data(), x.data(), N, C);
      for (auto& v : rows) v /= double(N);
      testing::check_close(r, rows, atol, rtol, "mean_over_rows" + what);
    }
    testing::poison(std::span<T>(c));
    ops::sum_over_cols_forward(c.data(), x.data(), N, C);
    testing::check_close(c, cols, atol, rtol, "sum_over_cols" + what);
    if (C > 0) {
      testing::poison(std::span<T>(c));
      ops::mean_over_cols_forward(c.data(), x.data(), N, C);
      for (auto& v : cols) v /= double(C);
      testing::check_close(c, cols, atol, rtol, "mean_over_cols" + what);
    }
  }
}

}  // namespace

TEST_CASE("ops/reduce: forward sums and means match the double reference") {
  // float: the double sum rounded once (half an ulp <= 2^-24 relative).
  check_forward<float>(1e-12, 0x1p-23);
  check_forward<double>(1e-12, 1e-12);
}

TEST_CASE("ops/reduce: float sums accumulate in double") {
  auto rng = testing::test_rng();
  // 1e6 floats: a float accumulator would be off by ~1e-4 relative; double gives the rounded exact sum.
  const int64_t n = 1000003;
  const auto x = testing::random_vector<float>(rng, size_t(n), 0.0, 1.0);
  double exact = 0;
  for (float v : x) exact += double(v);
  float s;
  ops::sum_forward(&s, x.data(), n);
  CHECK(s == float(exact));
  // Over rows: one column of 1e6 rows.
  ops::sum_over_rows_forward(&s, x.data(), n, 1);
  CHECK(s == float(exact));
  // Over columns: one row of 1e6 columns.
  ops::sum_over_cols_forward(&s, x.data(), 1, n);
  CHECK(s == float(exact));
}

TEST_CASE("ops/reduce: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  for (const Dims d : {Dims{5, 4}, Dims{1, 6}, Dims{7, 1}, Dims{300, 2}}) {
    const int64_t N = d.N, C = d.C;
    auto x = testing::random_vector<double>(rng, size_t(N * C));
    const auto w1 = testing::random_vector<double>(rng, 1);
    const auto wC = testing::random_vector<double>(rng, size_t(C));
    const auto wN = testing::random_vector<double>(rng, size_t(N));
    const auto dx0 = testing::random_vector<double>(rng, x.size());
    const std::string dims = " N=" + std::to_string(N) + " C=" + std::to_string(C);
    // op: 0 sum, 1 mean, 2 sum_over_rows, 3 mean_over_rows, 4 sum_over_cols, 5 mean_over_cols.
    for (int op = 0; op < 6; ++op) {
      const std::vector<double>& w = op < 2 ? w1 : op < 4 ? wC : wN;
      auto forward = [&](std::vector<double>& out) {
        out.assign(w.size(), 0.0);
        switch (op) {
          case 0: ops::sum_forward(out.data(), x.data(), N * C); break;
          case 1: ops::mean_forward(out.data(), x.data(), N * C); break;
          case 2: ops::sum_over_rows_forward(out.data(), x.data(), N, C); break;
          case 3: ops::mean_over_rows_forward(out.data(), x.data(), N, C); break;
          case 4: ops::sum_over_cols_forward(out.data(), x.data(), N, C); break;
          default: ops::mean_over_cols_forward(out.data(), x.data(), N, C); break;
        }
      };
      auto loss = [&] {
        std::vector<double> out;
        forward(out);
        double L = 0;
        for (size_t i = 0; i < out.size(); ++i) L += out[i] * w[i];
        return L;
      };
      auto dx = dx0;
      switch (op) {
        case 0: ops::sum_backward(dx.data(), w.data(), N * C); break;
        case 1: ops::mean_backward(dx.data(), w.data(), N * C); break;
        case 2: ops::sum_over_rows_backward(dx.data(), w.data(), N, C); break;
        case 3: ops::mean_over_rows_backward(dx.data(), w.data(), N, C); break;
        case 4: ops::sum_over_cols_backward(dx.data(), w.data(), N, C); break;
        default: ops::mean_over_cols_backward(dx.data(), w.data(), N, C); break;
      }
      std::vector<double> delta(dx.size()), expected = dx0;  // expected: the reference tier's backward
      for (size_t at = 0; at < dx.size(); ++at) delta[at] = dx[at] - dx0[at];
      switch (op) {
        case 0: ops::reference::sum_backward(expected.data(), w.data(), N * C); break;
        case 1: ops::reference::mean_backward(expected.data(), w.data(), N * C); break;
        case 2: ops::reference::sum_over_rows_backward(expected.data(), w.data(), N, C); break;
        case 3: ops::reference::mean_over_rows_backward(expected.data(), w.data(), N, C); break;
        case 4: ops::reference::sum_over_cols_backward(expected.data(), w.data(), N, C); break;
        default: ops::reference::mean_over_cols_backward(expected.data(), w.data(), N, C); break;
      }
      const std::string what = "reduce op " + std::to_string(op) + dims;
      SIMAD_CHECK_GRADIENT(delta, testing::numeric_gradient(std::span<double>(x), loss), what);
      testing::check_close(dx, expected, 1e-15, 1e-15, what);
    }
  }
  // Null gradients are skipped.
  const double g = 1.0;
  CHECK_NOTHROW(ops::sum_backward(static_cast<double*>(nullptr), &g, 5));
  CHECK_NOTHROW(ops::mean_over_rows_backward(static_cast<double*>(nullptr), &g, 5, 1));
  CHECK_NOTHROW(ops::sum_over_cols_backward(static_cast<double*>(nullptr), &g, 1, 5));
  // float backward: broadcasts exactly.
  std::vector<float> dxf(6, 0.5f);
  const std::vector<float> gC = {1.0f, 2.0f, 3.0f};
  ops::sum_over_rows_backward(dxf.data(), gC.data(), 2, 3);
  CHECK(dxf == std::vector<float>{1.5f, 2.5f, 3.5f, 1.5f, 2.5f, 3.5f});
  ops::mean_over_cols_backward(dxf.data(), gC.data(), 2, 3);
  CHECK(dxf == std::vector<float>{1.5f + 1.0f / 3.0f, 2.5f + 1.0f / 3.0f, 3.5f + 1.0f / 3.0f, 1.5f + 2.0f / 3.0f,
                                  2.5f + 2.0f / 3.0f, 3.5f + 2.0f / 3.0f});
}

TEST_CASE("ops/reduce: results are bitwise identical on 1 and 3 threads") {
  auto rng = testing::test_rng();
  for (const Dims d : {Dims{3000, 700}, Dims{100, 5000}, Dims{200000, 3}, Dims{2, 300000}}) {
    const int64_t N = d.N, C = d.C;
    const auto x = testing::random_vector<float>(rng, size_t(N * C), -1e3, 1e3);
    std::vector<float> results[2];
    int k = 0;
    for (int threads : {1, 3}) {
      set_num_threads(threads);
      std::vector<float> s(2), r(size_t(C) * 2), c(size_t(N) * 2);
      ops::sum_forward(s.data(), x.data(), N * C);
      ops::mean_forward(s.data() + 1, x.data(), N * C);
      ops::sum_over_rows_forward(r.data(), x.data(), N, C);
      ops::mean_over_rows_forward(r.data() + C, x.data(), N, C);
      ops::sum_over_cols_forward(c.data(), x.data(), N, C);
      ops::mean_over_cols_forward(c.data() + N, x.data(), N, C);
      auto& all = results[k++];
      all.insert(all.end(), s.begin(), s.end());
      all.insert(all.end(), r.begin(), r.end());
      all.insert(all.end(), c.begin(), c.end());
    }
    REQUIRE(results[0].size() == results[1].size());
    CHECK_MESSAGE(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)) == 0,
                  "N=", N, " C=", C);
  }
  set_num_threads(ThreadPool::default_threads());
}

TEST_CASE("ops/reduce: empty extents and bad arguments") {
  std::vector<double> out(4, std::nan("")), x(8, 1.0);
  ops::sum_forward(out.data(), static_cast<const double*>(nullptr), 0);
  CHECK(out[0] == 0.0);
  ops::sum_over_rows_forward(out.data(), x.data(), 0, 4);  // zero rows: zeros
  CHECK(out == std::vector<double>(4, 0.0));
  std::fill(out.begin(), out.end(), std::nan(""));
  ops::sum_over_cols_forward(out.data(), x.data(), 4, 0);  // zero columns: zeros
  CHECK(out == std::vector<double>(4, 0.0));
  // The mean of nothing is an error, not NaN.
  CHECK_THROWS_AS(ops::mean_forward(out.data(), x.data(), 0), Error);
  CHECK_THROWS_AS(ops::mean_over_rows_forward(out.data(), x.data(), 0, 4), Error);
  CHECK_THROWS_AS(ops::mean_over_cols_forward(out.data(), x.data(), 4, 0), Error);
  CHECK_THROWS_AS(ops::mean_backward(out.data(), x.data(), 0), Error);
  CHECK_THROWS_AS(ops::mean_over_rows_backward(out.data(), x.data(), 0, 4), Error);
  CHECK_THROWS_AS(ops::mean_over_cols_backward(out.data(), x.data(), 4, 0), Error);
  // Negative sizes and null pointers.
  CHECK_THROWS_AS(ops::sum_forward(out.data(), x.data(), -1), Error);
  CHECK_THROWS_AS(ops::sum_over_rows_forward(out.data(), x.data(), -1, 4), Error);
  CHECK_THROWS_AS(ops::sum_over_cols_forward(out.data(), x.data(), 4, -1), Error);
  CHECK_THROWS_AS(ops::sum_over_rows_backward(out.data(), x.data(), 2, -4), Error);
  CHECK_THROWS_AS(ops::sum_forward(static_cast<double*>(nullptr), x.data(), 8), Error);
  CHECK_THROWS_AS(ops::sum_over_rows_forward(out.data(), static_cast<const double*>(nullptr), 2, 4), Error);
  CHECK_THROWS_AS(ops::sum_over_cols_backward(x.data(), static_cast<const double*>(nullptr), 2, 4), Error);
}

}  // namespace SIMAD_TEST_FILE_ID
