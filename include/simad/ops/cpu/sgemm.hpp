// simad/ops/cpu/sgemm.hpp: simad's own fp32 GEMM for the CPU, row-major,
//   C (M, N) = alpha * op(A) op(B) + beta * C      (beta == 0: C is not read)
// packed and cache-blocked as BLIS and oneDNN do it, with the register tiles of ops/cpu/sgemm_tiles.hpp
// chosen at run time by simad::cpu::isa() (AVX-512 or AVX2 + FMA). ops::gemm calls it for float; it does not
// depend on a BLAS library recognising the CPU.
//
// Threads: C is split once per call into one part per thread, by whole MR-row panels (or NR-column
// panels when there are too few rows); each thread runs the blocked GEMM below on its part alone
// (packed_sgemm). Loops (BLIS's five around the tile), for each block of NC columns and of KC depth:
//   pack op(B)[pc:pc+KC, jc:jc+NC] into NR-column panels (the thread's own copy),
//   then for each group of MR-row panels of op(A) (at most MC rows, so they stay in L2): pack them
//   (unless packed beforehand: a layer's weights) and run the tiles, B panel outer, A panel inner.
// Threads split C, never the K sum: every element's sum has the same order (k in
// KC blocks, each block in k order, partial results rounded to C between blocks) whatever the thread
// count, M, or the element's position. Results are bit-identical on 1 thread or many, and row i of C
// does not depend on the other rows of A.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <memory>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/core/dtype.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/cpu/kernel_linkage.hpp"
#include "simad/ops/cpu/sgemm_tiles.hpp"

namespace simad::ops::cpu {

struct SgemmBlocking {
  int64_t mc = 0, kc = 0, nc = 0;
};

namespace detail {

// A 64-byte aligned float buffer that grows and never shrinks (one per thread: packing needs no lock).
class PackBuffer {
 public:
  float* get(int64_t count) {
    if (count > capacity_) {
      const size_t bytes = (size_t(count) * sizeof(float) + 63) / 64 * 64;
      data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      SIMAD_CHECK(data_ != nullptr, "sgemm: cannot allocate ", bytes, " bytes of packing buffer");
      capacity_ = count;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  int64_t capacity_ = 0;
};

inline PackBuffer& thread_a_buffer() {
  static thread_local PackBuffer buffer;
  return buffer;
}
inline PackBuffer& thread_b_buffer() {
  static thread_local PackBuffer buffer;
  return buffer;
}

// v[r] (row r, 16 columns) -> v[c] (column c, 16 rows), in registers: pairs of floats, then of
// doubles, then 128-bit lanes twice (32 unpacks and 32 lane shuffles for 256 values).
SIMAD_TARGET_AVX512 inline __attribute__((always_inline)) void transpose_16x16_avx512(__m512 v[16]) {
  const __mmask16 full = 0xffff;  // maskz_ forms: GCC 12's plain ones pass an undefined vector (warns)
  __m512 t[16], u[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {  // t[2i]: per lane (r2i[4L], r2i+1[4L], r2i[4L+1], r2i+1[4L+1]); t[2i+1]: +2
    t[2 * i] = _mm512_maskz_unpacklo_ps(full, v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_ps(full, v[2 * i], v[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {  // u[4g + p], lane L: rows 4g..4g+3 of column 4L + p
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g + 0] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(__mmask8(0xff), a, c));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(__mmask8(0xff), a, c));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(__mmask8(0xff), b, d));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(__mmask8(0xff), b, d));
  }
#pragma GCC unroll 4
  for (int p = 0; p < 4; ++p) {  // column 4L + p: lane L of u[p], u[4 + p], u[8 + p], u[12 + p]
    const __m512 w0 = _mm512_maskz_shuffle_f32x4(full, u[p], u[4 + p], 0x44);
    const __m512 w1 = _mm512_maskz_shuffle_f32x4(full, u[p], u[4 + p], 0xEE);
    const __m512 w2 = _mm512_maskz_shuffle_f32x4(full, u[8 + p], u[12 + p], 0x44);
    const __m512 w3 = _mm512_maskz_shuffle_f32x4(full, u[8 + p], u[12 + p], 0xEE);
    v[p] = _mm512_maskz_shuffle_f32x4(full, w0, w2, 0x88);
    v[4 + p] = _mm512_maskz_shuffle_f32x4(full, w0, w2, 0xDD);
    v[8 + p] = _mm512_maskz_shuffle_f32x4(full, w1, w3, 0x88);
    v[12 + p] = _mm512_maskz_shuffle_f32x4(full, w1, w3, 0xDD);
  }
}

// Panels p0..p1 of MR rows of op(A), rows i0 + p * MR ..., depth k0..k0+kc, into dst (kc x MR each,
// rows past M zero).
// op(A) not transposed, AVX-512: 16 k at a time, the rows' 16 values each loaded and transposed in
// registers; the last kc % 16 with one gather of the MR rows' values per k. (Row by row with scalar
// stores costs 2-3 cycles a value; a gather per k reads MR cache lines for MR values.)
template <int64_t MR>
SIMAD_TARGET_AVX512 void pack_a_panel_rows_avx512(float* d, const float* A, int64_t lda, int64_t rows, int64_t kc) {
  static_assert(MR <= 16);
  const __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(int(lda)));
  const __mmask16 valid = __mmask16((1u << rows) - 1u), store = __mmask16((1u << MR) - 1u);
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    __m512 v[16];
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) v[r] = r < rows ? _mm512_loadu_ps(A + r * lda + k) : _mm512_setzero_ps();
    transpose_16x16_avx512(v);
#pragma GCC unroll 16
    for (int c = 0; c < 16; ++c) _mm512_mask_storeu_ps(d + (k + c) * MR, store, v[c]);
  }
  for (; k < kc; ++k) {
    const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid, index, A + k, 4);
    _mm512_mask_storeu_ps(d + k * MR, store, v);
  }
}

