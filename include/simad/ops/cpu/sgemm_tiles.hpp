// simad/ops/cpu/sgemm_tiles.hpp: the register tiles of simad's packed fp32 GEMM (ops/cpu/sgemm.hpp),
// one per instruction-set level, each compiled for its ISA with a target attribute (not -march), so
// one binary carries all of them and core/cpu_features.hpp picks one at run time.
//
// A tile computes an m x NR block of C (m <= MR rows, `cols` <= NR columns valid) from packed panels:
//   acc[r][c] = sum_k Ap[k * MR + r] * Bp[k * NR + c]       (k in order, one FMA per term)
//   C[r][c]   = alpha * acc[r][c] + beta * C[r][c]           (beta == 0: C is not read)
// then, with an epilogue (the driver passes one on the last block of K only):
//   C[r][c]   = act(C[r][c] + row_bias[r])                    (act: identity or leaky ReLU)
// Ap is an MR-row panel of op(A) stored k-major (MR values per k), Bp an NR-column panel of op(B)
// (NR values per k), both zero-padded by the packing. The columns past `cols` are neither read nor
// written (masked loads and stores), the rows past m not computed: a tile at C's edge does the same
// arithmetic, in the same order, as one inside, so every element of C is computed identically
// wherever it sits (the result of a row does not depend on M, nor on the thread count).
//
// Shapes (accumulators in registers: MR x NR / lanes of them; one vector load of Bp per lane group
// and one broadcast of Ap per row and k):
//   AVX-512: 14 x 32 (28 zmm accumulators of 32)    AVX2 + FMA: 6 x 16 (12 ymm accumulators of 16)
//   AVX512-BF16: 14 x 32 over pairs of k (bf16 inputs, fp32 accumulators; vdpbf16ps)
//   AMX-BF16: 32 x 32 in four tile registers, 32 k per step (tdpbf16ps)
#pragma once

#include <immintrin.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

namespace simad::ops::cpu {

#define SIMAD_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define SIMAD_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define SIMAD_TARGET_AMX \
  __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")))
#define SIMAD_TARGET_AVX512_BF16 \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")))

// What a tile does to each result after alpha and beta: a convolution's folded batch-norm bias and its
// leaky ReLU, applied in registers as C is stored (the same operations, in the same order, as a pass
// over C after the GEMM: the results are bit-identical to it). row_bias points at the tile's first row.
struct SgemmEpilogue {
  const float* row_bias = nullptr;  // added to every column of a row, or null
  bool leaky = false;               // x > 0 ? x : 0.1f * x
  // AVX-512, AVX512-BF16 and AMX tiles (avx512_store_scaled): whole 64-byte-aligned vectors go to memory
  // with non-temporal stores (the same values), for an output too large to stay in cache: it saves
  // reading each line before writing it. The caller issues _mm_sfence before others read the results.
  // Only conv2d_direct sets it; the GEMM driver (sgemm, gemm_bf16) does not pass it to its tiles
  // (streaming 1x1 layers' outputs was tried: docs/cpu-kernels.md).
  bool stream = false;
  bool active() const { return row_bias != nullptr || leaky || stream; }
};

using SgemmTileFn = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                             float beta, int64_t cols, const SgemmEpilogue* epi);
// The tiles with B read in place: row k of the kc rows at B + offs[k] (alpha 1); fp32, or AVX512-BF16
// over pair words (B and offs in words).
using DirectTileFn = void (*)(int64_t kc, const float* Ap, const float* B, const int32_t* offs, float* C, int64_t ldc,
                              float beta, int64_t cols, const SgemmEpilogue* epi);

