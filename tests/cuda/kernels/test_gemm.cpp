// tests/cuda/kernels/test_gemm.cpp: kernels/gemm.cu (simad::cuda::kernels::gemm*, include/simad/cuda/
// kernels/gemm.hpp) against the CPU op simad::ops::gemm (OpenBLAS, itself tested against double
// references). Runs under the SIMT emulator (tests/cuda) and natively with a GPU (tests/cuda/native).
// Tolerance for float GEMM with K <= 256, inputs uniform in [-1, 1]: |gpu - cpu| <= 1e-5 + 1e-5 |cpu|
// (the two sum the K products in different orders; the typical difference is ~1e-6).
// Outputs are poisoned with NaN (copied into device memory) before each launch; padding between rows
// (ld > width) must come back untouched.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/gemm.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/gemm.hpp"
#include "simad/ops/dispatch/gemm.hpp"
#include "testing.hpp"

namespace {

using simad::Device;
using simad::Tensor;
namespace ck = simad::cuda::kernels;

constexpr double kAtol = 1e-5, kRtol = 1e-5;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Tensor<float> upload(const std::vector<float>& h) {
  return simad::cuda::to_device(Tensor<float>::from({int64_t(h.size())}, std::span<const float>(h)));
}
std::vector<float> download(const Tensor<float>& d) {
  SIMAD_CUDA_CHECK(cudaDeviceSynchronize());
  SIMAD_CUDA_CHECK(cudaGetLastError());
  const Tensor<float> h = simad::cuda::to_host(d);
  return std::vector<float>(h.data(), h.data() + h.numel());
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

enum class Impl { tiled, dispatch, batched_tiled, batched_dispatch };
const char* impl_name(Impl impl) {
  switch (impl) {
    case Impl::tiled: return "gemm_tiled";
    case Impl::dispatch: return "gemm";
    case Impl::batched_tiled: return "gemm_strided_batched_tiled (batch 1)";
    case Impl::batched_dispatch: return "gemm_strided_batched (batch 1)";
  }
  return "?";
}

// One GEMM on the device against ops::gemm on the CPU. pad: extra elements per stored row.
void check_gemm(Impl impl, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, int64_t pad,
                uint64_t stream_id) {
  auto rng = simad::testing::test_rng(stream_id);
  const int64_t a_rows = ta ? K : M, lda = (ta ? M : K) + pad;
  const int64_t b_rows = tb ? N : K, ldb = (tb ? K : N) + pad;
  const int64_t ldc = N + pad;
  const auto A = simad::testing::random_vector<float>(rng, size_t(std::max<int64_t>(a_rows * lda, 1)));
  const auto B = simad::testing::random_vector<float>(rng, size_t(std::max<int64_t>(b_rows * ldb, 1)));
  std::vector<float> C0(size_t(std::max<int64_t>(M * ldc, 1)), kNaN);  // beta == 0: C must not be read
  if (beta != 0.0f) C0 = simad::testing::random_vector<float>(rng, C0.size());

  std::vector<float> expected = C0;
  simad::ops::gemm(ta, tb, M, N, K, alpha, A.data(), std::max<int64_t>(lda, 1), B.data(), std::max<int64_t>(ldb, 1),
                   beta, expected.data(), std::max<int64_t>(ldc, 1));

  const Tensor<float> dA = upload(A), dB = upload(B), dC = upload(C0);
  const int64_t lda1 = std::max<int64_t>(lda, 1), ldb1 = std::max<int64_t>(ldb, 1), ldc1 = std::max<int64_t>(ldc, 1);
  switch (impl) {
    case Impl::tiled: ck::gemm_tiled(ta, tb, M, N, K, alpha, dA.data(), lda1, dB.data(), ldb1, beta, dC.data(), ldc1); break;
    case Impl::dispatch: ck::gemm(ta, tb, M, N, K, alpha, dA.data(), lda1, dB.data(), ldb1, beta, dC.data(), ldc1); break;
    case Impl::batched_tiled:
      ck::gemm_strided_batched_tiled(ta, tb, M, N, K, alpha, dA.data(), lda1, 0, dB.data(), ldb1, 0, beta, dC.data(),
                                     ldc1, 0, 1);
      break;
    case Impl::batched_dispatch:
      ck::gemm_strided_batched(ta, tb, M, N, K, alpha, dA.data(), lda1, 0, dB.data(), ldb1, 0, beta, dC.data(), ldc1,
                               0, 1);
      break;
  }
  const std::vector<float> got = download(dC);

  std::vector<float> got_mn, want_mn;
  int64_t padding_changed = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const size_t e = size_t(i * ldc + j);
      if (j < N) got_mn.push_back(got[e]), want_mn.push_back(expected[e]);
      else padding_changed += !same_bits(got[e], C0[e]);
    }
  const std::string what = simad::detail::concat(impl_name(impl), " trans_a=", ta, " trans_b=", tb, " M=", M, " N=", N,
                                                 " K=", K, " alpha=", alpha, " beta=", beta, " pad=", pad);
  simad::testing::check_close(got_mn, want_mn, kAtol, kRtol, what);
  CHECK_MESSAGE(padding_changed == 0, what, ": ", padding_changed, " padding elements of C were written");
}

struct Dims {
  int64_t M, N, K;
};
// Shapes that break lazy kernels: one row / column / inner element, sizes that are not multiples of the
// 64 x 64 x 16 tile or of a warp, exact tiles, several tiles in every direction.
const Dims kShapes[] = {{1, 1, 1},   {1, 67, 53},  {37, 1, 53},  {37, 19, 1},   {37, 19, 53},
                        {130, 67, 129}, {64, 64, 16}, {65, 33, 17}, {128, 130, 31}};

}  // namespace