template <int64_t MR>
void pack_a_panels(float* dst, bool trans, const float* A, int64_t lda, int64_t M, int64_t p0, int64_t p1,
                   int64_t k0, int64_t kc, bool use_avx512) {
  for (int64_t p = p0; p < p1; ++p) {
    float* d = dst + (p - p0) * MR * kc;
    const int64_t i0 = p * MR, rows = std::min<int64_t>(MR, M - i0);
    if (!trans && MR <= 16 && use_avx512 && (MR - 1) * lda < (int64_t(1) << 31)) {
      pack_a_panel_rows_avx512<MR>(d, A + i0 * lda + k0, lda, rows, kc);
    } else if (!trans) {
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = A + (i0 + r) * lda + k0;
        for (int64_t k = 0; k < kc; ++k) d[k * MR + r] = src[k];
      }
      for (int64_t r = rows; r < MR; ++r)
        for (int64_t k = 0; k < kc; ++k) d[k * MR + r] = 0.0f;
    } else {  // op(A)(i, k) = A[k * lda + i]: MR contiguous values per k
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (k0 + k) * lda + i0;
        float* dk = d + k * MR;
        for (int64_t r = 0; r < rows; ++r) dk[r] = src[r];
        for (int64_t r = rows; r < MR; ++r) dk[r] = 0.0f;
      }
    }
  }
}

// Panels q0..q1 of NR columns of op(B), columns j0 + q * NR ... (< N), depth k0..k0+kc, into dst
// (kc x NR each, columns past N zero).
template <int64_t NR>
void pack_b_panels(float* dst, bool trans, const float* B, int64_t ldb, int64_t N, int64_t j0, int64_t q0,
                   int64_t q1, int64_t k0, int64_t kc) {
  if (!trans) {  // row by row of B: each row is read once, front to back (not one page per row and panel)
    for (int64_t k = 0; k < kc; ++k) {
      const float* src_row = B + (k0 + k) * ldb;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t c0 = j0 + q * NR, cols = std::min<int64_t>(NR, N - c0);
        const float* src = src_row + c0;
        float* dk = dst + q * NR * kc + k * NR;
        if (cols == NR) {
          std::memcpy(dk, src, sizeof(float) * NR);
        } else {
          for (int64_t c = 0; c < cols; ++c) dk[c] = src[c];
          for (int64_t c = cols; c < NR; ++c) dk[c] = 0.0f;
        }
      }
    }
    return;
  }
  for (int64_t q = q0; q < q1; ++q) {
    float* d = dst + q * NR * kc;
    const int64_t c0 = j0 + q * NR, cols = std::min<int64_t>(NR, N - c0);
    {  // op(B)(k, j) = B[j * ldb + k]
      for (int64_t c = 0; c < cols; ++c) {
        const float* src = B + (c0 + c) * ldb + k0;
        for (int64_t k = 0; k < kc; ++k) d[k * NR + c] = src[k];
      }
      for (int64_t c = cols; c < NR; ++c)
        for (int64_t k = 0; k < kc; ++k) d[k * NR + c] = 0.0f;
    }
  }
}

// bf16 pairs for the AVX512-BF16 tiles: word = bf16(v[k]) | bf16(v[k + 1]) << 16, rounded to nearest
// even; a k past the block's depth gives 0.
inline uint32_t bf16_pair(float lo, float hi) {
  return uint32_t(float_to_bf16(lo).bits) | (uint32_t(float_to_bf16(hi).bits) << 16);
}

// 32 floats -> 32 bf16 in order (nearest even; vcvtne2ps2bf16 treats denormal inputs as zero), as 16
// pair words; `n` < 32 valid floats read with a mask, the rest zero.
SIMAD_TARGET_AVX512_BF16 inline __attribute__((always_inline)) __m512i bf16_words32(const float* src, int64_t n) {
  const __mmask16 lo_mask = n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
  const __mmask16 hi_mask = n >= 32 ? __mmask16(0xffff) : n <= 16 ? __mmask16(0) : __mmask16((1u << (n - 16)) - 1u);
  const __m512 lo = _mm512_maskz_loadu_ps(lo_mask, src), hi = _mm512_maskz_loadu_ps(hi_mask, src + 16);
  return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}
SIMAD_TARGET_AVX512_BF16 inline void bf16_row32(uint32_t* dst, const float* src, int64_t n) {
  _mm512_storeu_si512(dst, bf16_words32(src, n));
}

