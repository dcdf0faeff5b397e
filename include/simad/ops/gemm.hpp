// simad/ops/gemm.hpp: general matrix multiply, row-major, forward and backward.
//   C (M, N) = alpha * op(A) op(B) + beta * C,  op(A) (M, K), op(B) (K, N), op(X) = X or X^T.
// float runs simad's own packed GEMM (ops/cpu/sgemm.hpp: AVX-512 or AVX2 + FMA tiles picked at run
// time by core/cpu_features.hpp), so its speed does not depend on OpenBLAS recognising the CPU
// (set_cpu_gemm(CpuGemm::bf16) / SIMAD_GEMM=bf16: its bf16 variant on AMX or AVX512-BF16);
// double, CPUs without AVX2, and set_cpu_gemm(CpuGemm::openblas) / SIMAD_GEMM=openblas go to OpenBLAS
// (cblas_sgemm / cblas_dgemm). lda/ldb/ldc are the row strides of the matrices as stored. The Tensor
// forms (matmul, batched_matmul: CPU or CUDA tensors) are in ops/dispatch/gemm.hpp.
// Backward of C = op(A) op(B) ACCUMULATES (simad's rule for every backward: gradients +=):
//   dA += dC op(B)^T (transposed back if A was), dB += op(A)^T dC (likewise).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/blas.hpp"
#include "simad/ops/cpu/sgemm.hpp"

namespace simad::ops {

// Which library runs float GEMMs on the CPU. simad (default): ops/cpu/sgemm.hpp where the CPU has
// AVX2 + FMA, OpenBLAS otherwise. bf16: simad's bf16 GEMM (inputs rounded to bf16, fp32 sums: AMX or
// AVX512-BF16) where the CPU has one, else as simad; every float GEMM then runs in bf16 (linear
// layers, convolutions). openblas: always OpenBLAS (the benchmarks' peer, and a way out).
enum class CpuGemm { simad, openblas, bf16 };

namespace detail {
inline std::atomic<int>& cpu_gemm_setting() {
  static std::atomic<int> setting{[] {
    const char* env = std::getenv("SIMAD_GEMM");
    if (!env || !*env || std::string_view(env) == "simad") return int(CpuGemm::simad);
    if (std::string_view(env) == "bf16") return int(CpuGemm::bf16);
    SIMAD_CHECK(std::string_view(env) == "openblas", "SIMAD_GEMM='", env, "': expected simad, bf16 or openblas");
    return int(CpuGemm::openblas);
  }()};
  return setting;
}
}  // namespace detail

inline CpuGemm cpu_gemm() { return CpuGemm(detail::cpu_gemm_setting().load(std::memory_order_relaxed)); }
inline void set_cpu_gemm(CpuGemm choice) { detail::cpu_gemm_setting().store(int(choice)); }
// What runs a float GEMM now: "simad avx512", "simad avx2", "simad amx-bf16", "simad avx512-bf16" or
// "OpenBLAS <core>" (benchmarks print it).
inline std::string cpu_gemm_name() {
  if (cpu_gemm() == CpuGemm::bf16 && cpu::gemm_bf16_available())
    return std::string("simad ") + cpu::bf16_kernel_name(cpu::bf16_kernel());
  if (cpu_gemm() != CpuGemm::openblas && cpu::sgemm_available())
    return std::string("simad ") + simad::cpu::isa_name(simad::cpu::isa());
  return "OpenBLAS " + blas::core_name();
}

namespace detail {
inline void check_gemm_dims(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda,
                            int64_t ldb, int64_t ldc) {
  SIMAD_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
  SIMAD_CHECK(lda >= (trans_a ? M : K) && lda >= 1, "gemm: lda=", lda, " too small for ", trans_a ? "A^T" : "A",
              " with M=", M, " K=", K);
  SIMAD_CHECK(ldb >= (trans_b ? K : N) && ldb >= 1, "gemm: ldb=", ldb, " too small for ", trans_b ? "B^T" : "B",
              " with K=", K, " N=", N);
  SIMAD_CHECK(ldc >= N && ldc >= 1, "gemm: ldc=", ldc, " < N=", N);
  constexpr int64_t kIntMax = 2147483647;  // cblas takes int
  SIMAD_CHECK(M <= kIntMax && N <= kIntMax && K <= kIntMax && lda <= kIntMax && ldb <= kIntMax && ldc <= kIntMax,
              "gemm: dimensions beyond 32-bit BLAS");
}

template <typename T>
void cblas_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "gemm: float or double");
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}
}  // namespace detail