// The store every AVX-512 tile ends with: lanes of x in mask m into p as alpha x + beta p (beta == 0:
// p is not read); mask of the columns left of 16 (all, some or none).
SIMAD_TARGET_AVX512 inline __mmask16 avx512_column_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xffff) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1u);
}
// epi (or null) applies row r's part of an epilogue. max(0.1 x, x) is x > 0 ? x : 0.1 x bit for bit:
// max returns its second operand on equal values, on signed zeros and on NaN. (maskz_max, not max:
// GCC 12's _mm512_max_ps passes an undefined vector and warns -Wmaybe-uninitialized.)
SIMAD_TARGET_AVX512 inline void avx512_store_scaled(float* p, __m512 x, __mmask16 m, float alpha, float beta,
                                                    const SgemmEpilogue* epi = nullptr, int r = 0) {
  if (alpha != 1.0f) x = _mm512_mul_ps(x, _mm512_set1_ps(alpha));
  if (beta != 0.0f) x = _mm512_add_ps(x, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, p)));
  if (epi) {
    if (epi->row_bias) x = _mm512_add_ps(x, _mm512_set1_ps(epi->row_bias[r]));
    if (epi->leaky) x = _mm512_maskz_max_ps(__mmask16(0xffff), _mm512_mul_ps(_mm512_set1_ps(0.1f), x), x);
  }
  if (epi && epi->stream && m == __mmask16(0xffff) && (reinterpret_cast<uintptr_t>(p) & 63) == 0)
    _mm512_stream_ps(p, x);
  else
    _mm512_mask_storeu_ps(p, m, x);
}

// AVX-512: MR rows of the panel, M of them computed, NV vectors of 16 columns. Packed (Direct false):
// B row k is Bp + k * BStride (the panel's NR, or more for a narrow tile over the left part of a
// panel). Direct: B row k is Bp + offs[k], read in place with masked loads (an implicit-GEMM
// convolution's input, ops/cpu/conv2d_direct.hpp); the arithmetic is the same.
template <int MR, int NV, int M, bool Direct, int BStride = 16 * NV>
SIMAD_TARGET_AVX512 inline __attribute__((always_inline)) void tile_avx512_body(
    int64_t kc, const float* Ap, const float* Bp, const int32_t* offs, float* C, int64_t ldc, float alpha, float beta,
    int64_t cols, const SgemmEpilogue* epi) {
  __mmask16 mask[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) mask[v] = avx512_column_mask(cols - 16 * v);
  __m512 acc[M][NV];
#pragma GCC unroll 64
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b[NV];
    if constexpr (Direct) {
      const float* row = Bp + offs[k];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = _mm512_maskz_loadu_ps(mask[v], row + 16 * v);
    } else {
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(Bp + 16 * v);
      Bp += BStride;
    }
#pragma GCC unroll 64
    for (int r = 0; r < M; ++r) {
      const __m512 a = _mm512_set1_ps(Ap[r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
    Ap += MR;
  }
#pragma GCC unroll 64
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) avx512_store_scaled(C + r * ldc + 16 * v, acc[r][v], mask[v], alpha, beta, epi, r);
}

template <int MR, int NV, int M, int BStride = 16 * NV>
SIMAD_TARGET_AVX512 void sgemm_tile_avx512(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                                           float alpha, float beta, int64_t cols, const SgemmEpilogue* epi) {
  tile_avx512_body<MR, NV, M, false, BStride>(kc, Ap, Bp, nullptr, C, ldc, alpha, beta, cols, epi);
}
template <int MR, int NV, int M>
SIMAD_TARGET_AVX512 void direct_tile_avx512(int64_t kc, const float* Ap, const float* B, const int32_t* offs, float* C,
                                            int64_t ldc, float beta, int64_t cols, const SgemmEpilogue* epi) {
  tile_avx512_body<MR, NV, M, true>(kc, Ap, B, offs, C, ldc, 1.0f, beta, cols, epi);
}

// AVX2 + FMA: the same with 8-column vectors.
template <int MR, int NV, int M, bool Direct, int BStride = 8 * NV>
SIMAD_TARGET_AVX2 inline __attribute__((always_inline)) void tile_avx2_body(int64_t kc, const float* Ap,
                                                                            const float* Bp, const int32_t* offs,
                                                                            float* C, int64_t ldc, float alpha,
                                                                            float beta, int64_t cols,
                                                                            const SgemmEpilogue* epi) {
  __m256i mask[NV];
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    const int64_t left = cols - 8 * v;
    const int n = left >= 8 ? 8 : left <= 0 ? 0 : int(left);
    mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
  }
  __m256 acc[M][NV];
#pragma GCC unroll 64
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b[NV];
    if constexpr (Direct) {
      const float* row = Bp + offs[k];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = _mm256_maskload_ps(row + 8 * v, mask[v]);
    } else {
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = _mm256_loadu_ps(Bp + 8 * v);
      Bp += BStride;
    }
#pragma GCC unroll 64
    for (int r = 0; r < M; ++r) {
      const __m256 a = _mm256_broadcast_ss(Ap + r);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
    }
    Ap += MR;
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
      if (epi) {  // as avx512_store_scaled
        if (epi->row_bias) x = _mm256_add_ps(x, _mm256_set1_ps(epi->row_bias[r]));
        if (epi->leaky) x = _mm256_max_ps(_mm256_mul_ps(_mm256_set1_ps(0.1f), x), x);
      }
      _mm256_maskstore_ps(p, mask[v], x);
    }
}