// Rows k and k + 1 of B, 16 columns each -> 16 pair words (k in the low half); `cols` < 16 masked.
SIMAD_TARGET_AVX512_BF16 inline void bf16_pair_row16(uint32_t* dst, const float* row_k, const float* row_k1,
                                                     int64_t cols) {
  const __mmask16 m = avx512_column_mask(cols);
  const __m512 a = _mm512_maskz_loadu_ps(m, row_k), b = row_k1 ? _mm512_maskz_loadu_ps(m, row_k1) : _mm512_setzero_ps();
  const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(b, a);  // a's 16 bf16, then b's
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  _mm512_storeu_si512(dst, _mm512_permutexvar_epi16(interleave, both));
}

// Up to 16 rows of kc floats each (`rows` of them valid, ld apart; the others zero) as bf16 pair words,
// transposed: row r's pair p (its values 2p and 2p + 1) at d[p * stride + r], for the r in `store`.
// AVX512-BF16: 32 values of a row converted at once (vcvtne2ps2bf16 gives their 16 pairs in order),
// then the 16 rows' words transposed in registers (as pack_a_panel_rows_avx512 does with floats). A's
// panels (rows of A) and transposed B's (columns of op(B)) are packed so; a scalar loop costs a few
// cycles a value: at batch 1 a 13x13 layer's weights (1024 x 4608) took as long to pack as to multiply.
SIMAD_TARGET_AVX512_BF16 inline void pack_rows_as_pairs_bf16(uint32_t* d, int64_t stride, __mmask16 store,
                                                             const float* src, int64_t ld, int64_t rows,
                                                             int64_t kc) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t k = 0; k < kc; k += 32) {
    __m512 v[16];
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r)
      v[r] = r < rows ? _mm512_castsi512_ps(bf16_words32(src + r * ld + k, kc - k)) : _mm512_setzero_ps();
    transpose_16x16_avx512(v);
    const int64_t pairs = std::min<int64_t>(16, kp - k / 2);
    for (int64_t c = 0; c < pairs; ++c)
      _mm512_mask_storeu_ps(reinterpret_cast<float*>(d + (k / 2 + c) * stride), store, v[c]);
  }
}

// Rows k and k + 1 of an NR-column panel (NR floats each; row_k1 null past the depth) -> NR pair words.
template <int64_t NR>
void bf16_pair_row(uint32_t* dst, const float* row_k, const float* row_k1) {
  static_assert(NR % 16 == 0, "bf16 panels are whole vectors wide");
  for (int64_t c = 0; c < NR; c += 16) bf16_pair_row16(dst + c, row_k + c, row_k1 ? row_k1 + c : nullptr, 16);
}

// As pack_a_panels, in bf16 pairs: panel p holds ceil(kc / 2) x MR words. Not transposed (a layer's
// weights, a linear layer's input) with pack_rows_as_pairs_bf16; transposed, a scalar loop.
template <int64_t MR>
void pack_a_panels_bf16(float* dst_, bool trans, const float* A, int64_t lda, int64_t M, int64_t p0, int64_t p1,
                        int64_t k0, int64_t kc) {
  uint32_t* dst = reinterpret_cast<uint32_t*>(dst_);
  const int64_t kp = (kc + 1) / 2;
  for (int64_t p = p0; p < p1; ++p) {
    uint32_t* d = dst + (p - p0) * MR * kp;
    const int64_t i0 = p * MR, rows = std::min<int64_t>(MR, M - i0);
    if (!trans && MR <= 16) {
      pack_rows_as_pairs_bf16(d, MR, __mmask16((1u << MR) - 1u), A + i0 * lda + k0, lda, rows, kc);
      continue;
    }
    for (int64_t r = 0; r < MR; ++r)
      for (int64_t k = 0; k < kc; k += 2) {
        float lo = 0.0f, hi = 0.0f;
        if (r < rows) {
          const int64_t i = i0 + r;
          lo = trans ? A[(k0 + k) * lda + i] : A[i * lda + k0 + k];
          if (k + 1 < kc) hi = trans ? A[(k0 + k + 1) * lda + i] : A[i * lda + k0 + k + 1];
        }
        d[(k / 2) * MR + r] = bf16_pair(lo, hi);
      }
  }
}

