// Tests of include/simad/ops/gemm.hpp: gemm, gemm_strided_batched, gemm_backward, matmul against the
// reference tier's double triple loop (ops/reference/gemm.hpp). Every transpose combination, odd and degenerate sizes
// (M, N or K of 1, K == 0), leading dimensions larger than the minimum (padding must stay untouched
// in C and must not be read from A and B: it holds a sentinel / NaN), alpha/beta, beta == 0 with NaN
// in C, both paths of the batched GEMM, finite-difference gradients, bad dimensions.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/core/parallel.hpp"
#include "simad/ops/dispatch/gemm.hpp"
#include "simad/ops/reference/gemm.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

constexpr double kSentinel = 12345.0;  // padding of C: must survive every call bit for bit

// The whole C buffer (ldc stride, padding included) after C = alpha op(A) op(B) + beta C, in double:
// the reference tier (ops/reference/gemm.hpp) on the operands widened to double. With beta == 0, C is
// not read.
template <typename T>
std::vector<double> ref_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const T* A,
                             int64_t lda, const T* B, int64_t ldb, double beta, const std::vector<T>& C,
                             int64_t ldc) {
  // The stored extents of A and B (rows x row stride; the last row need only reach its last column).
  // An empty matrix (no rows or no columns) has no elements, whatever its row stride.
  const int64_t a_rows = ta ? K : M, b_rows = tb ? N : K, a_cols = ta ? M : K, b_cols = tb ? K : N;
  const int64_t a_len = a_rows == 0 || a_cols == 0 ? 0 : (a_rows - 1) * lda + a_cols;
  const int64_t b_len = b_rows == 0 || b_cols == 0 ? 0 : (b_rows - 1) * ldb + b_cols;
  const std::vector<double> a(A, A + a_len), b(B, B + b_len);
  std::vector<double> out(C.begin(), C.end());
  ops::reference::gemm(ta, tb, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, out.data(), ldc);
  return out;
}

// A stored matrix of rows x cols with row stride ld >= cols: random values, padding NaN (a GEMM that
// reads padding produces NaN).
template <typename T>
std::vector<T> stored_matrix(Rng& rng, int64_t rows, int64_t cols, int64_t ld) {
  std::vector<T> m(size_t(std::max<int64_t>(rows, 1) * ld), std::numeric_limits<T>::quiet_NaN());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) m[size_t(r * ld + c)] = T(rng.next_uniform(-1.0, 1.0));
  return m;
}

// C: the M x N region random (beta != 0) or NaN (beta == 0: must not be read), padding the sentinel.
template <typename T>
std::vector<T> stored_c(Rng& rng, int64_t M, int64_t N, int64_t ldc, bool nan_region) {
  std::vector<T> c(size_t(std::max<int64_t>(M, 1) * ldc), T(kSentinel));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      c[size_t(i * ldc + j)] = nan_region ? std::numeric_limits<T>::quiet_NaN() : T(rng.next_uniform(-1.0, 1.0));
  return c;
}

struct Dims {
  int64_t M, N, K;
};

const Dims kShapes[] = {{1, 1, 1}, {1, 1, 9}, {1, 13, 1}, {11, 1, 1}, {1, 17, 23}, {29, 1, 31}, {19, 23, 1},
                        {37, 19, 53}, {5, 7, 3}, {64, 33, 17}, {33, 65, 40}};

template <typename T>
void check_gemm_forward(double atol, double rtol) {
  auto rng = testing::test_rng();
  const double alpha_beta[][2] = {{1.0, 0.0}, {0.75, -1.5}, {-2.0, 1.0}, {0.0, 0.5}};
  for (const Dims& d : kShapes)
    for (int pad : {0, 3})
      for (int t = 0; t < 4; ++t)
        for (const auto& ab : alpha_beta) {
          const bool ta = t & 1, tb = t & 2;
          const int64_t M = d.M, N = d.N, K = d.K;
          const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
          const auto A = stored_matrix<T>(rng, ta ? K : M, ta ? M : K, lda);
          const auto B = stored_matrix<T>(rng, tb ? N : K, tb ? K : N, ldb);
          auto C = stored_c<T>(rng, M, N, ldc, ab[1] == 0.0);
          const auto expected = ref_gemm(ta, tb, M, N, K, ab[0], A.data(), lda, B.data(), ldb, ab[1], C, ldc);
          ops::gemm(ta, tb, M, N, K, T(ab[0]), A.data(), lda, B.data(), ldb, T(ab[1]), C.data(), ldc);
          testing::check_close(C, expected, atol, rtol,
                               std::string("gemm ta=") + (ta ? "1" : "0") + " tb=" + (tb ? "1" : "0") +
                                   " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                                   " K=" + std::to_string(K) + " pad=" + std::to_string(pad) +
                                   " alpha=" + std::to_string(ab[0]) + " beta=" + std::to_string(ab[1]));
          // Padding of C is untouched (check_close compares it too, exactly here since it is not computed).
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = N; j < ldc; ++j) REQUIRE(C[size_t(i * ldc + j)] == T(kSentinel));
        }
}

}  // namespace

