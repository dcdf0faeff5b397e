// kernels/gemm.cu: simad's tiled SGEMM (row-major, all four transposes, alpha/beta, strided batches)
// and the gemm() dispatch (cuBLAS in the real-CUDA build, the tiled kernel under the emulator).
// Declared in include/simad/cuda/kernels/gemm.hpp.
//
// The kernel: a block computes a 64 x 64 tile of C with 256 threads; each K step stages a 64 x 16
// slice of op(A) and a 16 x 64 slice of op(B) in shared memory (k-major, so the inner loop reads rows
// of both), each thread accumulates a 4 x 4 register tile: rows ty + 16 r, columns tx + 16 c
// (consecutive threads read consecutive shared words of B and write consecutive columns of C). The
// loads are laid out per transpose so that consecutive threads read consecutive global addresses.
// Out-of-range elements of A and B are staged as 0, so M, N, K need not be multiples of the tile.
#include "simad/cuda/kernels/gemm.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/cuda/tile_gemm.hpp"

namespace simad::cuda::kernels {

namespace {

using tile_gemm::kTileK, tile_gemm::kTileM, tile_gemm::kTileN;  // the shared tile and its 4 x 4 FMA math
constexpr int kThreads = tile_gemm::FmaMath::kThreads;
constexpr int kLoadsA = kTileM * kTileK / kThreads, kLoadsB = kTileK * kTileN / kThreads;  // 4 each
constexpr int kMaxGridZ = 65535;

template <bool TRANS_A, bool TRANS_B>
__global__ void __launch_bounds__(kThreads)
    sgemm_tiled_kernel(int M, int N, int K, float alpha, const float* __restrict__ A, long long lda,
                       long long stride_a, const float* __restrict__ B, long long ldb, long long stride_b, float beta,
                       float* __restrict__ C, long long ldc, long long stride_c, int batch) {
  __shared__ float As[kTileK][kTileM + 4];
  __shared__ float Bs[kTileK][kTileN + 4];
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  const int row0 = static_cast<int>(blockIdx.y) * kTileM, col0 = static_cast<int>(blockIdx.x) * kTileN;

  for (int b = static_cast<int>(blockIdx.z); b < batch; b += static_cast<int>(gridDim.z)) {
    const float* Ab = A + b * stride_a;
    const float* Bb = B + b * stride_b;
    float* Cb = C + b * stride_c;
    tile_gemm::FmaMath math;  // the 4 x 4 register tile and its FMAs (rows ty + 16 r, columns tx + 16 c)

    for (int k0 = 0; k0 < K; k0 += kTileK) {
      // Stage op(A)[row0 .. row0 + 64, k0 .. k0 + 16) as As[k][i].
#pragma unroll
      for (int l = 0; l < kLoadsA; ++l) {
        const int e = tid + l * kThreads;
        // A stored (M, K): consecutive threads walk k; stored (K, M) (transposed): they walk i.
        const int i = TRANS_A ? e % kTileM : e / kTileK, k = TRANS_A ? e / kTileM : e % kTileK;
        const int gi = row0 + i, gk = k0 + k;
        float value = 0.0f;
        if (gi < M && gk < K) value = TRANS_A ? Ab[gk * lda + gi] : Ab[gi * lda + gk];
        As[k][i] = value;
      }
      // Stage op(B)[k0 .. k0 + 16, col0 .. col0 + 64) as Bs[k][j].
#pragma unroll
      for (int l = 0; l < kLoadsB; ++l) {
        const int e = tid + l * kThreads;
        // B stored (K, N): consecutive threads walk j; stored (N, K) (transposed): they walk k.
        const int j = TRANS_B ? e / kTileK : e % kTileN, k = TRANS_B ? e % kTileK : e / kTileN;
        const int gj = col0 + j, gk = k0 + k;
        float value = 0.0f;
        if (gj < N && gk < K) value = TRANS_B ? Bb[gj * ldb + gk] : Bb[gk * ldb + gj];
        Bs[k][j] = value;
      }
      __syncthreads();
      math.multiply(As, Bs);
      __syncthreads();
    }

#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int gi = row0 + ty + 16 * r;
      if (gi >= M) continue;
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int gj = col0 + tx + 16 * c;
        if (gj >= N) continue;
        float* out = Cb + gi * ldc + gj;
        const float acc = math.acc[r][c];
        *out = beta == 0.0f ? alpha * acc : alpha * acc + beta * *out;  // beta == 0: C is not read
      }
    }
  }
}

// C = beta * C (K == 0); beta == 0 writes 0 without reading C. One thread per element of each matrix.
__global__ void __launch_bounds__(kThreads)
    gemm_scale_c_kernel(int M, int N, float beta, float* __restrict__ C, long long ldc, long long stride_c,
                        int batch) {
  const long long per_matrix = static_cast<long long>(M) * N;
  const long long total = per_matrix * batch;
  for (long long e = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long b = e / per_matrix, rem = e % per_matrix;
    const long long i = rem / N, j = rem % N;
    float* out = C + b * stride_c + i * ldc + j;
    *out = beta == 0.0f ? 0.0f : beta * *out;
  }
}