// As pack_b_panels, in bf16 pairs: panel q holds ceil(kc / 2) x NR words.
template <int64_t NR, int64_t PairMultiple = 1>
void pack_b_panels_bf16(float* dst_, bool trans, const float* B, int64_t ldb, int64_t N, int64_t j0, int64_t q0,
                        int64_t q1, int64_t k0, int64_t kc) {
  uint32_t* dst = reinterpret_cast<uint32_t*>(dst_);
  const int64_t kp = ((kc + 1) / 2 + PairMultiple - 1) / PairMultiple * PairMultiple;  // zero pairs pad it
  auto at = [&](int64_t k, int64_t j) { return trans ? B[j * ldb + k0 + k] : B[(k0 + k) * ldb + j]; };
  if (!trans && NR % 16 == 0) {
    // Two rows of B at a time, 16 columns at a time, each pair of rows front to back across the panels
    // (as pack_b_panels): a panel at a time read 128 bytes of each row in turn, which the prefetchers do
    // not follow (a 1x1 layer's input streamed from memory at batch 8).
    for (int64_t k = 0; k < 2 * kp; k += 2) {
      const float* row_k = k < kc ? B + (k0 + k) * ldb : nullptr;
      const float* row_k1 = k + 1 < kc ? B + (k0 + k + 1) * ldb : nullptr;
      for (int64_t q = q0; q < q1; ++q) {
        uint32_t* d = dst + q * NR * kp + (k / 2) * NR;
        const int64_t c0 = j0 + q * NR, cols = std::min<int64_t>(NR, N - c0);
        if (!row_k) {
          std::memset(d, 0, NR * sizeof(uint32_t));
          continue;
        }
        for (int64_t c = 0; c < NR; c += 16)
          bf16_pair_row16(d + c, row_k + c0 + c, row_k1 ? row_k1 + c0 + c : nullptr,
                          std::clamp<int64_t>(cols - c, 0, 16));
      }
    }
    return;
  }
  for (int64_t q = q0; q < q1; ++q) {
    uint32_t* d = dst + q * NR * kp;
    const int64_t c0 = j0 + q * NR, cols = std::min<int64_t>(NR, N - c0);
    if (trans && NR % 16 == 0) {  // op(B)'s columns are rows of B: 16 of them at a time, as A's rows
      for (int64_t c = 0; c < NR; c += 16)
        pack_rows_as_pairs_bf16(d + c, NR, __mmask16(0xffff), B + (c0 + c) * ldb + k0, ldb,
                                std::clamp<int64_t>(cols - c, 0, 16), kc);
      std::memset(d + (kc + 1) / 2 * NR, 0, size_t((kp - (kc + 1) / 2) * NR) * sizeof(uint32_t));  // padding pairs
      continue;
    }
    for (int64_t k = 0; k < 2 * kp; k += 2)
      for (int64_t c = 0; c < NR; ++c)
        d[(k / 2) * NR + c] = c < cols && k < kc ? bf16_pair(at(k, c0 + c), k + 1 < kc ? at(k + 1, c0 + c) : 0.0f)
                                                  : 0u;
  }
}

// For the AMX tiles: panels of 32 rows; per step of 32 k, 32 rows x 16 pair words (row-major, a row's
// k values contiguous), steps zero-padded past kc.
inline void pack_a_panels_amx(float* dst_, bool trans, const float* A, int64_t lda, int64_t M, int64_t p0,
                              int64_t p1, int64_t k0, int64_t kc) {
  uint32_t* dst = reinterpret_cast<uint32_t*>(dst_);
  const int64_t steps = (kc + 31) / 32;
  for (int64_t p = p0; p < p1; ++p) {
    uint32_t* d = dst + (p - p0) * 32 * 16 * steps;
    const int64_t i0 = p * 32, rows = std::min<int64_t>(32, M - i0);
    for (int64_t s = 0; s < steps; ++s)
      for (int64_t r = 0; r < 32; ++r) {
        uint32_t* row = d + (s * 32 + r) * 16;
        const int64_t i = i0 + r;
        if (!trans) {  // a row's 32 k values are contiguous: one conversion
          bf16_row32(row, A + i * lda + k0 + s * 32, r < rows ? std::min<int64_t>(32, kc - s * 32) : 0);
          continue;
        }
        for (int64_t w = 0; w < 16; ++w) {
          const int64_t k = s * 32 + 2 * w;
          float lo = 0.0f, hi = 0.0f;
          if (r < rows && k < kc) lo = trans ? A[(k0 + k) * lda + i] : A[i * lda + k0 + k];
          if (r < rows && k + 1 < kc) hi = trans ? A[(k0 + k + 1) * lda + i] : A[i * lda + k0 + k + 1];
          row[w] = bf16_pair(lo, hi);
        }
      }
  }
}

// A kernel family for the driver: its tiles, how it packs, and how many packed steps kc values take.
template <class Tiles, bool Avx512Gather>
struct Fp32Kernel : Tiles {
  static constexpr int64_t packed_depth(int64_t kc) { return kc; }
  static void pack_a(float* dst, bool trans, const float* A, int64_t lda, int64_t M, int64_t p0, int64_t p1,
                     int64_t k0, int64_t kc) {
    pack_a_panels<Tiles::MR>(dst, trans, A, lda, M, p0, p1, k0, kc, Avx512Gather);
  }
  static void pack_b(float* dst, bool trans, const float* B, int64_t ldb, int64_t N, int64_t j0, int64_t q0,
                     int64_t q1, int64_t k0, int64_t kc) {
    pack_b_panels<Tiles::NR>(dst, trans, B, ldb, N, j0, q0, q1, k0, kc);
  }
};

template <class Tiles>
struct Avx512Bf16Kernel : Tiles {
  static constexpr int64_t packed_depth(int64_t kc) { return (kc + 1) / 2; }
  static void pack_a(float* dst, bool trans, const float* A, int64_t lda, int64_t M, int64_t p0, int64_t p1,
                     int64_t k0, int64_t kc) {
    pack_a_panels_bf16<Tiles::MR>(dst, trans, A, lda, M, p0, p1, k0, kc);
  }
  static void pack_b(float* dst, bool trans, const float* B, int64_t ldb, int64_t N, int64_t j0, int64_t q0,
                     int64_t q1, int64_t k0, int64_t kc) {
    pack_b_panels_bf16<Tiles::NR>(dst, trans, B, ldb, N, j0, q0, q1, k0, kc);
  }
};