TEST_CASE("cuda/gemm: tiled kernel matches ops::gemm for all four transposes and awkward shapes") {
  uint64_t id = 0;
  for (const Dims d : kShapes)
    for (int t = 0; t < 4; ++t) check_gemm(Impl::tiled, t & 1, t & 2, d.M, d.N, d.K, 1.0f, 0.0f, 0, ++id);
}

TEST_CASE("cuda/gemm: tiled kernel applies alpha and beta with padded leading dimensions") {
  uint64_t id = 0;
  for (const Dims d : {Dims{37, 19, 53}, Dims{130, 67, 129}, Dims{1, 5, 3}})
    for (int t = 0; t < 4; ++t) {
      check_gemm(Impl::tiled, t & 1, t & 2, d.M, d.N, d.K, 0.5f, -1.5f, 3, ++id);
      check_gemm(Impl::tiled, t & 1, t & 2, d.M, d.N, d.K, -2.0f, 0.0f, 5, ++id);  // beta 0 with NaN in C
      check_gemm(Impl::tiled, t & 1, t & 2, d.M, d.N, d.K, 0.0f, 1.0f, 1, ++id);   // alpha 0: C unchanged
    }
}

TEST_CASE("cuda/gemm: K 0 gives beta times C and empty outputs launch nothing") {
  uint64_t id = 0;
  for (int t = 0; t < 4; ++t) {
    check_gemm(Impl::tiled, t & 1, t & 2, 7, 9, 0, 1.0f, 0.0f, 2, ++id);   // C = 0 even over NaN
    check_gemm(Impl::tiled, t & 1, t & 2, 7, 9, 0, 1.0f, 2.5f, 0, ++id);   // C = 2.5 C
    check_gemm(Impl::dispatch, t & 1, t & 2, 7, 9, 0, 1.0f, 0.0f, 0, ++id);
    check_gemm(Impl::dispatch, t & 1, t & 2, 7, 9, 0, 1.0f, -1.0f, 1, ++id);
    check_gemm(Impl::tiled, t & 1, t & 2, 0, 9, 4, 1.0f, 0.0f, 0, ++id);
    check_gemm(Impl::tiled, t & 1, t & 2, 6, 0, 4, 1.0f, 0.0f, 1, ++id);
  }
}

TEST_CASE("cuda/gemm: gemm dispatch and batch-1 strided batched match ops::gemm") {
#if defined(SIMAD_CUDA_EMULATED)
  CHECK(!ck::gemm_uses_cublas());  // the emulator has no cuBLAS: gemm() is the tiled kernel
#else
  CHECK(ck::gemm_uses_cublas());
#endif
  uint64_t id = 0;
  for (const Dims d : {Dims{1, 1, 1}, Dims{37, 19, 53}, Dims{130, 67, 129}, Dims{1, 67, 53}, Dims{37, 1, 1}})
    for (int t = 0; t < 4; ++t) {
      check_gemm(Impl::dispatch, t & 1, t & 2, d.M, d.N, d.K, 1.0f, 0.0f, 0, ++id);
      check_gemm(Impl::dispatch, t & 1, t & 2, d.M, d.N, d.K, 0.75f, 0.5f, 2, ++id);
      check_gemm(Impl::batched_tiled, t & 1, t & 2, d.M, d.N, d.K, 1.0f, 0.0f, 1, ++id);
      check_gemm(Impl::batched_dispatch, t & 1, t & 2, d.M, d.N, d.K, -1.0f, 2.0f, 0, ++id);
    }
}