void check_dims(const char* who, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda,
                int64_t ldb, int64_t ldc, int64_t batch) {
  SIMAD_CHECK(M >= 0 && N >= 0 && K >= 0, who, ": negative size M=", M, " N=", N, " K=", K);
  SIMAD_CHECK(lda >= (trans_a ? M : K) && lda >= 1, who, ": lda=", lda, " too small for ", trans_a ? "A^T" : "A",
              " with M=", M, " K=", K);
  SIMAD_CHECK(ldb >= (trans_b ? K : N) && ldb >= 1, who, ": ldb=", ldb, " too small for ", trans_b ? "B^T" : "B",
              " with K=", K, " N=", N);
  SIMAD_CHECK(ldc >= N && ldc >= 1, who, ": ldc=", ldc, " < N=", N);
  constexpr int64_t kIntMax = 2147483647;
  SIMAD_CHECK(M <= kIntMax && N <= kIntMax && K <= kIntMax && batch <= kIntMax, who,
              ": dimensions beyond 32 bits: M=", M, " N=", N, " K=", K, " batch=", batch);
  SIMAD_CHECK(batch >= 0, who, ": negative batch ", batch);
}

// Launches the tiled kernel over `batch` matrices whose C regions do not overlap.
void launch_tiled(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, long long lda,
                  long long stride_a, const float* B, long long ldb, long long stride_b, float beta, float* C,
                  long long ldc, long long stride_c, int batch, cudaStream_t stream) {
  if (K == 0) {
    const long long total = static_cast<long long>(M) * N * batch;
    const long long blocks = (total + kThreads - 1) / kThreads;
    const unsigned grid = static_cast<unsigned>(blocks < 4096 ? blocks : 4096);
    SIMAD_LAUNCH(gemm_scale_c_kernel, dim3(grid), dim3(kThreads), 0, stream, M, N, beta, C, ldc, stride_c, batch);
    return;
  }
  const dim3 grid(static_cast<unsigned>((N + kTileN - 1) / kTileN), static_cast<unsigned>((M + kTileM - 1) / kTileM),
                  static_cast<unsigned>(batch < kMaxGridZ ? batch : kMaxGridZ));
  const dim3 block(kThreads);
  if (!trans_a && !trans_b)
    SIMAD_LAUNCH((sgemm_tiled_kernel<false, false>), grid, block, 0, stream, M, N, K, alpha, A, lda, stride_a, B, ldb,
                 stride_b, beta, C, ldc, stride_c, batch);
  else if (trans_a && !trans_b)
    SIMAD_LAUNCH((sgemm_tiled_kernel<true, false>), grid, block, 0, stream, M, N, K, alpha, A, lda, stride_a, B, ldb,
                 stride_b, beta, C, ldc, stride_c, batch);
  else if (!trans_a && trans_b)
    SIMAD_LAUNCH((sgemm_tiled_kernel<false, true>), grid, block, 0, stream, M, N, K, alpha, A, lda, stride_a, B, ldb,
                 stride_b, beta, C, ldc, stride_c, batch);
  else
    SIMAD_LAUNCH((sgemm_tiled_kernel<true, true>), grid, block, 0, stream, M, N, K, alpha, A, lda, stride_a, B, ldb,
                 stride_b, beta, C, ldc, stride_c, batch);
}

// True when the C matrices of a batch overlap (then they must be computed in batch order).
bool c_overlaps(int64_t M, int64_t N, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (batch <= 1 || M == 0 || N == 0) return false;
  const int64_t extent = (M - 1) * ldc + N;
  return (stride_c < 0 ? -stride_c : stride_c) < extent;
}

void tiled_batched(const char* who, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                   float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch, cudaStream_t stream) {
  check_dims(who, trans_a, trans_b, M, N, K, lda, ldb, ldc, batch);
  if (M == 0 || N == 0 || batch == 0) return;
  SIMAD_CHECK(C != nullptr && (K == 0 || (A != nullptr && B != nullptr)), who, ": null matrix pointer");
  if (c_overlaps(M, N, ldc, stride_c, batch)) {
    for (int64_t b = 0; b < batch; ++b)  // stream order = batch order
      launch_tiled(trans_a, trans_b, int(M), int(N), int(K), alpha, A ? A + b * stride_a : A, lda, 0,
                   B ? B + b * stride_b : B, ldb, 0, beta, C + b * stride_c, ldc, 0, 1, stream);
    return;
  }
  launch_tiled(trans_a, trans_b, int(M), int(N), int(K), alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
               stride_c, int(batch), stream);
}