template <class Tiles>
struct AmxKernel : Tiles {
  static constexpr int64_t packed_depth(int64_t kc) { return (kc + 31) / 32 * 16; }
  static void pack_a(float* dst, bool trans, const float* A, int64_t lda, int64_t M, int64_t p0, int64_t p1,
                     int64_t k0, int64_t kc) {
    pack_a_panels_amx(dst, trans, A, lda, M, p0, p1, k0, kc);
  }
  static void pack_b(float* dst, bool trans, const float* B, int64_t ldb, int64_t N, int64_t j0, int64_t q0,
                     int64_t q1, int64_t k0, int64_t kc) {
    pack_b_panels_bf16<Tiles::NR, 16>(dst, trans, B, ldb, N, j0, q0, q1, k0, kc);
  }
};

// A's panels packed before the call (SgemmPackedA): `panels` MR-row panels per KC block, blocks one
// after the other (block pc at data + panels * MR * packed_depth(pc), panel p of it at
// + p * MR * packed_depth(kc); fp32: depth = k values, bf16: pairs); this call's rows start at panel panel0.
struct PrepackedPanels {
  const float* data = nullptr;
  int64_t panels = 0, panel0 = 0;
};

// Where op(B) comes from: a matrix in memory, packed by the kernel family's own pack_b. Another
// source (conv2d_implicit's, which unfolds an image as it packs) has the same pack<Kernel>: panels
// q0..q1 of NR columns starting at column j0 (columns < N), depth k0..k0+kc, into dst.
struct MatrixB {
  bool trans = false;
  const float* B = nullptr;
  int64_t ldb = 0;
  template <class Kernel>
  void pack(float* dst, int64_t N, int64_t j0, int64_t q0, int64_t q1, int64_t k0, int64_t kc) const {
    Kernel::pack_b(dst, trans, B, ldb, N, j0, q0, q1, k0, kc);
  }
};

// The blocked GEMM on the calling thread, over columns b_col0.. of the B source (N of them).
template <class Kernel, class BSource>
void packed_sgemm_serial(const SgemmBlocking& blk, bool trans_a, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const BSource& b_source, int64_t b_col0, float beta, float* C,
                         int64_t ldc, const SgemmEpilogue& epi, const PrepackedPanels& pre = {}) {
  constexpr int64_t MR = Kernel::MR, NR = Kernel::NR;
  const int64_t a_panels = (M + MR - 1) / MR, group = std::max<int64_t>(1, blk.mc / MR);
  float* b_pack = thread_b_buffer().get(blk.kc * ((std::min(N, blk.nc) + NR - 1) / NR * NR));
  float* a_pack = pre.data ? nullptr : thread_a_buffer().get(std::min(a_panels, group) * MR * blk.kc);
  for (int64_t jc = 0; jc < N; jc += blk.nc) {
    const int64_t nc = std::min(blk.nc, N - jc), b_panels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < K; pc += blk.kc) {
      const int64_t kc = std::min(blk.kc, K - pc);
      const float beta_block = pc == 0 ? beta : 1.0f;  // later blocks add to the partial sums in C
      const bool last_block = pc + kc >= K;            // the epilogue acts on finished sums only
      const int64_t depth = Kernel::packed_depth(kc);
      b_source.template pack<Kernel>(b_pack, b_col0 + N, b_col0 + jc, 0, b_panels, pc, kc);
      for (int64_t p0 = 0; p0 < a_panels; p0 += group) {
        const int64_t p1 = std::min(a_panels, p0 + group);
        const float* a_panels_now = a_pack;
        if (pre.data)
          a_panels_now = pre.data + pre.panels * MR * Kernel::packed_depth(pc) + (pre.panel0 + p0) * MR * depth;
        else
          Kernel::pack_a(a_pack, trans_a, A, lda, M, p0, p1, pc, kc);
        for (int64_t q = 0; q < b_panels; ++q) {  // B panel outer: it stays near (L1 or L2) while the A panels pass
          const int64_t j = jc + q * NR, cols = std::min<int64_t>(NR, N - j);
          const float* bp = b_pack + q * NR * depth;
          for (int64_t p = p0; p < p1; ++p) {
            const int64_t i = p * MR, rows = std::min<int64_t>(MR, M - i);
            const SgemmEpilogue tile_epi{epi.row_bias ? epi.row_bias + i : nullptr, epi.leaky};
            const SgemmTileFn narrow = 2 * cols <= NR ? Kernel::narrow_tile(rows) : nullptr;
            const SgemmTileFn tile = narrow ? narrow : Kernel::tile(rows);
            tile(depth, a_panels_now + (p - p0) * MR * depth, bp, C + i * ldc + j, ldc, alpha, beta_block, cols,
                 last_block && epi.active() ? &tile_epi : nullptr);
          }
        }
      }
    }
  }
}

