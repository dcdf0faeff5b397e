// simad/ops/cpu/conv2d_implicit.hpp: a convolution as simad's packed fp32 or bf16 GEMM (ops/cpu/sgemm.hpp)
// whose B panels are unfolded from the image as they are packed (implicit im2col):
//   out[o, n] = act(bias[o] + sum_k weight[o, k] * P[k, n]),   k = (c, i, j), n = (y, x),
//   P[k, n]   = inp[c, y*S - pad + i, x*S - pad + j]   (0 outside the input)
// The GEMM is the one ops::gemm runs on im2col's matrix P, with the same blocking and panels: only
// where the packing reads P from changes, so the results are bit-identical to im2col + sgemm (the
// tests compare them so). What it saves is P itself: nine times the input for a 3x3 layer (12.5 MB
// for YOLOv3's 128x52x52 layers), written by im2col and read back by the packing, mostly from
// memory; the packing now reads the image, which stays in cache.
// ops::conv2d_forward uses it for the layers conv2d_direct (the ring-buffer implicit GEMM, for
// shallow wide layers) does not take, one image at a time.
#pragma once

#include <algorithm>
#include <cstdint>

#include "simad/core/cpu_features.hpp"
#include "simad/core/error.hpp"
#include "simad/ops/cpu/conv2d_direct.hpp"
#include "simad/ops/cpu/kernel_linkage.hpp"
#include "simad/ops/cpu/sgemm.hpp"

namespace simad::ops::cpu {

namespace detail {

// One run of an unfolded row: dst[t] = src[S * (x0 + t)] for the t in [0, len) with x0 + t in [a, b)
// (the output columns whose input column is inside the image), 0 for the others. src points at output
// column 0's input element (it may lie before the row: only elements of [S*a, S*(b-1)] are read).
inline void unfold_run_portable(float* dst, const float* src, int64_t S, int64_t x0, int64_t len, int64_t a,
                                int64_t b) {
  for (int64_t t = 0; t < len; ++t) {
    const int64_t x = x0 + t;
    dst[t] = x >= a && x < b ? src[S * x] : 0.0f;
  }
}

// The same with masked loads (nothing outside [a, b) is read), 16 columns at a time; strides 1 and 2
// (YOLOv3's), others portable.
SIMAD_TARGET_AVX512 inline void unfold_run_avx512(float* dst, const float* src, int64_t S, int64_t x0, int64_t len,
                                                  int64_t a, int64_t b) {
  if (S > 2) return unfold_run_portable(dst, src, S, x0, len, a, b);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t t = 0; t < len; t += 16) {
    const __mmask16 store = avx512_column_mask(len - t);
    const int64_t x = x0 + t;  // lane l is output column x + l
    if (x + 16 <= a || x >= b) {
      _mm512_mask_storeu_ps(dst + t, store, _mm512_setzero_ps());
      continue;
    }
    if (S == 1) {  // element x + l, inside where a <= x + l < b
      const __m512i col = _mm512_add_epi32(lane, _mm512_set1_epi32(int32_t(x)));
      const __mmask16 inside = _mm512_cmpge_epi32_mask(col, _mm512_set1_epi32(int32_t(a))) &
                               _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(int32_t(b)));
      _mm512_mask_storeu_ps(dst + t, store, _mm512_maskz_loadu_ps(inside & store, src + x));
      continue;
    }
    // S == 2: elements 2x .. 2x + 31, of which the even ones are wanted; load those in [2a, 2b - 1).
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i lo_el = _mm512_add_epi32(lane, _mm512_set1_epi32(int32_t(2 * x)));
    const __m512i hi_el = _mm512_add_epi32(lo_el, _mm512_set1_epi32(16));
    const __m512i first = _mm512_set1_epi32(int32_t(2 * a)), end = _mm512_set1_epi32(int32_t(2 * b - 1));
    const __mmask16 lo_in = _mm512_cmpge_epi32_mask(lo_el, first) & _mm512_cmplt_epi32_mask(lo_el, end);
    const __mmask16 hi_in = _mm512_cmpge_epi32_mask(hi_el, first) & _mm512_cmplt_epi32_mask(hi_el, end);
    const __m512 v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo_in, src + 2 * x), even,
                                            _mm512_maskz_loadu_ps(hi_in, src + 2 * x + 16));
    _mm512_mask_storeu_ps(dst + t, store, v);
  }
}

// B = P of one image (C*K*K rows, Ho*Wo columns), packed panel by panel as the kernel family packs a
// matrix: panel q holds columns j0 + q*NR .. (NR of them, zero past N) for k0..k0+kc, k-major; for the
// bf16 families in pairs of k (two unfolded rows, then converted as pack_b_panels_bf16 converts two
// rows of a matrix: the same words).
struct Im2colB {
  const float* img = nullptr;  // (C, H, W)
  DirectConvShape s;

