// simad/ops/cpu/sgemm_tiles.hpp: the register tiles of simad's packed fp32 GEMM (ops/cpu/sgemm.hpp),
// one per instruction-set level, each compiled for its ISA with a target attribute (not -march), so
// one binary carries all of them and core/cpu_features.hpp picks one at run time.
//
// A tile computes an m x NR block of C (m <= MR rows, `cols` <= NR columns valid) from packed panels:
//   acc[r][c] = sum_k Ap[k * MR + r] * Bp[k * NR + c]       (k in order, one FMA per term)
//   C[r][c]   = alpha * acc[r][c] + beta * C[r][c]           (beta == 0: C is not read)
// Ap is an MR-row panel of op(A) stored k-major (MR values per k), Bp an NR-column panel of op(B)
// (NR values per k), both zero-padded by the packing. The columns past `cols` are neither read nor
// written (masked loads and stores), the rows past m not computed: a tile at C's edge does the same
// arithmetic, in the same order, as one inside, so every element of C is computed identically
// wherever it sits (the result of a row does not depend on M, nor on the thread count).
//
// Shapes (accumulators in registers: MR x NR / lanes of them; one vector load of Bp per lane group
// and one broadcast of Ap per row and k):
//   AVX-512: 14 x 32 (28 zmm accumulators of 32)    AVX2 + FMA: 6 x 16 (12 ymm accumulators of 16)
#pragma once

#include <immintrin.h>

#include <array>
#include <cstdint>
#include <utility>

namespace simad::ops::cpu {

#define SIMAD_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define SIMAD_TARGET_AVX2 __attribute__((target("avx2,fma")))

using SgemmTileFn = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                             float beta, int64_t cols);

// AVX-512: MR rows of the panel, M of them computed, NV vectors of 16 columns.
template <int MR, int NV, int M>
SIMAD_TARGET_AVX512 void sgemm_tile_avx512(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                                           float alpha, float beta, int64_t cols) {
  __m512 acc[M][NV];
#pragma GCC unroll 64
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(Bp + 16 * v);
#pragma GCC unroll 64
    for (int r = 0; r < M; ++r) {
      const __m512 a = _mm512_set1_ps(Ap[r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
    Ap += MR;
    Bp += 16 * NV;
  }
  __mmask16 mask[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    const int64_t left = cols - 16 * v;
    mask[v] = left >= 16 ? __mmask16(0xffff) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1u);
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 64
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float* p = C + r * ldc + 16 * v;
      __m512 x = acc[r][v];
      if (alpha != 1.0f) x = _mm512_mul_ps(x, va);
      if (beta != 0.0f) x = _mm512_add_ps(x, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mask[v], p)));
      _mm512_mask_storeu_ps(p, mask[v], x);
    }
}

// AVX2 + FMA: the same with 8-column vectors.
template <int MR, int NV, int M>
SIMAD_TARGET_AVX2 void sgemm_tile_avx2(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                                       float alpha, float beta, int64_t cols) {
  __m256 acc[M][NV];
#pragma GCC unroll 64
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = _mm256_loadu_ps(Bp + 8 * v);
#pragma GCC unroll 64
    for (int r = 0; r < M; ++r) {
      const __m256 a = _mm256_broadcast_ss(Ap + r);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
    }
    Ap += MR;
    Bp += 8 * NV;
  }
  __m256i mask[NV];
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    const int64_t left = cols - 8 * v;
    const int n = left >= 8 ? 8 : left <= 0 ? 0 : int(left);
    mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 64
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float* p = C + r * ldc + 8 * v;
      __m256 x = acc[r][v];
      if (alpha != 1.0f) x = _mm256_mul_ps(x, va);
      if (beta != 0.0f) x = _mm256_add_ps(x, _mm256_mul_ps(vb, _mm256_maskload_ps(p, mask[v])));
      _mm256_maskstore_ps(p, mask[v], x);
    }
}

// A kernel family: its tile shape and the tile for each row count 1..MR (the last panel of A may
// have fewer rows than MR; a tile for exactly those rows wastes no FMAs on padding).
template <int MR_, int NV, int M>
struct Avx512Tile {
  static constexpr SgemmTileFn fn = &sgemm_tile_avx512<MR_, NV, M>;
};
template <int MR_, int NV, int M>
struct Avx2Tile {
  static constexpr SgemmTileFn fn = &sgemm_tile_avx2<MR_, NV, M>;
};

template <int MR_, int NV, int Lanes, template <int, int, int> class Tile>
struct SgemmKernel {
  static constexpr int64_t MR = MR_, NR = NV * Lanes;
  static constexpr bool avx512 = Lanes == 16;
  static SgemmTileFn tile(int64_t rows) {  // rows in 1..MR
    static constexpr auto table = []<size_t... I>(std::index_sequence<I...>) {
      return std::array<SgemmTileFn, MR_>{Tile<MR_, NV, int(I) + 1>::fn...};
    }(std::make_index_sequence<MR_>{});
    return table[size_t(rows - 1)];
  }
};

using SgemmAvx512 = SgemmKernel<14, 2, 16, Avx512Tile>;
using SgemmAvx2 = SgemmKernel<6, 2, 8, Avx2Tile>;

}  // namespace simad::ops::cpu