// Splits C between the threads once, by whole MR-row panels (or NR-column panels when there are too
// few rows), and runs each part as its own blocked GEMM: one fork and join per call. Each thread packs
// the B (or A) panels it needs itself, a few percent of the work, instead of sharing them behind a
// barrier per block.
template <class Kernel, class BSource>
void packed_sgemm(const SgemmBlocking& blk, bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const BSource& b_source, float beta, float* C, int64_t ldc, const SgemmEpilogue& epi,
                  const PrepackedPanels& pre = {}) {
  constexpr int64_t MR = Kernel::MR, NR = Kernel::NR;
  // Small products run on the calling thread: waking the pool costs more than it saves.
  const bool serial = simad::detail::in_parallel_region || num_threads() == 1 ||
                      2.0 * double(M) * double(N) * double(K) < 1.0e6;
  const int64_t a_panels = (M + MR - 1) / MR, b_panels = (N + NR - 1) / NR;
  const int64_t threads = serial ? 1 : num_threads();
  if (threads == 1 || (a_panels < 2 && b_panels < 2)) {
    packed_sgemm_serial<Kernel>(blk, trans_a, M, N, K, alpha, A, lda, b_source, 0, beta, C, ldc, epi, pre);
    return;
  }
  // Splitting rows makes every thread pack all of op(B) (K x N), splitting columns all of op(A)
  // (M x K): split the side whose other operand is smaller, if it has panels enough to balance.
  const bool rows_first = N <= M;
  const bool by_rows = rows_first ? (a_panels >= 2 * threads || a_panels >= b_panels)
                                  : !(b_panels >= 2 * threads || b_panels >= a_panels);
  const int64_t panels = by_rows ? a_panels : b_panels, parts = std::min(threads, panels);
  ThreadPool::global().run(parts, [&](int64_t t) {
    const int64_t q0 = t * panels / parts, q1 = (t + 1) * panels / parts;
    if (by_rows) {
      const int64_t i0 = q0 * MR, i1 = std::min(M, q1 * MR);
      packed_sgemm_serial<Kernel>(blk, trans_a, i1 - i0, N, K, alpha, trans_a ? A + i0 : A + i0 * lda, lda, b_source,
                                  0, beta, C + i0 * ldc, ldc,
                                  SgemmEpilogue{epi.row_bias ? epi.row_bias + i0 : nullptr, epi.leaky},
                                  PrepackedPanels{pre.data, pre.panels, pre.panel0 + q0});
    } else {
      const int64_t j0 = q0 * NR, j1 = std::min(N, q1 * NR);
      packed_sgemm_serial<Kernel>(blk, trans_a, M, j1 - j0, K, alpha, A, lda, b_source, j0, beta, C + j0, ldc, epi,
                                  pre);
    }
  });
}

}  // namespace detail

using SgemmAvx512 = detail::Fp32Kernel<SgemmAvx512Tiles, true>;
using SgemmAvx2 = detail::Fp32Kernel<SgemmAvx2Tiles, false>;
using GemmAvx512Bf16 = detail::Avx512Bf16Kernel<GemmAvx512Bf16Tiles>;
using GemmAmxBf16 = detail::AmxKernel<GemmAmxBf16Tiles>;

// The blocking of each kernel family (measured on Intel Xeon with AVX-512 and AMD Zen 4 and 5, 2 cores).
// AVX-512: KC 512. Each KC block past the first reads C back and each tile call ends in C's loads and
// stores, a cost per call that KC 256 paid twice as often: in a scratch loop of 1024^3 products on Zen 4,
// interleaved, KC 256 / 384 / 512 read 87% / 88% / 90% of the FMA peak on 2 threads (86% / 89% / 92% on
// one), and simad bench darknet's fp32 rows were 1-4% ahead (docs/cpu-kernels.md). A's block (224 x 512
// floats, 458 KB) still fits a 1 MB L2. AVX2 keeps KC 256 (older cores' L2 is 256-512 KB). With A packed
// beforehand (a layer's weights, SgemmPackedA) blocks of 2^17 / KC columns: a block's packed B panels
// (512 KB) then stay in L2 until the tiles read them, and there is no A packing to repeat per block. KC,
// which sets the order of the sums, is the same either way.
inline SgemmBlocking sgemm_blocking(simad::cpu::Isa isa, bool a_prepacked = false) {
  SgemmBlocking b = isa == simad::cpu::Isa::avx512 ? SgemmBlocking{SgemmAvx512::MR * 16, 512, 4096}
                                                   : SgemmBlocking{SgemmAvx2::MR * 24, 256, 4096};
  if (a_prepacked) b.nc = (int64_t(1) << 17) / b.kc;
  return b;
}

// True when sgemm() has a kernel for this process' ISA level (AVX2 + FMA or better).
inline bool sgemm_available() { return simad::cpu::isa() >= simad::cpu::Isa::avx2; }

// bf16 GEMM: op(A) and op(B) rounded to bf16 (nearest even) as they are packed, products summed in
// fp32, C fp32: the same thread split and per-element order on any thread count (bit-identical).
// Kernels, best first:
//   amx          AMX-BF16 tiles (Intel Sapphire Rapids and later): simad bench's "gemm bf16" rows
//   avx512_bf16  vdpbf16ps: twice the fp32 FMA's products per instruction; ahead of sgemm on AMD Zen 4
//                (simad bench's "gemm bf16" row), behind it on the Intel Xeon it was tried on; also
//                the second implementation the AMX path is tested beside
enum class Bf16Kernel { none, avx512_bf16, amx };