TEST_CASE("cuda/gemm: strided batched matches ops::gemm_strided_batched including overlapping C") {
  auto rng = simad::testing::test_rng();
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    const int64_t M = 19, N = 33, K = 21, batch = 5;
    const int64_t lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
    const int64_t sa = M * K + 7, sb = K * N + 3;  // gaps between the matrices
    const auto A = simad::testing::random_vector<float>(rng, size_t(sa * batch));
    const auto B = simad::testing::random_vector<float>(rng, size_t(sb * batch));
    for (const bool tiled : {true, false})
      for (const int64_t sc : {M * N + 2, int64_t(0)}) {  // 0: every product summed into one C (beta 1)
        const float alpha = 0.5f, beta = sc == 0 ? 1.0f : 0.0f;
        std::vector<float> C0(size_t(sc == 0 ? M * N : sc * batch), kNaN);
        if (sc == 0) C0 = simad::testing::random_vector<float>(rng, C0.size());
        std::vector<float> expected = C0;
        simad::ops::gemm_strided_batched(ta, tb, M, N, K, alpha, A.data(), lda, sa, B.data(), ldb, sb, beta,
                                         expected.data(), ldc, sc, batch);
        const Tensor<float> dA = upload(A), dB = upload(B), dC = upload(C0);
        if (tiled)
          ck::gemm_strided_batched_tiled(ta, tb, M, N, K, alpha, dA.data(), lda, sa, dB.data(), ldb, sb, beta,
                                         dC.data(), ldc, sc, batch);
        else
          ck::gemm_strided_batched(ta, tb, M, N, K, alpha, dA.data(), lda, sa, dB.data(), ldb, sb, beta, dC.data(),
                                   ldc, sc, batch);
        std::vector<float> got = download(dC);
        // Compare the matrices only (the gaps stay NaN on both sides).
        std::vector<float> g, w;
        for (size_t e = 0; e < got.size(); ++e)
          if (!std::isnan(expected[e]) || !std::isnan(got[e])) g.push_back(got[e]), w.push_back(expected[e]);
        CHECK(int64_t(g.size()) == (sc == 0 ? M * N : M * N * batch));
        simad::testing::check_close(g, w, kAtol, kRtol,
                                    simad::detail::concat(tiled ? "tiled" : "dispatch", " trans_a=", ta,
                                                          " trans_b=", tb, " stride_c=", sc));
      }
  }
}

TEST_CASE("cuda/gemm: several tiles in every direction") {
  check_gemm(Impl::tiled, false, false, 200, 190, 250, 1.0f, 0.0f, 0, 1);
  check_gemm(Impl::tiled, true, true, 150, 260, 70, 1.0f, 0.0f, 0, 2);
}