template <int MR, int NV, int M, int BStride = 8 * NV>
SIMAD_TARGET_AVX2 void sgemm_tile_avx2(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                                       float alpha, float beta, int64_t cols, const SgemmEpilogue* epi) {
  tile_avx2_body<MR, NV, M, false, BStride>(kc, Ap, Bp, nullptr, C, ldc, alpha, beta, cols, epi);
}
template <int MR, int NV, int M>
SIMAD_TARGET_AVX2 void direct_tile_avx2(int64_t kc, const float* Ap, const float* B, const int32_t* offs, float* C,
                                        int64_t ldc, float beta, int64_t cols, const SgemmEpilogue* epi) {
  tile_avx2_body<MR, NV, M, true>(kc, Ap, B, offs, C, ldc, 1.0f, beta, cols, epi);
}

// AVX512-BF16: the same tile over bf16 pairs. Ap holds, per k pair, MR 32-bit words (row r's values
// at k and k+1 as two bf16, k in the low half), Bp NR such words (column c's values at k and k+1);
// vdpbf16ps adds both products of a pair to the fp32 accumulator. kc counts pairs here. Direct: pair
// row k of B is Bp + offs[k] (words), read in place with masked loads (the bf16 ring of
// ops/cpu/conv2d_direct.hpp); packed: Bp + k * BStride.
template <int MR, int NV, int M, bool Direct, int BStride = 16 * NV>
SIMAD_TARGET_AVX512_BF16 inline __attribute__((always_inline)) void tile_avx512_bf16_body(
    int64_t kc, const float* Ap_, const float* Bp_, const int32_t* offs, float* C, int64_t ldc, float alpha, float beta,
    int64_t cols, const SgemmEpilogue* epi) {
  const uint32_t* Ap = reinterpret_cast<const uint32_t*>(Ap_);  // the packing wrote uint32 words there
  const uint32_t* Bp = reinterpret_cast<const uint32_t*>(Bp_);
  __mmask16 mask[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) mask[v] = avx512_column_mask(cols - 16 * v);
  __m512 acc[M][NV];
#pragma GCC unroll 64
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512bh b[NV];
    if constexpr (Direct) {
      const uint32_t* row = Bp + offs[k];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_maskz_loadu_epi32(mask[v], row + 16 * v);
    } else {
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_loadu_si512(Bp + 16 * v);
      Bp += BStride;
    }
#pragma GCC unroll 64
    for (int r = 0; r < M; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(int(Ap[r]));
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], a, b[v]);
    }
    Ap += MR;
  }
#pragma GCC unroll 64
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) avx512_store_scaled(C + r * ldc + 16 * v, acc[r][v], mask[v], alpha, beta, epi, r);
}

