// simad/cuda/tile_gemm.hpp: the tiled GEMM main loop that simad's implicit-GEMM kernels share (kernels/conv2d.cu,
// kernels/gemm.cu's tensor-core path). Included by kernels/*.cu only (nvcc or the SIMT emulator).
//
// A block computes a square tile of C = A B (Math::kTile: 64, or 128 for Bf16MmaMath128) over 16-deep slices of
// the reduction. What the operands are is
// a Problem's business; the loop only asks it (device functions, ints):
//   M(), N(), Kdim()                  the product's sizes
//   kAKFast, kBNFast                  whether A's k and B's n are contiguous in memory (so consecutive threads
//                                     stage along them and read consecutive addresses)
//   a_at(m, k)                        the address of element (m, k) of A, m < M and k < Kdim
//   Col col(n); b_at(k, const Col&)   the address of element (k, n) of B, or nullptr where it is 0 (a
//                                     convolution's padding), through what column n needs (worked out once per
//                                     thread: n is fixed for each staging slot over the whole reduction)
//   a_base(), b_base()                any valid address of A and of B (what a zero-filling copy names)
//   store(m, n, acc)                  the result for (m, n), m < M and n < N
// Slices are copied global -> shared without passing through registers (cp.async, cuda/async_copy.hpp) into
// the other of two shared buffers while the current one is multiplied: one wait and one barrier per slice,
// global latency behind the arithmetic, and no staging registers. How a slice is multiplied is the Math:
// FmaMath (256 threads, 4 x 4 fp32 results each: rows ty + 16 r, columns tx + 16 c, as kernels/gemm.cu's
// sgemm_tiled) or Bf16MmaMath (4 warps, each a 32 x 32 quarter as 2 x 4 tensor-core mma.sync m16n8k16, the
// staged floats rounded to bf16 as fragments are built, fp32 sums: simad/cuda/mma.hpp).
#pragma once

#include <cstdint>

#include "simad/cuda/async_copy.hpp"
#include "simad/cuda/launch.hpp"
#include "simad/cuda/mma.hpp"
#include "simad/cuda/portable.hpp"

namespace simad::cuda::tile_gemm {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16;
static_assert(kTileM * kTileK == kTileK * kTileN, "A and B slices have the same size");

// Staging slot l of this thread: (row, k) of the A slice and (k, column) of the B slice.
template <bool kKFast, int kRows>
__device__ __forceinline__ void slot(int e, int& row, int& k) {
  row = kKFast ? e / kTileK : e % kRows;
  k = kKFast ? e % kTileK : e / kRows;
}

// The staging of one thread in a block of kThreads: kLoads slots of the A slice and of the B slice. Each B
// slot keeps its column n for the whole reduction, so what the gather needs of n (the image, the window's
// origin) is worked out once, not per slice (integer division is some 20 instructions on a GPU).
template <class Problem, class Math>
struct Stager {
  static constexpr int kThreads = Math::kThreads, kTile = Math::kTile;
  static constexpr int kLoads = kTile * kTileK / kThreads;
  typename Problem::Col col[kLoads];
  bool inside[kLoads];  // n < N

  __device__ Stager(const Problem& pr, int col0, int tid) {
    const int N = pr.N();
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      int j, k;
      slot<!Problem::kBNFast, kTile>(tid + l * kThreads, j, k);
      inside[l] = col0 + j < N;
      col[l] = pr.col(inside[l] ? col0 + j : 0);
    }
  }
  // Issues the copies of the slice at k0 into As, Bs (k-major), zeros past the product's edges and past Kd (the
  // end of this block's part of the reduction), as one group.
  __device__ void issue(const Problem& pr, int row0, int k0, int Kd, int tid, float (*As)[kTile + 4],
                        float (*Bs)[kTile + 4]) const {
    const int M = pr.M();
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      int i, k;
      slot<Problem::kAKFast, kTile>(tid + l * kThreads, i, k);
      const bool in_a = row0 + i < M && k0 + k < Kd;
      async_copy_f32(&As[k][i], in_a ? pr.a_at(row0 + i, k0 + k) : pr.a_base(), in_a);
      int j, kb;
      slot<!Problem::kBNFast, kTile>(tid + l * kThreads, j, kb);
      const float* b = inside[l] && k0 + kb < Kd ? pr.b_at(k0 + kb, col[l]) : nullptr;
      async_copy_f32(&Bs[kb][j], b ? b : pr.b_base(), b != nullptr);
    }
    async_copy_commit();
  }
};