TEST_CASE("cuda/gemm: bad sizes and null pointers throw simad::Error") {
  const Tensor<float> d = upload(std::vector<float>(64, 1.0f));
  float* p = d.data();
  CHECK_THROWS_AS(ck::gemm_tiled(false, false, -1, 2, 2, 1.0f, p, 2, p, 2, 0.0f, p, 2), simad::Error);
  CHECK_THROWS_AS(ck::gemm_tiled(false, false, 2, 2, 3, 1.0f, p, 2, p, 2, 0.0f, p, 2), simad::Error);  // lda < K
  CHECK_THROWS_AS(ck::gemm_tiled(false, true, 2, 4, 3, 1.0f, p, 3, p, 2, 0.0f, p, 4), simad::Error);   // ldb < K
  CHECK_THROWS_AS(ck::gemm_tiled(false, false, 2, 4, 3, 1.0f, p, 3, p, 4, 0.0f, p, 3), simad::Error);  // ldc < N
  CHECK_THROWS_AS(ck::gemm(false, false, 2, 2, 2, 1.0f, nullptr, 2, p, 2, 0.0f, p, 2), simad::Error);
  CHECK_THROWS_AS(ck::gemm_strided_batched(false, false, 2, 2, 2, 1.0f, p, 2, 4, p, 2, 4, 0.0f, p, 2, 4, -1),
                  simad::Error);
  const std::string message = [&] {
    try {
      ck::gemm_tiled(false, false, 2, 2, 3, 1.0f, p, 2, p, 2, 0.0f, p, 2);
    } catch (const simad::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  CHECK(message.find("gemm_tiled") != std::string::npos);
  CHECK(message.find("lda=2") != std::string::npos);
}

TEST_CASE("cuda/gemm: ops::matmul on CUDA tensors equals the CPU result") {
  auto rng = simad::testing::test_rng();
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    const int64_t M = 37, N = 19, K = 53;
    const Tensor<float> A = simad::testing::random_tensor<float>(rng, ta ? simad::Shape{K, M} : simad::Shape{M, K});
    const Tensor<float> B = simad::testing::random_tensor<float>(rng, tb ? simad::Shape{N, K} : simad::Shape{K, N});
    const Tensor<float> C = simad::testing::random_tensor<float>(rng, {M, N});
    const Tensor<float> expected = C.clone();
    simad::ops::matmul(expected, A, B, ta, tb, 0.5f);

    const Tensor<float> dA = simad::cuda::to_device(A), dB = simad::cuda::to_device(B), dC = simad::cuda::to_device(C);
    CHECK(dC.device() == Device::cuda);
    simad::ops::matmul(dC, dA, dB, ta, tb, 0.5f);
    const Tensor<float> got = simad::cuda::to_host(dC);
    simad::testing::check_close(got, std::span<const float>(expected.data(), size_t(expected.numel())), kAtol, kRtol,
                                simad::detail::concat("matmul trans_a=", ta, " trans_b=", tb));

    // beta 0 over a NaN-poisoned C
    const Tensor<float> poisoned = simad::testing::poisoned_tensor<float>({M, N});
    const Tensor<float> dP = simad::cuda::to_device(poisoned);
    simad::ops::matmul(dP, dA, dB, ta, tb);
    const Tensor<float> want0 = Tensor<float>::empty({M, N});
    simad::ops::matmul(want0, A, B, ta, tb);
    simad::testing::check_close(simad::cuda::to_host(dP), std::span<const float>(want0.data(), size_t(want0.numel())),
                                kAtol, kRtol, "matmul beta 0");
  }
}

TEST_CASE("cuda/gemm: ops::batched_matmul on CUDA tensors equals the CPU result") {
  auto rng = simad::testing::test_rng();
  const int64_t batch = 3, M = 17, N = 29, K = 40;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    const Tensor<float> A =
        simad::testing::random_tensor<float>(rng, ta ? simad::Shape{batch, K, M} : simad::Shape{batch, M, K});
    const Tensor<float> B =
        simad::testing::random_tensor<float>(rng, tb ? simad::Shape{batch, N, K} : simad::Shape{batch, K, N});
    const Tensor<float> expected = Tensor<float>::empty({batch, M, N});
    simad::ops::batched_matmul(expected, A, B, ta, tb);
    const Tensor<float> dC = simad::cuda::to_device(simad::testing::poisoned_tensor<float>({batch, M, N}));
    simad::ops::batched_matmul(dC, simad::cuda::to_device(A), simad::cuda::to_device(B), ta, tb);
    simad::testing::check_close(simad::cuda::to_host(dC),
                                std::span<const float>(expected.data(), size_t(expected.numel())), kAtol, kRtol,
                                simad::detail::concat("batched_matmul trans_a=", ta, " trans_b=", tb));
  }
}

TEST_CASE("cuda/gemm: matmul with tensors on different devices or double CUDA tensors throws") {
  const Tensor<float> A = Tensor<float>::full({2, 3}, 1.0f), B = Tensor<float>::full({3, 4}, 1.0f);
  const Tensor<float> dC = Tensor<float>::empty({2, 4}, Device::cuda);
  const Tensor<float> dA = simad::cuda::to_device(A);
  CHECK_THROWS_WITH_AS(simad::ops::matmul(dC, A, B), doctest::Contains("different devices"), simad::Error);
  CHECK_THROWS_WITH_AS(simad::ops::matmul(dC, dA, B), doctest::Contains("different devices"), simad::Error);
  const Tensor<double> dd = Tensor<double>::empty({2, 2}, Device::cuda);
  CHECK_THROWS_WITH_AS(simad::ops::matmul(dd, dd, dd), doctest::Contains("float"), simad::Error);
}
