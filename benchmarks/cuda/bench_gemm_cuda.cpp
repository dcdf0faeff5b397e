// benchmarks/cuda/bench_gemm_cuda.cpp: simad's CUDA GEMMs beside cuBLAS, row-major C = A B (M x K times K x N).
//   simad_bench_gemm_cuda [--trials N]
// Per shape: simad's fp32 tiled kernel (gemm_tiled) against cublasSgemm in CUBLAS_DEFAULT_MATH (fp32
// FMAs: the same arithmetic), and simad's bf16 tensor-core kernel (gemm_bf16_tensor_cores: inputs rounded to
// bf16, fp32 sums) against cublasSgemm in CUBLAS_TF32_TENSOR_OP_MATH (inputs rounded to TF32, 10 mantissa
// bits: more precise than bf16's 7, so the peer's result is the better one) and cublasGemmEx on bf16 copies of
// A and B (CUDA_R_16BF, fp32 compute: the same algebra as simad's; the copies are made once, before timing,
// where simad rounds as it stages, so the peer's time leaves out a conversion simad's includes). Before timing,
// each result is compared with cuBLAS fp32's (largest |difference| / largest |C|). Trials are interleaved
// (simad fp32, cuBLAS fp32, simad bf16, cuBLAS TF32, cuBLAS bf16, ...), each 10 calls between CUDA events;
// medians.
// Without a CUDA device it says so and exits 0: nothing is measured.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "simad/core/dtype.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"
#include "simad/cuda/kernels/gemm.hpp"
#include "gpu_bench.hpp"
#include "simad/cuda/runtime.hpp"

namespace {

using simad::bench::median;
using simad::bench::time_ms;




simad::Tensor<float> device_random(int64_t n, uint64_t seed) {
  simad::Rng rng(seed);
  simad::Tensor<float> h = simad::Tensor<float>::empty({n});
  rng.fill_uniform(h.span(), -1.0, 1.0);
  return simad::cuda::to_device(h);
}

// A bf16 copy (nearest even) of a device tensor, as raw 16-bit words on the device.
simad::Tensor<uint16_t> device_bf16(const simad::Tensor<float>& x) {
  const auto h = simad::cuda::to_host(x);
  simad::Tensor<uint16_t> out = simad::Tensor<uint16_t>::empty({h.numel()});
  for (int64_t i = 0; i < h.numel(); ++i) out.data()[i] = simad::float_to_bf16(h.data()[i]).bits;
  return simad::cuda::to_device(out);
}

double max_rel_diff(const simad::Tensor<float>& a, const simad::Tensor<float>& b) {
  const auto ha = simad::cuda::to_host(a), hb = simad::cuda::to_host(b);
  double diff = 0, scale = 1e-30;
  for (int64_t i = 0; i < ha.numel(); ++i) {
    diff = std::max(diff, std::fabs(double(ha.data()[i]) - double(hb.data()[i])));
    scale = std::max(scale, std::fabs(double(hb.data()[i])));
  }
  return diff / scale;
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 15;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--trials") && i + 1 < argc) {
      trials = std::max(1, std::atoi(argv[++i]));
    } else {
      std::printf("usage: %s [--trials N]\n  simad's CUDA GEMMs (fp32 tiled, bf16 tensor cores) beside cuBLAS "
                  "(fp32, TF32, bf16).\n",
                  argv[0]);
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  if (!simad::bench::print_machine()) return 0;
  std::printf("\n");
  cublasHandle_t h = nullptr;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
    std::printf("cublasCreate failed\n");
    return 1;
  }
  std::printf("\n%-20s %10s %8s %10s %7s %9s %10s %10s %7s %10s %7s %9s %9s\n", "M x N x K", "simad fp32",
              "TFLOP/s", "cuBLAS", "ratio", "rel diff", "simad bf16", "cuBLAS tf32", "ratio", "cuBLAS bf16", "ratio",
              "rel diff", "peer diff");
  const int shapes[][3] = {{256, 256, 4096}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048},
                           {4096, 4096, 4096}, {8192, 256, 1024}};
  for (const auto& sh : shapes) {
    const int M = sh[0], N = sh[1], K = sh[2];
    const auto A = device_random(int64_t(M) * K, 1), B = device_random(int64_t(K) * N, 2);
    auto C = simad::Tensor<float>::empty({int64_t(M) * N}, simad::Device::cuda);
    auto Cb = simad::Tensor<float>::empty({int64_t(M) * N}, simad::Device::cuda);
    auto Cp = simad::Tensor<float>::empty({int64_t(M) * N}, simad::Device::cuda);
    const float one = 1.0f, zero = 0.0f;
    // Row-major C = A B is column-major C^T = B^T A^T: cuBLAS gets B first (as kernels/gemm.cu).
    auto cublas = [&](cublasMath_t math, float* out) {
      cublasSetMathMode(h, math);
      cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B.data(), N, A.data(), K, &zero, out, N);
    };
    auto ours = [&] {
      simad::cuda::kernels::gemm_tiled(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
    };
    auto ours_bf16 = [&] {
      simad::cuda::kernels::gemm_bf16_tensor_cores(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f,
                                                   Cb.data(), N);
    };
    const auto Ah = device_bf16(A), Bh = device_bf16(B);
    auto Cq = simad::Tensor<float>::empty({int64_t(M) * N}, simad::Device::cuda);
    auto cublas_bf16 = [&] {
      cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
      cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, Bh.data(), CUDA_R_16BF, N, Ah.data(), CUDA_R_16BF, K,
                   &zero, Cq.data(), CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    };
    ours();
    ours_bf16();
    cublas_bf16();
    cublas(CUBLAS_DEFAULT_MATH, Cp.data());
    SIMAD_CUDA_CHECK(cudaDeviceSynchronize());
    const double d32 = max_rel_diff(C, Cp), d16 = max_rel_diff(Cb, Cp), dq = max_rel_diff(Cq, Cp);
    std::vector<float> to, tc, tb, tt, tq;
    for (int r = 0; r < trials; ++r) {
      to.push_back(time_ms(ours, 10));
      tc.push_back(time_ms([&] { cublas(CUBLAS_DEFAULT_MATH, Cp.data()); }, 10));
      tb.push_back(time_ms(ours_bf16, 10));
      tt.push_back(time_ms([&] { cublas(CUBLAS_TF32_TENSOR_OP_MATH, Cp.data()); }, 10));
      tq.push_back(time_ms(cublas_bf16, 10));
    }
    const double flops = 2.0 * M * N * K;
    const float mo = median(to), mc = median(tc), mb = median(tb), mt = median(tt), mq = median(tq);
    char name[32];
    std::snprintf(name, sizeof name, "%d x %d x %d", M, N, K);
    std::printf("%-20s %10.3f %8.2f %10.3f %7.2f %9.1e %10.3f %10.3f %7.2f %10.3f %7.2f %9.1e %9.1e\n", name,
                double(mo), flops / (double(mo) * 1e-3) * 1e-12, double(mc), double(mc / mo), d32, double(mb),
                double(mt), double(mt / mb), double(mq), double(mq / mb), d16, dq);
  }
  std::printf("[ms per call; ratio = cuBLAS time / simad time, > 1: simad faster]\n");
  cublasDestroy(h);
  return 0;
}
