// simad/ops/reference/gemm.hpp: the readable specification of the pointer-level functions of
// ops/gemm.hpp (same names, same arguments, same semantics), a naive triple loop with a double
// accumulator, one thread. Used by the tests; never by the library itself. Row-major:
//   C (M, N) = alpha * op(A) op(B) + beta * C,  op(A) (M, K), op(B) (K, N), op(X) = X or X^T
// lda/ldb/ldc are the row strides as stored. beta == 0: C is not read (NaN there does not propagate);
// K == 0 gives C = beta C. gemm_bias_activation: C = act(op(A) op(B) + row_bias), act the identity or
// leaky (x > 0 ? x : 0.1 x), row_bias (M) or nullptr; the op's performance-only packed_a argument
// (defaulted) is left out. gemm_strided_batched: matrix b of each operand at X + b * stride_x, in
// batch order. Backward of C = op(A) op(B) ACCUMULATES (either gradient may be nullptr), dA in A's
// storage layout (lda), dB in B's (ldb):
//   d op(A) += dC op(B)^T,   d op(B) += op(A)^T dC
// (ops' Tensor forms, matmul and CUDA dispatch, have no reference here.)
#pragma once

#include <cstdint>

namespace simad::ops::reference {

// Element (r, c) of op(X), X stored row-major with row stride ld.
template <typename T>
double gemm_op_at(const T* X, int64_t ld, bool trans, int64_t r, int64_t c) {
  return double(trans ? X[c * ld + r] : X[r * ld + c]);
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += gemm_op_at(A, lda, trans_a, i, k) * gemm_op_at(B, ldb, trans_b, k, j);
      const double c = beta == T(0) ? 0.0 : double(beta) * double(C[i * ldc + j]);
      C[i * ldc + j] = T(double(alpha) * acc + c);
    }
}

template <typename T>
void gemm_bias_activation(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                          const T* B, int64_t ldb, T* C, int64_t ldc, const T* row_bias, bool leaky) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += gemm_op_at(A, lda, trans_a, i, k) * gemm_op_at(B, ldb, trans_b, k, j);
      if (row_bias) acc += double(row_bias[i]);
      if (leaky && !(acc > 0)) acc *= 0.1;
      C[i * ldc + j] = T(acc);
    }
}

template <typename T>
void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                          int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                          int64_t ldc, int64_t stride_c, int64_t batch) {
  for (int64_t b = 0; b < batch; ++b)
    gemm(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c, ldc);
}

template <typename T>
void gemm_backward(T* dA, T* dB, const T* dC, int64_t ldc, bool trans_a, bool trans_b, int64_t M, int64_t N,
                   int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb) {
  if (dA)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) {  // d op(A)[i, k] = sum_j dC[i, j] op(B)[k, j]
        double acc = 0;
        for (int64_t j = 0; j < N; ++j) acc += double(dC[i * ldc + j]) * gemm_op_at(B, ldb, trans_b, k, j);
        T& d = trans_a ? dA[k * lda + i] : dA[i * lda + k];
        d = T(double(d) + acc);
      }
  if (dB)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) {  // d op(B)[k, j] = sum_i op(A)[i, k] dC[i, j]
        double acc = 0;
        for (int64_t i = 0; i < M; ++i) acc += gemm_op_at(A, lda, trans_a, i, k) * double(dC[i * ldc + j]);
        T& d = trans_b ? dB[j * ldb + k] : dB[k * ldb + j];
        d = T(double(d) + acc);
      }
}

}  // namespace simad::ops::reference