// How a block multiplies the staged slices. FmaMath: 256 threads, each a 4 x 4 register tile of fp32 FMAs
// (rows ty + 16 r, columns tx + 16 c; sgemm_tiled's).
struct FmaMath {
  static constexpr int kThreads = 256, kMinBlocks = 3;  // 80 registers: 3 blocks per SM, no spills
  static constexpr int kTile = kTileM;                    // 64 x 64
  float acc[4][4];

  __device__ FmaMath() {
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[r][c] = 0.0f;
  }
  __device__ void multiply(const float (*As)[kTile + 4], const float (*Bs)[kTile + 4]) {
    const int tid = static_cast<int>(threadIdx.x), tx = tid % 16, ty = tid / 16;
#pragma unroll
    for (int k = 0; k < kTileK; ++k) {
      float a[4], bv[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) a[r] = As[k][ty + 16 * r];
#pragma unroll
      for (int c = 0; c < 4; ++c) bv[c] = Bs[k][tx + 16 * c];
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[r][c] += a[r] * bv[c];
    }
  }
  template <class Problem>
  __device__ void store(const Problem& pr, int row0, int col0) const {
    const int tid = static_cast<int>(threadIdx.x), tx = tid % 16, ty = tid / 16;
    const int M = pr.M(), N = pr.N();
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c)
        if (row0 + ty + 16 * r < M && col0 + tx + 16 * c < N)
          pr.store(row0 + ty + 16 * r, col0 + tx + 16 * c, acc[r][c]);
  }
};

// Bf16MmaTiles: kWarpsM x kWarpsN warps, each a (16 kFragsM) x (8 kFragsN) part of a square tile (warp w: rows
// 16 kFragsM (w / kWarpsN), columns 8 kFragsN (w % kWarpsN)) as kFragsM x kFragsN tensor-core products m16n8k16
// per slice (cuda/mma.hpp), the staged floats rounded to bf16 as the fragments are built (A's rows are the tile's
// rows, B's columns its columns); fp32 accumulators. Bf16MmaMath: 64 x 64 tiles of 4 warps (32 x 32 each);
// Bf16MmaMath128: 128 x 128 tiles of 8 warps (64 x 32 each), twice the products per staged value, for products
// large enough to fill a GPU with them (bf16_tile_side).
template <int kWarpsM, int kWarpsN, int kFragsM, int kFragsN>
struct Bf16MmaTiles {
  static constexpr int kWarpRows = 16 * kFragsM, kWarpCols = 8 * kFragsN, kTile = kWarpsM * kWarpRows;
  static_assert(kTile == kWarpsN * kWarpCols, "square tiles");
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN, kMinBlocks = kThreads <= 128 ? 3 : 1;
  float acc[kFragsM][kFragsN][4];