template <int MR, int NV, int M>
SIMAD_TARGET_AVX512_BF16 void gemm_tile_avx512_bf16(int64_t kc, const float* Ap, const float* Bp, float* C,
                                                    int64_t ldc, float alpha, float beta, int64_t cols,
                                                    const SgemmEpilogue* epi) {
  tile_avx512_bf16_body<MR, NV, M, false>(kc, Ap, Bp, nullptr, C, ldc, alpha, beta, cols, epi);
}
template <int MR, int NV, int M>
SIMAD_TARGET_AVX512_BF16 void direct_tile_avx512_bf16(int64_t kc, const float* Ap, const float* B, const int32_t* offs,
                                                      float* C, int64_t ldc, float beta, int64_t cols,
                                                      const SgemmEpilogue* epi) {
  tile_avx512_bf16_body<MR, NV, M, true>(kc, Ap, B, offs, C, ldc, 1.0f, beta, cols, epi);
}

// AMX-BF16: a 32 x 32 block of C in four 16 x 16 fp32 tile registers (tmm0-3), from two A tiles
// (tmm4-5: 16 rows x 32 bf16 of k each) and two B tiles (tmm6-7: 16 k pairs x 16 columns) per step of
// 32 k. Ap: per step, 32 rows x 16 words (a row's 32 k values as pairs, contiguous); Bp: per step,
// 16 pair rows x 32 column words (the AVX512-BF16 layout). kc counts pairs (a multiple of 16). The
// tiles go to a 32 x 32 buffer, then m rows and `cols` columns into C with alpha and beta.
struct AmxTileConfig {  // ldtilecfg's 64-byte operand, palette 1
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

SIMAD_TARGET_AMX inline void amx_configure_thread() {
  static thread_local bool configured = false;  // the tile configuration is per thread
  if (configured) return;
  alignas(64) AmxTileConfig config;
  for (int t = 0; t < 8; ++t) config.colsb[t] = 64, config.rows[t] = 16;
  // GCC 12's ldtilecfg names only the first byte of the operand: without this it drops the stores
  // of the rest (reserved bytes left non-zero make ldtilecfg fault).
  asm volatile("" : : "r"(&config) : "memory");
  _tile_loadconfig(&config);
  configured = true;
}

template <int MR, int NV, int M>
SIMAD_TARGET_AMX void gemm_tile_amx_bf16(int64_t kc, const float* Ap_, const float* Bp_, float* C, int64_t ldc,
                                         float alpha, float beta, int64_t cols, const SgemmEpilogue* epi) {
  static_assert(MR == 32 && NV == 2, "the AMX tile is 32 x 32");
  amx_configure_thread();
  const uint32_t* Ap = reinterpret_cast<const uint32_t*>(Ap_);
  const uint32_t* Bp = reinterpret_cast<const uint32_t*>(Bp_);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t step = 0; step < kc / 16; ++step) {
    _tile_loadd(4, Ap, 64);
    _tile_loadd(5, Ap + 16 * 16, 64);
    _tile_loadd(6, Bp, 128);
    _tile_loadd(7, Bp + 16, 128);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
    Ap += 32 * 16;
    Bp += 16 * 32;
  }
  alignas(64) float block[32 * 32];
  _tile_stored(0, block, 128);
  _tile_stored(1, block + 16, 128);
  _tile_stored(2, block + 16 * 32, 128);
  _tile_stored(3, block + 16 * 32 + 16, 128);
  const __mmask16 mask[2] = {avx512_column_mask(cols), avx512_column_mask(cols - 16)};
  for (int r = 0; r < M; ++r)
    for (int v = 0; v < 2; ++v)
      avx512_store_scaled(C + r * ldc + 16 * v, _mm512_load_ps(block + r * 32 + 16 * v), mask[v], alpha, beta, epi,
                          r);
}