TEST_CASE("ops/gemm: forward matches the double reference (transposes, odd sizes, padded strides, alpha/beta)") {
  check_gemm_forward<float>(2e-5, 1e-5);
  check_gemm_forward<double>(1e-12, 1e-12);
}

TEST_CASE("ops/gemm: beta == 0 ignores NaN in C, K == 0 gives beta * C, empty M or N touch nothing") {
  auto run = [](auto zero) {
    using T = decltype(zero);
    auto rng = testing::test_rng();
    const T nan = std::numeric_limits<T>::quiet_NaN();
    // beta == 0 with C all NaN, including a large case (BLAS' blocked path) and a tiny one.
    for (const Dims d : {Dims{3, 2, 4}, Dims{150, 140, 130}})
      for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        const int64_t lda = ta ? d.M : d.K, ldb = tb ? d.K : d.N;
        const auto A = stored_matrix<T>(rng, ta ? d.K : d.M, ta ? d.M : d.K, lda);
        const auto B = stored_matrix<T>(rng, tb ? d.N : d.K, tb ? d.K : d.N, ldb);
        std::vector<T> C(size_t(d.M * d.N), nan);
        ops::gemm(ta, tb, d.M, d.N, d.K, T(1), A.data(), lda, B.data(), ldb, T(0), C.data(), d.N);
        CHECK(std::all_of(C.begin(), C.end(), [](T x) { return std::isfinite(x); }));
      }
    // K == 0: C = beta * C (beta == 0: zeros even from NaN); A and B are never read (null is fine).
    const int64_t M = 5, N = 3, ldc = 4;
    auto C = stored_c<T>(rng, M, N, ldc, false);
    std::vector<T> before = C;
    ops::gemm(false, false, M, N, int64_t(0), T(1), static_cast<const T*>(nullptr), int64_t(1),
              static_cast<const T*>(nullptr), N, T(-0.5), C.data(), ldc);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < ldc; ++j)
        CHECK(C[size_t(i * ldc + j)] == (j < N ? T(-0.5) * before[size_t(i * ldc + j)] : T(kSentinel)));
    C = stored_c<T>(rng, M, N, ldc, true);
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      ops::gemm(ta, tb, M, N, int64_t(0), T(2), static_cast<const T*>(nullptr), ta ? M : int64_t(1),
                static_cast<const T*>(nullptr), tb ? int64_t(1) : N, T(0), C.data(), ldc);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < ldc; ++j) CHECK(C[size_t(i * ldc + j)] == (j < N ? T(0) : T(kSentinel)));
    }
    // M == 0 or N == 0: nothing is written.
    std::vector<T> untouched(8, T(kSentinel));
    const std::vector<T> dummy(64, T(1));
    ops::gemm(false, false, 0, 4, 3, T(1), dummy.data(), 3, dummy.data(), 4, T(0), untouched.data(), 4);
    ops::gemm(true, true, 2, 0, 3, T(1), dummy.data(), 2, dummy.data(), 3, T(0), untouched.data(), 1);
    CHECK(std::all_of(untouched.begin(), untouched.end(), [](T x) { return x == T(kSentinel); }));
  };
  run(0.0f);
  run(0.0);
}