  __device__ Bf16MmaTiles() {
#pragma unroll
    for (int mi = 0; mi < kFragsM; ++mi)
#pragma unroll
      for (int ni = 0; ni < kFragsN; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0.0f;
  }
  __device__ void multiply(const float (*As)[kTile + 4], const float (*Bs)[kTile + 4]) {
    const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
    const int g = lane >> 2, t = lane & 3, wm = kWarpRows * (warp / kWarpsN), wn = kWarpCols * (warp % kWarpsN);
    uint32_t b[kFragsN][2];
#pragma unroll
    for (int ni = 0; ni < kFragsN; ++ni) {
      const int c = wn + 8 * ni + g;
      b[ni][0] = mma::pack_bf16x2(Bs[2 * t][c], Bs[2 * t + 1][c]);
      b[ni][1] = mma::pack_bf16x2(Bs[2 * t + 8][c], Bs[2 * t + 9][c]);
    }
#pragma unroll
    for (int mi = 0; mi < kFragsM; ++mi) {
      const int r = wm + 16 * mi + g;
      const uint32_t a[4] = {mma::pack_bf16x2(As[2 * t][r], As[2 * t + 1][r]),
                             mma::pack_bf16x2(As[2 * t][r + 8], As[2 * t + 1][r + 8]),
                             mma::pack_bf16x2(As[2 * t + 8][r], As[2 * t + 9][r]),
                             mma::pack_bf16x2(As[2 * t + 8][r + 8], As[2 * t + 9][r + 8])};
#pragma unroll
      for (int ni = 0; ni < kFragsN; ++ni) mma::mma_m16n8k16_bf16(acc[mi][ni], a, b[ni]);
    }
  }
  template <class Problem>
  __device__ void store(const Problem& pr, int row0, int col0) const {
    const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
    const int g = lane >> 2, t = lane & 3, wm = kWarpRows * (warp / kWarpsN), wn = kWarpCols * (warp % kWarpsN);
    const int M = pr.M(), N = pr.N();
#pragma unroll
    for (int mi = 0; mi < kFragsM; ++mi)
#pragma unroll
      for (int ni = 0; ni < kFragsN; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) {  // D[g + 8 (e / 2)][2t + e % 2] of the 16 x 8 product
          const int m = row0 + wm + 16 * mi + g + 8 * (e >> 1), n = col0 + wn + 8 * ni + 2 * t + (e & 1);
          if (m < M && n < N) pr.store(m, n, acc[mi][ni][e]);
        }
  }
};
using Bf16MmaMath = Bf16MmaTiles<2, 2, 2, 4>;
using Bf16MmaMath128 = Bf16MmaTiles<2, 4, 4, 4>;

// The tile side of a bf16 product of M x N: `forced` (64 or 128) if set, else 128 where there are at least 264
// such tiles (two blocks for each SM of an H100), 64 otherwise (more blocks for smaller products).
inline int bf16_tile_side(int64_t M, int64_t N, int forced = 0) {
  if (forced == 64 || forced == 128) return forced;
  return (M + 127) / 128 * ((N + 127) / 128) >= 264 ? 128 : 64;
}

// The reduction length each of `splits` blocks of a split-K takes: whole slices, the last part possibly shorter
// (or empty: its block then stores zeros).
__host__ __device__ inline int split_chunk(int Kd, int splits) {
  const int slices = (Kd + kTileK - 1) / kTileK;
  return (slices + splits - 1) / splits * kTileK;
}

template <class Problem, class Math>
__global__ void __launch_bounds__(Math::kThreads, Math::kMinBlocks) tile_gemm_kernel(const Problem pr) {
  __shared__ float As[2][kTileK][Math::kTile + 4];
  __shared__ float Bs[2][kTileK][Math::kTile + 4];
  const int tid = static_cast<int>(threadIdx.x);
  const int row0 = static_cast<int>(blockIdx.y) * Math::kTile, col0 = static_cast<int>(blockIdx.x) * Math::kTile;
  // Split-K (gridDim.z > 1): block z reduces over [k_begin, k_end) only, whole slices (split_chunk).
  const int chunk = split_chunk(pr.Kdim(), static_cast<int>(gridDim.z));
  const int k_begin = static_cast<int>(blockIdx.z) * chunk;
  const int k_end = k_begin + chunk < pr.Kdim() ? k_begin + chunk : pr.Kdim();
  Math math;
  const Stager<Problem, Math> stage(pr, col0, tid);
  stage.issue(pr, row0, k_begin, k_end, tid, As[0], Bs[0]);
  async_copy_wait_all();
  __syncthreads();
  int buf = 0;
  for (int k0 = k_begin; k0 < k_end; k0 += kTileK) {
    // The other buffer was last read before the previous barrier: free to fill, in flight during the products.
    if (k0 + kTileK < k_end) stage.issue(pr, row0, k0 + kTileK, k_end, tid, As[buf ^ 1], Bs[buf ^ 1]);
    math.multiply(As[buf], Bs[buf]);
    async_copy_wait_all();
    __syncthreads();
    buf ^= 1;
  }
  math.store(pr, row0, col0);
}

// Launches the tile kernel over an M x N product (ceil(N / 64) x ceil(M / 64) blocks, times `splits` parts of the
// reduction: then each part's results reach Problem::store, which must keep them apart, as partial sums).
template <class Problem, class Math = FmaMath>
inline void launch(const Problem& pr, int64_t M, int64_t N, cudaStream_t stream, int splits = 1) {
  constexpr int kT = Math::kTile;
  const dim3 grid(static_cast<unsigned>((N + kT - 1) / kT), static_cast<unsigned>((M + kT - 1) / kT),
                  static_cast<unsigned>(splits));
  SIMAD_LAUNCH((tile_gemm_kernel<Problem, Math>), grid, dim3(Math::kThreads), 0, stream, pr);
}

// The bf16 tensor-core product on tiles of bf16_tile_side(M, N, forced).
template <class Problem>
inline void launch_bf16(const Problem& pr, int64_t M, int64_t N, cudaStream_t stream, int forced = 0) {
  if (bf16_tile_side(M, N, forced) == 128)
    launch<Problem, Bf16MmaMath128>(pr, M, N, stream);
  else
    launch<Problem, Bf16MmaMath>(pr, M, N, stream);
}

}  // namespace simad::cuda::tile_gemm