// A kernel family: its tile shape and the tile for each row count 1..MR (the last panel of A may
// have fewer rows than MR; a tile for exactly those rows wastes no FMAs on padding). The fp32
// families also have a narrow tile, over the left half of a panel: the last panel of B when it has
// at most NR / 2 columns (YOLOv3's 13x13 maps: 169 = 5 * 32 + 9 columns) needs half the FMAs, with
// the same arithmetic per element. So have the direct tiles (a row of a convolution's output 104
// wide is 3 * 32 + 8 columns).
template <int MR_, int NV, int M>
struct Avx512Tile {
  static constexpr SgemmTileFn fn = &sgemm_tile_avx512<MR_, NV, M>;
  static constexpr SgemmTileFn narrow = &sgemm_tile_avx512<MR_, NV / 2, M, 16 * NV>;
  static constexpr DirectTileFn direct = &direct_tile_avx512<MR_, NV, M>;
  static constexpr DirectTileFn direct_narrow = &direct_tile_avx512<MR_, NV / 2, M>;
};
template <int MR_, int NV, int M>
struct Avx2Tile {
  static constexpr SgemmTileFn fn = &sgemm_tile_avx2<MR_, NV, M>;
  static constexpr SgemmTileFn narrow = &sgemm_tile_avx2<MR_, NV / 2, M, 8 * NV>;
  static constexpr DirectTileFn direct = &direct_tile_avx2<MR_, NV, M>;
  static constexpr DirectTileFn direct_narrow = &direct_tile_avx2<MR_, NV / 2, M>;
};

template <int MR_, int NV, int M>
struct Avx512Bf16Tile {
  static constexpr SgemmTileFn fn = &gemm_tile_avx512_bf16<MR_, NV, M>;
  static constexpr SgemmTileFn narrow = nullptr;
  static constexpr DirectTileFn direct = &direct_tile_avx512_bf16<MR_, NV, M>;
  static constexpr DirectTileFn direct_narrow = &direct_tile_avx512_bf16<MR_, NV / 2, M>;
};

template <int MR_, int NV, int M>
struct AmxBf16Tile {
  static constexpr SgemmTileFn fn = &gemm_tile_amx_bf16<MR_, NV, M>;
  static constexpr SgemmTileFn narrow = nullptr;
};

template <int MR_, int NV, int Lanes, template <int, int, int> class Tile>
struct SgemmTiles {
  static constexpr int64_t MR = MR_, NR = NV * Lanes;
  static SgemmTileFn tile(int64_t rows) {  // rows in 1..MR
    static constexpr auto table = []<size_t... I>(std::index_sequence<I...>) {
      return std::array<SgemmTileFn, MR_>{Tile<MR_, NV, int(I) + 1>::fn...};
    }(std::make_index_sequence<MR_>{});
    return table[size_t(rows - 1)];
  }
  static SgemmTileFn narrow_tile(int64_t rows) {  // null where the family has none
    static constexpr auto table = []<size_t... I>(std::index_sequence<I...>) {
      return std::array<SgemmTileFn, MR_>{Tile<MR_, NV, int(I) + 1>::narrow...};
    }(std::make_index_sequence<MR_>{});
    return table[size_t(rows - 1)];
  }
  static DirectTileFn direct_tile(int64_t rows) {  // the fp32 and AVX512-BF16 families
    static constexpr auto table = []<size_t... I>(std::index_sequence<I...>) {
      return std::array<DirectTileFn, MR_>{Tile<MR_, NV, int(I) + 1>::direct...};
    }(std::make_index_sequence<MR_>{});
    return table[size_t(rows - 1)];
  }
  static DirectTileFn direct_narrow_tile(int64_t rows) {  // for `cols` <= NR / 2
    static constexpr auto table = []<size_t... I>(std::index_sequence<I...>) {
      return std::array<DirectTileFn, MR_>{Tile<MR_, NV, int(I) + 1>::direct_narrow...};
    }(std::make_index_sequence<MR_>{});
    return table[size_t(rows - 1)];
  }
};

using SgemmAvx512Tiles = SgemmTiles<14, 2, 16, Avx512Tile>;
using SgemmAvx2Tiles = SgemmTiles<6, 2, 8, Avx2Tile>;
using GemmAvx512Bf16Tiles = SgemmTiles<14, 2, 16, Avx512Bf16Tile>;
using GemmAmxBf16Tiles = SgemmTiles<32, 2, 16, AmxBf16Tile>;

}  // namespace simad::ops::cpu