  template <class Kernel>
  void pack(float* dst, int64_t N, int64_t j0, int64_t q0, int64_t q1, int64_t k0, int64_t kc) const {
    constexpr int64_t NR = Kernel::NR;
    const bool avx512 = simad::cpu::isa() == simad::cpu::Isa::avx512;
    const int64_t K = s.K, S = s.stride, Wo = s.out_w(), HW = s.H * s.W;
    struct Run {
      int64_t y, x, len, col;  // output row y, columns x .. x + len, at panel column col
    };
    Run runs[NR];
    int64_t nruns = 0, cols = 0;
    InsideColumns inside[16];  // per kernel column j: the output columns whose input column is inside
    SIMAD_CHECK(K <= 16, "conv2d_implicit: kernel size ", K, " above 16");
    for (int64_t j = 0; j < K; ++j) inside[j] = inside_columns(j - s.pad, S, s.W, Wo);
    // Row (c, i, j) of P over this panel's columns into dk (NR values, zero past cols); the callers step
    // (c, i, j) along k with next_row (no divisions per row).
    auto unfold_row = [&](float* dk, int64_t c, int64_t i, int64_t j) {
      const float* plane = img + c * HW;
      const auto [a, b] = inside[j];
      for (int64_t r = 0; r < nruns; ++r) {
        const Run& run = runs[r];
        const int64_t iy = run.y * S - s.pad + i;
        float* out = dk + run.col;
        if (iy < 0 || iy >= s.H || a >= b) {
          std::fill_n(out, run.len, 0.0f);
          continue;
        }
        const float* src = plane + iy * s.W + j - s.pad;  // output column 0's input element
        if (avx512)
          unfold_run_avx512(out, src, S, run.x, run.len, a, b);
        else
          unfold_run_portable(out, src, S, run.x, run.len, a, b);
      }
      std::fill(dk + cols, dk + NR, 0.0f);
    };
    auto next_row = [K](int64_t& c, int64_t& i, int64_t& j) {
      if (++j == K) {
        j = 0;
        if (++i == K) i = 0, ++c;
      }
    };
    const int64_t depth = Kernel::packed_depth(kc);  // fp32: kc; bf16: pairs, padded as the family pads
    for (int64_t q = q0; q < q1; ++q) {
      float* d = dst + q * NR * depth;
      const int64_t c0 = j0 + q * NR;
      cols = std::min<int64_t>(NR, N - c0);
      nruns = 0;
      for (int64_t n = c0; n < c0 + cols;) {
        const int64_t y = n / Wo, x = n % Wo, len = std::min(Wo - x, c0 + cols - n);
        runs[nruns++] = Run{y, x, len, n - c0};
        n += len;
      }
      int64_t c = k0 / (K * K), i = (k0 / K) % K, j = k0 % K;
      if constexpr (Kernel::packed_depth(2) == 2) {  // fp32: a row per k
        for (int64_t k = 0; k < kc; ++k, next_row(c, i, j)) unfold_row(d + k * NR, c, i, j);
      } else {  // bf16: rows k and k + 1 as one row of pair words
        alignas(64) float rows[2][NR];
        uint32_t* words = reinterpret_cast<uint32_t*>(d);
        for (int64_t p = 0; p < depth; ++p) {
          const int64_t k = 2 * p;
          if (k >= kc) {
            std::memset(words + p * NR, 0, NR * sizeof(uint32_t));
            continue;
          }
          unfold_row(rows[0], c, i, j);
          next_row(c, i, j);
          if (k + 1 < kc) unfold_row(rows[1], c, i, j);
          next_row(c, i, j);
          bf16_pair_row<NR>(words + p * NR, rows[0], k + 1 < kc ? rows[1] : nullptr);
        }
      }
    }
  }
};

}  // namespace detail

// out (O, Ho, Wo) = act(conv(img (C, H, W), weight (O, C, K, K)) + bias) for one image, act the identity
// or leaky ReLU; bias may be null. packed_weight: the weights as an SgemmPackedA (O x C*K*K), used where
// usable, or null. Needs sgemm_available(). bf16: on the bf16 GEMM instead (gemm_bf16_available(); weights
// from SgemmPackedA::for_bf16), the bits of im2col + gemm_bf16.
SIMAD_CPU_KERNEL_ENTRY void conv2d_implicit(float* out, const float* img, const float* weight, const float* bias,
                                            bool leaky, const DirectConvShape& s,
                                            const SgemmPackedA* packed_weight = nullptr, bool bf16 = false)
#if SIMAD_CPU_KERNEL_DEFINITIONS
{
  const int64_t depth = s.C * s.K * s.K, N = s.out_h() * s.out_w();
  // The blocking for prepacked weights, also where they are not (only A's packing then repeats per
  // block of 512 columns): a block's packed panels stay in L2 until the tiles read them.
  if (bf16)
    detail::gemm_bf16_from_source("conv2d_implicit", false, s.O, N, depth, 1.0f, weight, depth,
                                  detail::Im2colB{img, s}, 0.0f, out, N, SgemmEpilogue{bias, leaky}, packed_weight,
                                  true);
  else
    detail::sgemm_from_source("conv2d_implicit", false, s.O, N, depth, 1.0f, weight, depth, detail::Im2colB{img, s},
                              0.0f, out, N, SgemmEpilogue{bias, leaky}, packed_weight, true);
}
#else
;
#endif

}  // namespace simad::ops::cpu