namespace detail {
// Linux hands out the AMX tile state per process on request (arch_prctl ARCH_REQ_XCOMP_PERM).
inline bool amx_permitted() {
  static const bool ok = [] {
#if defined(__linux__) && defined(SIMAD_X86)
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return simad::cpu::features().amx_bf16 && syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
  }();
  return ok;
}
inline std::atomic<int>& bf16_kernel_cap() {  // tests force the lower kernel with it
  static std::atomic<int> cap{int(Bf16Kernel::amx)};
  return cap;
}
}  // namespace detail

// The kernel gemm_bf16 uses: the best the CPU has (AVX-512 level not capped below avx512), at most
// set_bf16_kernel_cap()'s.
inline Bf16Kernel bf16_kernel() {
  if (simad::cpu::isa() < simad::cpu::Isa::avx512 || !simad::cpu::features().avx512_bf16) return Bf16Kernel::none;
  const int cap = detail::bf16_kernel_cap().load(std::memory_order_relaxed);
  if (cap >= int(Bf16Kernel::amx) && detail::amx_permitted()) return Bf16Kernel::amx;
  return cap >= int(Bf16Kernel::avx512_bf16) ? Bf16Kernel::avx512_bf16 : Bf16Kernel::none;
}
inline void set_bf16_kernel_cap(Bf16Kernel cap) { detail::bf16_kernel_cap().store(int(cap)); }
inline const char* bf16_kernel_name(Bf16Kernel k) {
  return k == Bf16Kernel::amx ? "amx-bf16" : k == Bf16Kernel::avx512_bf16 ? "avx512-bf16" : "none";
}
inline bool gemm_bf16_available() { return bf16_kernel() != Bf16Kernel::none; }

// The bf16 kernels' blocking. KC counts k values: 512 = 256 pairs, the same bytes per packed panel as
// fp32's 256 values. With A packed beforehand, blocks of 512 columns, as for fp32.
inline SgemmBlocking gemm_bf16_blocking(Bf16Kernel kernel, bool a_prepacked = false) {
  SgemmBlocking b = kernel == Bf16Kernel::amx ? SgemmBlocking{GemmAmxBf16::MR * 8, 512, 4096}
                                              : SgemmBlocking{GemmAvx512Bf16::MR * 16, 512, 4096};
  if (a_prepacked) b.nc = 512;
  return b;
}

// A (M x K, not transposed) packed once for many products with it: a layer's weights. At batch 1
// packing them is no small part of a product (a 13x13 YOLOv3 layer packs 1024 x 4608 weights for a
// GEMM 169 columns wide). The panels are those one kernel packs per call, so results are
// bit-identical: by default the fp32 kernel of the ISA level current at construction (sgemm,
// conv2d_direct and conv2d_implicit take them, usable_for); for_bf16 packs for the bf16 kernel current
// then (gemm_bf16 and conv2d_implicit's bf16 form take them, usable_for_bf16). Used only while that
// kernel is still the current one; callers pack as usual otherwise. Empty where there is no such kernel.
class SgemmPackedA {
 public:
  SgemmPackedA() = default;
  SgemmPackedA(const float* A, int64_t lda, int64_t M, int64_t K) : M_(M), K_(K), isa_(simad::cpu::isa()) {
    if (!sgemm_available() || M < 1 || K < 1) return;
    if (isa_ == simad::cpu::Isa::avx512)
      pack<SgemmAvx512>(A, lda, sgemm_blocking(isa_).kc);
    else
      pack<SgemmAvx2>(A, lda, sgemm_blocking(isa_).kc);
  }
  static SgemmPackedA for_bf16(const float* A, int64_t lda, int64_t M, int64_t K) {
    SgemmPackedA p;
    p.M_ = M, p.K_ = K, p.isa_ = simad::cpu::isa(), p.bf16_ = bf16_kernel();
    if (p.bf16_ == Bf16Kernel::none || M < 1 || K < 1) return p;
    if (p.bf16_ == Bf16Kernel::amx)
      p.pack<GemmAmxBf16>(A, lda, gemm_bf16_blocking(p.bf16_).kc);
    else
      p.pack<GemmAvx512Bf16>(A, lda, gemm_bf16_blocking(p.bf16_).kc);
    return p;
  }
  bool usable_for(int64_t M, int64_t K) const {
    return !data_.empty() && bf16_ == Bf16Kernel::none && M == M_ && K == K_ && simad::cpu::isa() == isa_;
  }
  bool usable_for_bf16(int64_t M, int64_t K) const {
    return !data_.empty() && bf16_ != Bf16Kernel::none && M == M_ && K == K_ && bf16_kernel() == bf16_;
  }
  detail::PrepackedPanels panels() const { return {data_.data(), panels_, 0}; }

