// tests/cuda/kernels/test_gemm.cpp: what the op harness (tests/op_cases/cases_gemm.cpp) cannot express for
// kernels/gemm.cu and the Tensor matmul: the cuBLAS query, bad sizes, null pointers, mixed devices and
// double CUDA tensors throw.
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "simad/core/dtype.hpp"
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/gemm.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/gemm.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::Device;
using simad::Tensor;
namespace ck = simad::cuda::kernels;

Tensor<float> upload(const std::vector<float>& h) {
  return simad::cuda::to_device(Tensor<float>::from({int64_t(h.size())}, std::span<const float>(h)));
}

}  // namespace

TEST_CASE("cuda/gemm: the bf16 tensor-core GEMM is exact on bf16 inputs up to float sums, and rounds to nearest") {
  auto rng = simad::testing::test_rng();
  // Sizes past one 64 x 64 tile and off the 16-deep slice, every transpose, alpha and beta; both tile sides
  // (128 x 128: past one tile at 130 x 67 and 3 x 140, within one at 65 x 33).
  for (const auto& [M, N, K] : {std::array<int64_t, 3>{130, 67, 129}, {65, 33, 17}, {3, 140, 40}})
    for (int t = 0; t < 8; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const int side = t & 4 ? 128 : 64;
      CAPTURE(M);
      CAPTURE(t);
      auto A = simad::testing::random_vector<float>(rng, size_t(M * K));
      auto B = simad::testing::random_vector<float>(rng, size_t(K * N));
      const auto C0 = simad::testing::random_vector<float>(rng, size_t(M * N));
      auto rounded = [](std::vector<float> v) {
        for (auto& x : v) x = simad::bf16_to_float(simad::float_to_bf16(x));
        return v;
      };
      const auto Ar = rounded(A), Br = rounded(B);
      const float alpha = 0.75f, beta = -0.5f;
      // Reference in double on the rounded values: the kernel given A and B unrounded must round them to
      // nearest itself, and its products of bf16 values are exact.
      std::vector<double> want(size_t(M * N));
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double acc = 0;
          for (int64_t k = 0; k < K; ++k)
            acc += double(Ar[size_t(ta ? k * M + i : i * K + k)]) * double(Br[size_t(tb ? j * K + k : k * N + j)]);
          want[size_t(i * N + j)] = double(alpha) * acc + double(beta) * double(C0[size_t(i * N + j)]);
        }
      simad::testing::Dev<float> dA(A), dB(B), dC(C0);
      ck::gemm_bf16_tensor_cores(ta, tb, M, N, K, alpha, dA.ptr, ta ? M : K, dB.ptr, tb ? K : N, beta, dC.ptr, N,
                                 nullptr, side);
      CUDA_OK(cudaDeviceSynchronize());
      simad::testing::check_close(dC.get(), want, 1e-5, 1e-5, "bf16 gemm");
    }
}

TEST_CASE("cuda/gemm: gemm uses cuBLAS on a real GPU only") {
#if defined(SIMAD_CUDA_EMULATED)
  CHECK(!ck::gemm_uses_cublas());  // the emulator has no cuBLAS: gemm() is the tiled kernel
#else
  CHECK(ck::gemm_uses_cublas());
#endif
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

TEST_CASE("cuda/gemm: matmul with tensors on different devices or double CUDA tensors throws") {
  const Tensor<float> A = Tensor<float>::full({2, 3}, 1.0f), B = Tensor<float>::full({3, 4}, 1.0f);
  const Tensor<float> dC = Tensor<float>::empty({2, 4}, Device::cuda);
  const Tensor<float> dA = simad::cuda::to_device(A);
  CHECK_THROWS_WITH_AS(simad::ops::matmul(dC, A, B), doctest::Contains("different devices"), simad::Error);
  CHECK_THROWS_WITH_AS(simad::ops::matmul(dC, dA, B), doctest::Contains("different devices"), simad::Error);
  const Tensor<double> dd = Tensor<double>::empty({2, 2}, Device::cuda);
  CHECK_THROWS_WITH_AS(simad::ops::matmul(dd, dd, dd), doctest::Contains("float"), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