// C = alpha * op(A) op(B) + beta * C. With beta == 0, C is not read (NaN in C does not propagate).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  detail::check_gemm_dims(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  if (K == 0) {  // BLAS implementations differ on K == 0; define it: C = beta * C
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    const CpuGemm choice = cpu_gemm();
    if (choice == CpuGemm::bf16 && cpu::gemm_bf16_available()) {
      cpu::gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
    if (choice != CpuGemm::openblas && cpu::sgemm_available()) {
      cpu::sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
  }
  blas::match_simad_threads();
  detail::cblas_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// C = act(op(A) op(B) + row_bias), act the identity or (leaky) x > 0 ? x : 0.1 x; row_bias (M) may be
// null. A convolution's GEMM with its folded batch-norm bias and activation: on simad's CPU kernels
// (float) they are applied in registers as C is stored; elsewhere (double, OpenBLAS) in one pass over C
// after the GEMM. Both give the same bits: the same float operations in the same order. packed_a: A
// packed beforehand for simad's fp32 or bf16 kernel (a layer's weights), used where it applies; may be null.
template <typename T>
void gemm_bias_activation(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                          const T* B, int64_t ldb, T* C, int64_t ldc, const T* row_bias, bool leaky,
                          const cpu::SgemmPackedA* packed_a = nullptr) {
  detail::check_gemm_dims(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  if constexpr (std::is_same_v<T, float>) {
    const CpuGemm choice = cpu_gemm();
    const cpu::SgemmEpilogue epi{row_bias, leaky};
    if (K > 0 && choice == CpuGemm::bf16 && cpu::gemm_bf16_available()) {
      cpu::gemm_bf16(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, epi, packed_a);
      return;
    }
    if (K > 0 && choice != CpuGemm::openblas && cpu::sgemm_available()) {
      cpu::sgemm(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, epi, packed_a);
      return;
    }
  }
  gemm(trans_a, trans_b, M, N, K, T(1), A, lda, B, ldb, T(0), C, ldc);
  if (!row_bias && !leaky) return;
  parallel_for(M, std::max<int64_t>(1, 4096 / N), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T* row = C + i * ldc;
      if (row_bias) {
        const T b = row_bias[i];
        for (int64_t j = 0; j < N; ++j) row[j] += b;
      }
      if (leaky)
        for (int64_t j = 0; j < N; ++j) row[j] = row[j] > T(0) ? row[j] : T(0.1) * row[j];
    }
  });
}

// A batch of GEMMs; matrix b of each operand starts at X + b * stride_x. Small matrices run one per
// thread (BLAS single-threaded); large ones, and batches whose C matrices overlap (stride_c == 0
// accumulates every product into one C with beta == 1), one after another in batch order.
template <typename T>
void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                          int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                          int64_t ldc, int64_t stride_c, int64_t batch) {
  detail::check_gemm_dims(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  SIMAD_CHECK(batch >= 0, "gemm_strided_batched: negative batch ", batch);
  if (batch == 0) return;
  const double flops = 2.0 * double(M) * double(N) * double(K);
  // Outputs that overlap (e.g. stride_c == 0 with beta == 1: summing the products into one C) must
  // run in batch order on one thread: in parallel they would race and depend on the thread count.
  const int64_t c_extent = (M > 0 && N > 0) ? (M - 1) * ldc + N : 0;  // elements one C matrix spans
  const bool c_disjoint = (stride_c < 0 ? -stride_c : stride_c) >= c_extent;
  const bool one_per_thread = batch > 1 && c_disjoint && flops < 64.0 * 64.0 * 64.0 * 2.0 * 8.0 &&
                              num_threads() > 1 && !simad::detail::in_parallel_region;
  if (!one_per_thread) {
    for (int64_t b = 0; b < batch; ++b)
      gemm(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c,
           ldc);
    return;
  }
  blas::BlasThreadsScope single(1);
  parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      gemm(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c,
           ldc);
  });
}

// Backward of C = op(A) op(B) (alpha 1), accumulating: dA += d/dA, dB += d/dB. Either may be null.
// dA has A's storage layout (lda), dB has B's (ldb).
template <typename T>
void gemm_backward(T* dA, T* dB, const T* dC, int64_t ldc, bool trans_a, bool trans_b, int64_t M, int64_t N,
                   int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb) {
  if (dA) {
    // op(A) = dC op(B)^T  (M, K). A stored (M, K): dA += dC op(B)^T; stored (K, M): dA += op(B) dC^T.
    if (!trans_a) gemm(false, !trans_b, M, K, N, T(1), dC, ldc, B, ldb, T(1), dA, lda);
    else gemm(trans_b, true, K, M, N, T(1), B, ldb, dC, ldc, T(1), dA, lda);
  }
  if (dB) {
    // op(B) grad = op(A)^T dC (K, N). B stored (K, N): dB += op(A)^T dC; stored (N, K): dB += dC^T op(A).
    if (!trans_b) gemm(!trans_a, false, K, N, M, T(1), A, lda, dC, ldc, T(1), dB, ldb);
    else gemm(true, trans_a, N, K, M, T(1), dC, ldc, A, lda, T(1), dB, ldb);
  }
}

}  // namespace simad::ops