 private:
  // Blocks of kc_max values of depth, one after the other (PrepackedPanels' layout), each in the
  // kernel's packed steps (bf16: pairs of k; kc_max keeps every block but the last whole steps).
  template <class Kernel>
  void pack(const float* A, int64_t lda, int64_t kc_max) {
    constexpr int64_t MR = Kernel::MR;
    panels_ = (M_ + MR - 1) / MR;
    data_.resize(static_cast<size_t>(panels_ * MR * Kernel::packed_depth(K_)));
    for (int64_t pc = 0; pc < K_; pc += kc_max)
      Kernel::pack_a(data_.data() + panels_ * MR * Kernel::packed_depth(pc), false, A, lda, M_, 0, panels_, pc,
                     std::min(kc_max, K_ - pc));
  }
  int64_t M_ = 0, K_ = 0, panels_ = 0;
  simad::cpu::Isa isa_ = simad::cpu::Isa::generic;
  Bf16Kernel bf16_ = Bf16Kernel::none;  // none: fp32 panels
  std::vector<float> data_;
};

namespace detail {
// The fp32 GEMM of this process' ISA level over a B source (MatrixB, or a convolution's Im2colB): the
// one place that checks the level, takes A's prepacked panels where usable and picks the kernel. `who`
// names the caller in the error. wide_blocks: the column blocks of prepacked A (sgemm_blocking) even
// where A is packed per call.
template <class BSource>
void sgemm_from_source(const char* who, bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, const BSource& b, float beta, float* C, int64_t ldc, const SgemmEpilogue& epi,
                       const SgemmPackedA* packed_a, bool wide_blocks) {
  const simad::cpu::Isa isa = simad::cpu::isa();
  SIMAD_CHECK(isa >= simad::cpu::Isa::avx2, who, ": needs AVX2 + FMA, this CPU level is ", simad::cpu::isa_name(isa));
  const PrepackedPanels pre =
      packed_a && !trans_a && packed_a->usable_for(M, K) ? packed_a->panels() : PrepackedPanels{};
  const SgemmBlocking blocking = sgemm_blocking(isa, wide_blocks || pre.data != nullptr);
  if (isa == simad::cpu::Isa::avx512)
    packed_sgemm<SgemmAvx512>(blocking, trans_a, M, N, K, alpha, A, lda, b, beta, C, ldc, epi, pre);
  else
    packed_sgemm<SgemmAvx2>(blocking, trans_a, M, N, K, alpha, A, lda, b, beta, C, ldc, epi, pre);
}

// The same for the bf16 kernels (gemm_bf16, conv2d_implicit's bf16 form).
template <class BSource>
void gemm_bf16_from_source(const char* who, bool trans_a, int64_t M, int64_t N, int64_t K, float alpha,
                           const float* A, int64_t lda, const BSource& b, float beta, float* C, int64_t ldc,
                           const SgemmEpilogue& epi, const SgemmPackedA* packed_a, bool wide_blocks) {
  const Bf16Kernel kernel = bf16_kernel();
  SIMAD_CHECK(kernel != Bf16Kernel::none, who, ": needs AVX512-BF16 or AMX-BF16 (CPU '", simad::cpu::features().brand,
              "', level ", simad::cpu::isa_name(simad::cpu::isa()), ")");
  const PrepackedPanels pre =
      packed_a && !trans_a && packed_a->usable_for_bf16(M, K) ? packed_a->panels() : PrepackedPanels{};
  const SgemmBlocking blocking = gemm_bf16_blocking(kernel, wide_blocks || pre.data != nullptr);
  if (kernel == Bf16Kernel::amx)
    packed_sgemm<GemmAmxBf16>(blocking, trans_a, M, N, K, alpha, A, lda, b, beta, C, ldc, epi, pre);
  else
    packed_sgemm<GemmAvx512Bf16>(blocking, trans_a, M, N, K, alpha, A, lda, b, beta, C, ldc, epi, pre);
}
}  // namespace detail

// C = alpha op(A) op(B) + beta C, M, N, K >= 1; needs sgemm_available(). Arguments as ops::gemm.
// epi: a bias and activation stored with the results (SgemmEpilogue; none by default). packed_a: A
// packed beforehand (A itself is then not read) where it is usable for this call, else null.
SIMAD_CPU_KERNEL_ENTRY void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                                  int64_t ldc, const SgemmEpilogue& epi = {}, const SgemmPackedA* packed_a = nullptr)
#if SIMAD_CPU_KERNEL_DEFINITIONS
{
  detail::sgemm_from_source("sgemm", trans_a, M, N, K, alpha, A, lda, detail::MatrixB{trans_b, B, ldb}, beta, C, ldc,
                            epi, packed_a, false);
}
#else
;
#endif

// The bf16 GEMM, arguments as sgemm; needs gemm_bf16_available(). packed_a: A packed beforehand for the
// bf16 kernel (SgemmPackedA::for_bf16), used where usable_for_bf16, else null.
SIMAD_CPU_KERNEL_ENTRY void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                                      const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                                      int64_t ldc, const SgemmEpilogue& epi = {},
                                      const SgemmPackedA* packed_a = nullptr)
#if SIMAD_CPU_KERNEL_DEFINITIONS
{
  detail::gemm_bf16_from_source("gemm_bf16", trans_a, M, N, K, alpha, A, lda, detail::MatrixB{trans_b, B, ldb}, beta,
                                C, ldc, epi, packed_a, false);
}
#else
;
#endif

}  // namespace simad::ops::cpu
