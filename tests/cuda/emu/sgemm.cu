// tests/cuda/emu/sgemm.cu: a classic shared-memory tiled SGEMM (C = A * B, row-major), TILE x TILE
// threads per block, two __syncthreads per K tile, shapes that need not be multiples of the tile.
#include "simad/cuda/portable.hpp"

#include "kernels.hpp"

namespace simad_emu_test {

template <int TILE>
__global__ void __launch_bounds__(TILE * TILE)
    sgemm_tiled_kernel(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int M, int N,
                       int K) {
  __shared__ float As[TILE][TILE];
  __shared__ float Bs[TILE][TILE + 1];  // padded: no bank conflicts on the transposed read
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += TILE) {
    As[ty][tx] = (row < M && k0 + tx < K) ? __ldg(&A[static_cast<long>(row) * K + k0 + tx]) : 0.0f;
    Bs[ty][tx] = (k0 + ty < K && col < N) ? __ldg(&B[static_cast<long>(k0 + ty) * N + col]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < TILE; ++k) acc += As[ty][k] * Bs[k][tx];
    __syncthreads();
  }
  if (row < M && col < N) C[static_cast<long>(row) * N + col] = acc;
}

void sgemm_tiled(int tile, const float* A, const float* B, float* C, int M, int N, int K, cudaStream_t stream) {
  if (tile == 16) {
    const dim3 block(16, 16), grid((N + 15) / 16, (M + 15) / 16);
    SIMAD_LAUNCH(sgemm_tiled_kernel<16>, grid, block, 0, stream, A, B, C, M, N, K);
  } else {
    const dim3 block(32, 32), grid((N + 31) / 32, (M + 31) / 32);
    SIMAD_LAUNCH(sgemm_tiled_kernel<32>, grid, block, 0, stream, A, B, C, M, N, K);
  }
}

}  // namespace simad_emu_test
