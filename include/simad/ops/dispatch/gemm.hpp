// simad/ops/dispatch/gemm.hpp: Tensor-level GEMM entry points that run on the tensors' device.
//   ops::matmul(C, A, B, trans_a, trans_b, beta)            C (M, N) = op(A) op(B) (+ beta C)
//   ops::batched_matmul(C, A, B, trans_a, trans_b, beta)    C (batch, M, N) = op(A[b]) op(B[b]) (+ beta C)
// All tensors on the CPU (OpenBLAS), or all on Device::cuda (float; needs simad::kernels, which
// defines SIMAD_HAVE_CUDA_KERNELS: cuBLAS in the real-CUDA build, the tiled kernel when emulated).
// Mixed devices throw simad::Error. CUDA work is asynchronous on the default stream.
#pragma once

#include <algorithm>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/gemm.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/gemm.hpp"
#endif

namespace simad::ops {

// C (M, N) = op(A) op(B) (+ beta C). A, B, C are rank-2 tensors, all on the CPU (ops::gemm)
// or all on Device::cuda (float only: cuBLAS in the real-CUDA build, simad's tiled kernel
// under the emulator; needs simad::kernels). CUDA: asynchronous on the default stream.
template <typename T>
void matmul(const Tensor<T>& C, const Tensor<T>& A, const Tensor<T>& B, bool trans_a = false, bool trans_b = false,
            T beta = T(0)) {
  SIMAD_CHECK(A.rank() == 2 && B.rank() == 2 && C.rank() == 2, "matmul: rank-2 tensors expected, got A ",
              A.shape(), " B ", B.shape(), " C ", C.shape());
  const int64_t M = trans_a ? A.dim(1) : A.dim(0), K = trans_a ? A.dim(0) : A.dim(1);
  const int64_t KB = trans_b ? B.dim(1) : B.dim(0), N = trans_b ? B.dim(0) : B.dim(1);
  SIMAD_CHECK(K == KB, "matmul: inner dimensions differ: op(A) ", Shape{M, K}, " op(B) ", Shape{KB, N});
  check_shape(C, {M, N}, "matmul: C");
  // BLAS wants leading dimensions >= 1 even for an empty matrix (K == 0, or a zero-width C).
  const int64_t lda = std::max<int64_t>(A.dim(1), 1), ldb = std::max<int64_t>(B.dim(1), 1),
                ldc = std::max<int64_t>(N, 1);
  detail::on_device<T>(
      "matmul", detail::common_device("matmul", C, A, B),
      [&] { gemm(trans_a, trans_b, M, N, K, T(1), A.data(), lda, B.data(), ldb, beta, C.data(), ldc); },
      [&] {
        SIMAD_CUDA_KERNEL_CALL(T, gemm(trans_a, trans_b, M, N, K, 1.0f, A.data(), lda, B.data(), ldb, beta, C.data(),
                                       ldc));
      });
}

// C (batch, M, N) = op(A[b]) op(B[b]) (+ beta C); A (batch, M, K) or (batch, K, M) when trans_a,
// B (batch, K, N) or (batch, N, K) when trans_b.
template <typename T>
void batched_matmul(const Tensor<T>& C, const Tensor<T>& A, const Tensor<T>& B, bool trans_a = false,
                    bool trans_b = false, T beta = T(0)) {
  SIMAD_CHECK(A.rank() == 3 && B.rank() == 3 && C.rank() == 3, "batched_matmul: rank-3 tensors expected, got A ",
              A.shape(), " B ", B.shape(), " C ", C.shape());
  const int64_t batch = A.dim(0);
  SIMAD_CHECK(B.dim(0) == batch, "batched_matmul: batch sizes differ: A ", A.shape(), " B ", B.shape());
  const int64_t M = trans_a ? A.dim(2) : A.dim(1), K = trans_a ? A.dim(1) : A.dim(2);
  const int64_t KB = trans_b ? B.dim(2) : B.dim(1), N = trans_b ? B.dim(1) : B.dim(2);
  SIMAD_CHECK(K == KB, "batched_matmul: inner dimensions differ: op(A) ", Shape{M, K}, " op(B) ", Shape{KB, N});
  check_shape(C, {batch, M, N}, "batched_matmul: C");
  const int64_t lda = std::max<int64_t>(A.dim(2), 1), ldb = std::max<int64_t>(B.dim(2), 1),
                ldc = std::max<int64_t>(N, 1);
  const int64_t sa = A.dim(1) * A.dim(2), sb = B.dim(1) * B.dim(2), sc = M * N;
  detail::on_device<T>(
      "batched_matmul", detail::common_device("batched_matmul", C, A, B),
      [&] {
        gemm_strided_batched(trans_a, trans_b, M, N, K, T(1), A.data(), lda, sa, B.data(), ldb, sb, beta, C.data(),
                             ldc, sc, batch);
      },
      [&] {
        SIMAD_CUDA_KERNEL_CALL(T, gemm_strided_batched(trans_a, trans_b, M, N, K, 1.0f, A.data(), lda, sa, B.data(),
                                                       ldb, sb, beta, C.data(), ldc, sc, batch));
      });
}

}  // namespace simad::ops