namespace {

template <typename T>
void check_batched(int threads, Dims d, int64_t batch, double atol, double rtol) {
  set_num_threads(threads);
  auto rng = testing::test_rng(uint64_t(threads) * 1000 + uint64_t(d.M));
  for (int t = 0; t < 4; ++t)
    for (double beta : {0.0, 0.5}) {
      const bool ta = t & 1, tb = t & 2;
      const int64_t M = d.M, N = d.N, K = d.K;
      const int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
      const int64_t a_rows = ta ? K : M, b_rows = tb ? N : K;
      // Strides with a gap between matrices (filled like padding).
      const int64_t stride_a = a_rows * lda + 5, stride_b = b_rows * ldb + 7, stride_c = M * ldc + 11;
      std::vector<T> A(size_t(stride_a * batch), std::numeric_limits<T>::quiet_NaN());
      std::vector<T> B(size_t(stride_b * batch), std::numeric_limits<T>::quiet_NaN());
      std::vector<T> C(size_t(stride_c * batch), T(kSentinel));
      for (int64_t b = 0; b < batch; ++b) {
        const auto a = stored_matrix<T>(rng, a_rows, ta ? M : K, lda);
        const auto bm = stored_matrix<T>(rng, b_rows, tb ? K : N, ldb);
        const auto c = stored_c<T>(rng, M, N, ldc, beta == 0.0);
        std::copy(a.begin(), a.begin() + a_rows * lda, A.begin() + b * stride_a);
        std::copy(bm.begin(), bm.begin() + b_rows * ldb, B.begin() + b * stride_b);
        std::copy(c.begin(), c.begin() + M * ldc, C.begin() + b * stride_c);
      }
      std::vector<double> expected(C.begin(), C.end());
      for (int64_t b = 0; b < batch; ++b) {
        const std::vector<T> cb(C.begin() + b * stride_c, C.begin() + b * stride_c + M * ldc);
        const auto e = ref_gemm(ta, tb, M, N, K, 1.25, A.data() + b * stride_a, lda, B.data() + b * stride_b, ldb,
                                beta, cb, ldc);
        std::copy(e.begin(), e.end(), expected.begin() + b * stride_c);
      }
      ops::gemm_strided_batched(ta, tb, M, N, K, T(1.25), A.data(), lda, stride_a, B.data(), ldb, stride_b, T(beta),
                                C.data(), ldc, stride_c, batch);
      testing::check_close(C, expected, atol, rtol,
                           std::string("batched threads=") + std::to_string(threads) +
                               " M=" + std::to_string(M) + " t=" + std::to_string(t) +
                               " beta=" + std::to_string(beta));
    }
}

}  // namespace

TEST_CASE("ops/gemm: strided batched matches the reference on the one-per-thread and the sequential paths") {
  const Dims small{7, 5, 9}, large{130, 129, 131};  // 2*130*129*131 flops > the one-per-thread bound
  for (int threads : {1, 3}) {
    check_batched<float>(threads, small, 13, 2e-5, 1e-5);
    check_batched<double>(threads, small, 13, 1e-12, 1e-12);
    check_batched<double>(threads, Dims{1, 1, 1}, 5, 1e-12, 1e-12);
  }
  check_batched<float>(3, large, 2, 1e-4, 1e-5);
  check_batched<double>(3, large, 2, 1e-11, 1e-12);
  // From inside a parallel region (nested: runs inline) the result is the same.
  set_num_threads(3);
  {
    auto rng = testing::test_rng(7);
    const int64_t M = 4, N = 3, K = 5, batch = 6;
    const auto A = testing::random_vector<double>(rng, size_t(M * K * batch));
    const auto B = testing::random_vector<double>(rng, size_t(K * N * batch));
    std::vector<double> C1(size_t(M * N * batch)), C2(size_t(M * N * batch));
    ops::gemm_strided_batched(false, false, M, N, K, 1.0, A.data(), K, M * K, B.data(), N, K * N, 0.0, C1.data(), N,
                              M * N, batch);
    parallel_for(2, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        if (i == 0)
          ops::gemm_strided_batched(false, false, M, N, K, 1.0, A.data(), K, M * K, B.data(), N, K * N, 0.0, C2.data(),
                                    N, M * N, batch);
    });
    CHECK(std::memcmp(C1.data(), C2.data(), C1.size() * sizeof(double)) == 0);
    // batch == 0 touches nothing.
    std::vector<double> none(4, kSentinel);
    ops::gemm_strided_batched(false, false, 2, 2, 2, 1.0, A.data(), 2, 4, B.data(), 2, 4, 0.0, none.data(), 2, 4,
                              int64_t(0));
    CHECK(std::all_of(none.begin(), none.end(), [](double x) { return x == kSentinel; }));
  }
  set_num_threads(ThreadPool::default_threads());
}