// C = alpha op(A) op(B) + beta C as a Problem of the tile GEMM (simad/cuda/tile_gemm.hpp), for its tensor-core
// Math: element offsets in 64 bits (leading dimensions need not keep them in int).
template <bool TRANS_A, bool TRANS_B>
struct GemmProblem {
  static constexpr bool kAKFast = !TRANS_A, kBNFast = !TRANS_B;  // A (M, K) stored: k contiguous; B (K, N): n
  int m_, n_, k_;
  float alpha, beta;
  const float* A;
  long long lda;
  const float* B;
  long long ldb;
  float* C;
  long long ldc;
  struct Col {
    int n;
  };
  __device__ int M() const { return m_; }
  __device__ int N() const { return n_; }
  __device__ int Kdim() const { return k_; }
  __device__ const float* a_at(int m, int k) const { return TRANS_A ? A + k * lda + m : A + m * lda + k; }
  __device__ Col col(int n) const { return Col{n}; }
  __device__ const float* b_at(int k, const Col& c) const { return TRANS_B ? B + c.n * ldb + k : B + k * ldb + c.n; }
  __device__ const float* a_base() const { return A; }
  __device__ const float* b_base() const { return B; }
  __device__ void store(int m, int n, float acc) const {
    float* out = C + m * ldc + n;
    *out = beta == 0.0f ? alpha * acc : alpha * acc + beta * *out;  // beta == 0: C is not read
  }
};

template <bool TRANS_A, bool TRANS_B>
void launch_bf16(int M, int N, int K, float alpha, const float* A, long long lda, const float* B, long long ldb,
                 float beta, float* C, long long ldc, cudaStream_t stream, int tile_side) {
  const GemmProblem<TRANS_A, TRANS_B> pr{M, N, K, alpha, beta, A, lda, B, ldb, C, ldc};
  tile_gemm::launch_bf16(pr, M, N, stream, tile_side);
}

}  // namespace

void gemm_bf16_tensor_cores(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                            int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                            cudaStream_t stream, int tile_side) {
  check_dims("cuda::kernels::gemm_bf16_tensor_cores", trans_a, trans_b, M, N, K, lda, ldb, ldc, 1);
  if (M == 0 || N == 0) return;
  SIMAD_CHECK(C != nullptr && (K == 0 || (A != nullptr && B != nullptr)),
              "cuda::kernels::gemm_bf16_tensor_cores: null matrix pointer");
  if (!trans_a && !trans_b)
    launch_bf16<false, false>(int(M), int(N), int(K), alpha, A, lda, B, ldb, beta, C, ldc, stream, tile_side);
  else if (trans_a && !trans_b)
    launch_bf16<true, false>(int(M), int(N), int(K), alpha, A, lda, B, ldb, beta, C, ldc, stream, tile_side);
  else if (!trans_a && trans_b)
    launch_bf16<false, true>(int(M), int(N), int(K), alpha, A, lda, B, ldb, beta, C, ldc, stream, tile_side);
  else
    launch_bf16<true, true>(int(M), int(N), int(K), alpha, A, lda, B, ldb, beta, C, ldc, stream, tile_side);
}

void gemm_tiled(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, cudaStream_t stream) {
  tiled_batched("cuda::kernels::gemm_tiled", trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0,
                1, stream);
}

void gemm_strided_batched_tiled(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                                const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                                int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch,
                                cudaStream_t stream) {
  tiled_batched("cuda::kernels::gemm_strided_batched_tiled", trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B,
                ldb, stride_b, beta, C, ldc, stride_c, batch, stream);
}

#if defined(SIMAD_CUDA_HAVE_CUBLAS)
bool gemm_uses_cublas() { return true; }

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS gets B first, N x M.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc, cudaStream_t stream) {
  check_dims("cuda::kernels::gemm", trans_a, trans_b, M, N, K, lda, ldb, ldc, 1);
  if (M == 0 || N == 0) return;
  if (K == 0) {  // define it as ops::gemm does: C = beta * C
    launch_tiled(trans_a, trans_b, int(M), int(N), 0, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, stream);
    return;
  }
  SIMAD_CUBLAS_CHECK(cublasSgemm(cublas_handle().on(stream), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M), int(K), &alpha, B, int(ldb), A,
                                 int(lda), &beta, C, int(ldc)));
}

void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                          float* C, int64_t ldc, int64_t stride_c, int64_t batch, cudaStream_t stream) {
  check_dims("cuda::kernels::gemm_strided_batched", trans_a, trans_b, M, N, K, lda, ldb, ldc, batch);
  if (M == 0 || N == 0 || batch == 0) return;
  if (K == 0 || c_overlaps(M, N, ldc, stride_c, batch)) {  // cuBLAS runs overlapping batches concurrently
    tiled_batched("cuda::kernels::gemm_strided_batched", trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb,
                  stride_b, beta, C, ldc, stride_c, batch, stream);
    return;
  }
  SIMAD_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_handle().on(stream), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                               trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M), int(K), &alpha, B,
                                               int(ldb), stride_b, A, int(lda), stride_a, &beta, C, int(ldc), stride_c,
                                               int(batch)));
}
#else
bool gemm_uses_cublas() { return false; }

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc, cudaStream_t stream) {
  tiled_batched("cuda::kernels::gemm", trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1,
                stream);
}

void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                          float* C, int64_t ldc, int64_t stride_c, int64_t batch, cudaStream_t stream) {
  tiled_batched("cuda::kernels::gemm_strided_batched", trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb,
                stride_b, beta, C, ldc, stride_c, batch, stream);
}
#endif

}  // namespace simad::cuda::kernels