TEST_CASE("ops/gemm: backward matches finite differences for every transpose and accumulates") {
  auto rng = testing::test_rng();
  const Dims shapes[] = {{5, 4, 3}, {1, 6, 7}, {6, 1, 2}, {3, 5, 1}};
  for (const Dims& d : shapes)
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const int64_t M = d.M, N = d.N, K = d.K;
      const int64_t lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 1, ldc = N + 3;
      const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
      auto A = stored_matrix<double>(rng, a_rows, a_cols, lda);
      auto B = stored_matrix<double>(rng, b_rows, b_cols, ldb);
      for (auto& x : A) x = std::isnan(x) ? 0.0 : x;  // padding: 0 here (the loss perturbs every element)
      for (auto& x : B) x = std::isnan(x) ? 0.0 : x;
      // dC = W, padded; its padding holds NaN (must not be read).
      const auto W = stored_matrix<double>(rng, M, N, ldc);
      auto loss = [&] {
        std::vector<double> C(size_t(M * ldc), 0.0);
        ops::gemm(ta, tb, M, N, K, 1.0, A.data(), lda, B.data(), ldb, 0.0, C.data(), ldc);
        double L = 0;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) L += C[size_t(i * ldc + j)] * W[size_t(i * ldc + j)];
        return L;
      };
      // Random start in the valid region, sentinel in the padding.
      auto start = [&](int64_t rows, int64_t cols, int64_t ld) {
        auto g = stored_matrix<double>(rng, rows, cols, ld);
        for (auto& x : g) x = std::isnan(x) ? kSentinel : x;
        return g;
      };
      const auto dA0 = start(a_rows, a_cols, lda), dB0 = start(b_rows, b_cols, ldb);
      auto dA = dA0, dB = dB0;
      ops::gemm_backward(dA.data(), dB.data(), W.data(), ldc, ta, tb, M, N, K, A.data(), lda, B.data(), ldb);
      const auto nA = testing::numeric_gradient(std::span<double>(A), loss);
      const auto nB = testing::numeric_gradient(std::span<double>(B), loss);
      // Exact reference (the tier): d op(A)[i,k] = sum_j W[i,j] op(B)[k,j]; d op(B)[k,j] = sum_i op(A)[i,k] W[i,j].
      std::vector<double> gA, gA_num, gA_ref, gB, gB_num, gB_ref;
      auto refA = dA0, refB = dB0;  // the reference tier's accumulated gradients
      ops::reference::gemm_backward(refA.data(), refB.data(), W.data(), ldc, ta, tb, M, N, K, A.data(), lda, B.data(),
                                    ldb);
      for (int64_t r = 0; r < a_rows; ++r)
        for (int64_t c = 0; c < lda; ++c) {
          const size_t at = size_t(r * lda + c);
          if (c >= a_cols) {
            CHECK(dA[at] == kSentinel);
            continue;
          }
          gA.push_back(dA[at] - dA0[at]);
          gA_num.push_back(nA[at]);
          gA_ref.push_back(refA[at]);
        }
      for (int64_t r = 0; r < b_rows; ++r)
        for (int64_t c = 0; c < ldb; ++c) {
          const size_t at = size_t(r * ldb + c);
          if (c >= b_cols) {
            CHECK(dB[at] == kSentinel);
            continue;
          }
          gB.push_back(dB[at] - dB0[at]);
          gB_num.push_back(nB[at]);
          gB_ref.push_back(refB[at]);
        }
      const std::string what = "gemm_backward ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                               " M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K);
      const std::string what_a = what + " dA", what_b = what + " dB";  // the macro needs one operand
      SIMAD_CHECK_GRADIENT(gA, gA_num, what_a);
      SIMAD_CHECK_GRADIENT(gB, gB_num, what_b);
      std::vector<double> accA, accB;
      for (int64_t r = 0; r < a_rows; ++r)
        for (int64_t c = 0; c < a_cols; ++c) accA.push_back(dA[size_t(r * lda + c)]);
      for (int64_t r = 0; r < b_rows; ++r)
        for (int64_t c = 0; c < b_cols; ++c) accB.push_back(dB[size_t(r * ldb + c)]);
      testing::check_close(accA, gA_ref, 1e-12, 1e-12, what + " dA accumulated");
      testing::check_close(accB, gB_ref, 1e-12, 1e-12, what + " dB accumulated");
      // Either gradient may be null: the other is the same.
      auto dA_only = dA0, dB_only = dB0;
      ops::gemm_backward(dA_only.data(), static_cast<double*>(nullptr), W.data(), ldc, ta, tb, M, N, K, A.data(), lda,
                         B.data(), ldb);
      ops::gemm_backward(static_cast<double*>(nullptr), dB_only.data(), W.data(), ldc, ta, tb, M, N, K, A.data(), lda,
                         B.data(), ldb);
      CHECK(std::memcmp(dA_only.data(), dA.data(), dA.size() * sizeof(double)) == 0);
      CHECK(std::memcmp(dB_only.data(), dB.data(), dB.size() * sizeof(double)) == 0);
    }
}

TEST_CASE("ops/gemm: backward in float matches the double reference") {
  auto rng = testing::test_rng();
  const int64_t M = 37, N = 19, K = 53;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    const int64_t lda = ta ? M : K, ldb = tb ? K : N;
    const auto A = testing::random_vector<float>(rng, size_t(M * K));
    const auto B = testing::random_vector<float>(rng, size_t(K * N));
    const auto W = testing::random_vector<float>(rng, size_t(M * N));
    auto dA = testing::random_vector<float>(rng, size_t(M * K));
    auto dB = testing::random_vector<float>(rng, size_t(K * N));
    std::vector<double> eA(dA.begin(), dA.end()), eB(dB.begin(), dB.end());
    {  // the reference tier in double on the operands widened to double
      const std::vector<double> a(A.begin(), A.end()), b(B.begin(), B.end()), w(W.begin(), W.end());
      ops::reference::gemm_backward(eA.data(), eB.data(), w.data(), N, ta, tb, M, N, K, a.data(), lda, b.data(), ldb);
    }
    ops::gemm_backward(dA.data(), dB.data(), W.data(), N, ta, tb, M, N, K, A.data(), lda, B.data(), ldb);
    testing::check_close(dA, eA, 2e-5, 1e-5, "float dA t=" + std::to_string(t));
    testing::check_close(dB, eB, 2e-5, 1e-5, "float dB t=" + std::to_string(t));
  }
}

TEST_CASE("ops/gemm: matmul (Tensor form) matches the reference, including empty dimensions") {
  auto rng = testing::test_rng();
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      for (const Dims d : {Dims{37, 19, 53}, Dims{1, 1, 1}, Dims{3, 4, 0}, Dims{0, 4, 3}, Dims{3, 0, 4}}) {
        const Tensor<T> A = testing::random_tensor<T>(rng, ta ? Shape{d.K, d.M} : Shape{d.M, d.K});
        const Tensor<T> B = testing::random_tensor<T>(rng, tb ? Shape{d.N, d.K} : Shape{d.K, d.N});
        for (double beta : {0.0, 0.5}) {
          Tensor<T> C = testing::random_tensor<T>(rng, {d.M, d.N});
          if (beta == 0.0) testing::poison(C);
          const std::vector<T> c0(C.span().begin(), C.span().end());
          const auto expected = ref_gemm(ta, tb, d.M, d.N, d.K, 1.0, A.data(), std::max<int64_t>(A.dim(1), 1),
                                         B.data(), std::max<int64_t>(B.dim(1), 1), beta, c0, d.N);
          ops::matmul(C, A, B, ta, tb, T(beta));
          testing::check_close(C, std::span<const double>(expected), tol, tol,
                               "matmul t=" + std::to_string(t) + " K=" + std::to_string(d.K) +
                                   " M=" + std::to_string(d.M) + " N=" + std::to_string(d.N));
        }
      }
    }
  };
  run(0.0f);
  run(0.0);
}

TEST_CASE("ops/gemm: bad dimensions throw simad::Error") {
  std::vector<double> buf(1000, 1.0);
  double* p = buf.data();
  // Negative sizes.
  CHECK_THROWS_AS(ops::gemm(false, false, -1, 2, 2, 1.0, p, 2, p, 2, 0.0, p, 2), Error);
  CHECK_THROWS_AS(ops::gemm(false, false, 2, -1, 2, 1.0, p, 2, p, 2, 0.0, p, 2), Error);
  CHECK_THROWS_AS(ops::gemm(false, false, 2, 2, -1, 1.0, p, 2, p, 2, 0.0, p, 2), Error);
  // Leading dimensions too small, for each transpose: A (M=4, K=3), B (K=3, N=5).
  CHECK_THROWS_AS(ops::gemm(false, false, 4, 5, 3, 1.0, p, 2, p, 5, 0.0, p, 5), Error);  // lda < K
  CHECK_THROWS_AS(ops::gemm(true, false, 4, 5, 3, 1.0, p, 3, p, 5, 0.0, p, 5), Error);   // lda < M
  CHECK_THROWS_AS(ops::gemm(false, false, 4, 5, 3, 1.0, p, 3, p, 4, 0.0, p, 5), Error);  // ldb < N
  CHECK_THROWS_AS(ops::gemm(false, true, 4, 5, 3, 1.0, p, 3, p, 2, 0.0, p, 5), Error);   // ldb < K
  CHECK_THROWS_AS(ops::gemm(false, false, 4, 5, 3, 1.0, p, 3, p, 5, 0.0, p, 4), Error);  // ldc < N
  CHECK_THROWS_AS(ops::gemm(false, false, 4, 5, 0, 1.0, p, 0, p, 5, 0.0, p, 5), Error);  // lda < 1
  CHECK_NOTHROW(ops::gemm(true, true, 4, 5, 3, 1.0, p, 4, p, 3, 0.0, p, 5));
  CHECK_THROWS_AS(ops::gemm(false, false, int64_t(1) << 31, 1, 1, 1.0, p, 1, p, 1, 0.0, p, 1), Error);
  // Batched: the same checks plus the batch count.
  CHECK_THROWS_AS(ops::gemm_strided_batched(false, false, 2, 2, 2, 1.0, p, 2, 4, p, 2, 4, 0.0, p, 2, 4, int64_t(-1)),
                  Error);
  CHECK_THROWS_AS(ops::gemm_strided_batched(false, false, 2, 2, 2, 1.0, p, 1, 4, p, 2, 4, 0.0, p, 2, 4, int64_t(2)),
                  Error);
  // Backward: dC's stride too small.
  CHECK_THROWS_AS(ops::gemm_backward(p + 500, p + 600, p, 4, false, false, 4, 5, 3, p, 3, p, 5), Error);
  CHECK_THROWS_AS(ops::gemm_backward(static_cast<double*>(nullptr), p + 600, p, 4, false, false, 4, 5, 3, p, 3, p, 5),
                  Error);
  // matmul: ranks, inner dimensions, C's shape.
  const auto A = Tensor<float>::zeros({3, 4}), B = Tensor<float>::zeros({4, 5}), C = Tensor<float>::zeros({3, 5});
  CHECK_NOTHROW(ops::matmul(C, A, B));
  CHECK_THROWS_AS(ops::matmul(C, A, A), Error);
  CHECK_THROWS_AS(ops::matmul(C, A, B, true), Error);
  CHECK_THROWS_AS(ops::matmul(Tensor<float>::zeros({5, 3}), A, B), Error);
  CHECK_THROWS_AS(ops::matmul(C, A.reshape({12}), B), Error);
  CHECK_NOTHROW(ops::matmul(Tensor<float>::zeros({5, 3}), B, A, true, true));
}

TEST_CASE("ops/gemm: strided batched with overlapping C (stride_c == 0) accumulates like the sequential loop") {
  // stride_c == 0, beta == 1: every product is added into the one C, in batch order. The one-per-
  // thread path would race on C; overlapping outputs must take the sequential path.
  auto rng = testing::test_rng();
  const int64_t M = 6, N = 5, K = 4, batch = 64;
  const auto A = testing::random_vector<double>(rng, size_t(M * K * batch));
  const auto B = testing::random_vector<double>(rng, size_t(K * N * batch));
  const auto C0 = testing::random_vector<double>(rng, size_t(M * N));
  std::vector<double> expected = C0;
  for (int64_t b = 0; b < batch; ++b)
    ops::gemm(false, false, M, N, K, 1.0, A.data() + b * M * K, K, B.data() + b * K * N, N, 1.0, expected.data(), N);
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    for (int rep = 0; rep < 20; ++rep) {
      auto C = C0;
      ops::gemm_strided_batched(false, false, M, N, K, 1.0, A.data(), K, M * K, B.data(), N, K * N, 1.0, C.data(), N,
                                int64_t(0), batch);
      REQUIRE_MESSAGE(std::memcmp(C.data(), expected.data(), C.size() * sizeof(double)) == 0, "threads=", threads,
                      " rep=", rep);
    }
  }
  set_num_threads(ThreadPool::default_threads());
}

}  // namespace SIMAD_TEST_FILE_ID
