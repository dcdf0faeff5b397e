// simad/ops/cpu/conv2d_direct.hpp: a convolution as an implicit GEMM on simad's fp32 tiles, or its
// AVX512-BF16 tiles (ops/cpu/sgemm_tiles.hpp), with no im2col matrix:
//   out[o, y, x] = act(bias[o] + sum_k weight[o, k] * P[k, y, x]),   k = (c, i, j),
//   P[k, y, x]   = inp[c, y*S - pad + i, x*S - pad + j]   (0 outside the input)
// The K input rows an output row reads are copied, zero-padded, into a small ring (in cache), split by
// column phase for a stride S > 1 (phase ph holds the padded columns S*u + ph), so that for a fixed k
// and output row y the values P[k, y, x] of consecutive x are consecutive floats: row k of a tile's B
// (the tile covers NR columns x0.. of one output row) starts at ring + x0 + offs[k], and the tiles
// read it in place with masked loads.
// Weights are packed as sgemm packs A. The sums run in the same order as sgemm's over the im2col
// matrix (k in KC blocks, each in order; a block's partial sums added to C), so the results are
// bit-identical to im2col + ops::gemm_bias_activation on simad's kernels: the tests compare them so.
// The bf16 form holds two channels per ring row as bf16 pair words, so that one vdpbf16ps per step adds
// the products of channels 2m and 2m + 1 at one (i, j); it is within rounding of im2col + gemm_bf16
// (whose pairs are consecutive k), not its bits.
//
// It pays where the im2col matrix is large and the GEMM has few rows (YOLOv3's early layers: 16-64
// filters over 208x208 to 416x416 maps): im2col and B packing moved that matrix through memory twice.
// ops::conv2d_forward decides when to use it (conv2d_direct_suits).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/cpu/kernel_linkage.hpp"
#include "simad/ops/cpu/sgemm.hpp"

namespace simad::ops::cpu {

// The columns u in [0, n) whose input column S*u + offset lies inside [0, W): [lo, hi), lo <= hi. A
// padded row is zeros, then the strided copy of [lo, hi), then zeros (im2col and the direct ring).
struct InsideColumns {
  int64_t lo, hi;
};
inline InsideColumns inside_columns(int64_t offset, int64_t S, int64_t W, int64_t n) {
  const int64_t first = -offset, last = W - 1 - offset;  // S*u >= first and S*u <= last
  const int64_t lo = std::min(n, first <= 0 ? 0 : (first + S - 1) / S);
  return {lo, last < 0 ? lo : std::clamp<int64_t>(last / S + 1, lo, n)};
}

struct DirectConvShape {
  int64_t C = 1, H = 1, W = 1, O = 1, K = 1, stride = 1, pad = 0;  // one image (C, H, W), weights (O, C, K, K)
  int64_t out_h() const { return (H + 2 * pad - K) / stride + 1; }
  int64_t out_w() const { return (W + 2 * pad - K) / stride + 1; }
  int64_t phase_w() const { return (W + 2 * pad + stride - 1) / stride; }  // columns of one phase row
};

// The 2x2 stride-2 max-pool of a convolution's output, taken as the convolution computes it (Darknet's
// [maxpool] size=2 stride=2 with padding 0 or 1: windows start at (2py, 2px), no offset). Pooled (py, px)
// is the max over output rows 2py, 2py+1 and columns 2px, 2px+1 that lie inside the output, in that
// order from -FLT_MAX with std::max (ops::maxpool2d_forward's order and rule: the same bits). The full
// output is then never written: two of its rows live in a per-task buffer in cache (apart, the layer
// wrote its whole output to memory and the pool read it back).
struct DirectMaxPool2 {
  float* out = nullptr;   // (batch, O, Hp, Wp)
  int64_t Hp = 0, Wp = 0;  // at most ceil(Ho / 2) x ceil(Wo / 2)
};

namespace detail {

// Pooled row py of every output channel from conv rows 2py (row0) and 2py + 1 (row1, null past the
// output): row0 + o * ld is channel o's row, row1 likewise.
inline void direct_max_pool2_row(float* out, const float* row0, const float* row1, int64_t ld, int64_t O, int64_t Wo,
                                 const DirectMaxPool2& pool, int64_t py) {
  const int64_t HWp = pool.Hp * pool.Wp;
  for (int64_t o = 0; o < O; ++o) {
    const float* a = row0 + o * ld;
    const float* b = row1 ? row1 + o * ld : nullptr;
    float* dst = out + o * HWp + py * pool.Wp;
    for (int64_t px = 0; px < pool.Wp; ++px) {
      const int64_t x = 2 * px;
      const bool right = x + 1 < Wo;
      float best = -std::numeric_limits<float>::max();
      best = std::max(best, a[x]);
      if (right) best = std::max(best, a[x + 1]);
      if (b) {
        best = std::max(best, b[x]);
        if (right) best = std::max(best, b[x + 1]);
      }
      dst[px] = best;
    }
  }
}

// dst[u] = src[2u] for u in [0, n), 16 at a time (two loads, one permute) while the loads stay inside
// src[0, 2n - 1); the rest one by one. Stride-2 rows are split into their two phases with it.
SIMAD_TARGET_AVX512 inline void copy_every_second_avx512(float* dst, const float* src, int64_t n) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  int64_t u = 0;
  for (; u + 16 < n; u += 16)  // reads src[2u .. 2u + 31], all below 2(n - 1)
    _mm512_storeu_ps(dst + u, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * u), even,
                                                     _mm512_loadu_ps(src + 2 * u + 16)));
  for (; u < n; ++u) dst[u] = src[2 * u];
}

// Padded input row r (rows -pad.. of the image, zero outside it) of channel c, phase ph, into dst (Wph
// floats): column u = inp[c, r - pad, S*u + ph - pad].
inline void conv2d_direct_pad_phase_row(float* dst, const float* img, const DirectConvShape& s, int64_t c, int64_t r,
                                        int64_t ph, bool avx512) {
  const int64_t Wph = s.phase_w(), S = s.stride, iy = r - s.pad;
  if (iy < 0 || iy >= s.H) {
    std::fill_n(dst, Wph, 0.0f);
    return;
  }
  // ix = S*u + ph - pad is inside [0, W) for u in [u_lo, u_hi): a strided copy between zeros
  const float* src = img + (c * s.H + iy) * s.W + ph - s.pad;
  const auto [u_lo, u_hi] = inside_columns(ph - s.pad, S, s.W, Wph);
  std::fill_n(dst, u_lo, 0.0f);
  if (S == 1)
    std::copy(src + u_lo, src + u_hi, dst + u_lo);
  else if (S == 2 && avx512)
    copy_every_second_avx512(dst + u_lo, src + 2 * u_lo, u_hi - u_lo);
  else
    for (int64_t u = u_lo; u < u_hi; ++u) dst[u] = src[S * u];
  std::fill(dst + u_hi, dst + Wph, 0.0f);
}

// Padded input row r of every channel into ring slot r % K, phase ph at ring + ph * C*K*Wph +
// (c*K + slot) * Wph (fp32).
inline void conv2d_direct_pad_row(float* ring, const float* img, const DirectConvShape& s, int64_t r, bool avx512) {
  const int64_t Wph = s.phase_w(), phase = s.C * s.K * Wph;
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t ph = 0; ph < s.stride; ++ph)
      conv2d_direct_pad_phase_row(ring + ph * phase + (c * s.K + r % s.K) * Wph, img, s, c, r, ph, avx512);
}

// The same for the bf16 ring: channels 2m and 2m + 1 (zero past C) as one row of pair words, word u =
// bf16(channel 2m's column u) | bf16(channel 2m + 1's) << 16 (nearest even, as gemm_bf16 packs), at
// ring + ph * P*K*Wph + (m*K + slot) * Wph, P = ceil(C / 2) pairs. scratch: 2 * Wph floats.
SIMAD_TARGET_AVX512_BF16 inline void conv2d_direct_pad_row_bf16(float* ring, float* scratch, const float* img,
                                                                const DirectConvShape& s, int64_t r) {
  const int64_t Wph = s.phase_w(), pairs = (s.C + 1) / 2, phase = pairs * s.K * Wph;
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int64_t m = 0; m < pairs; ++m)
    for (int64_t ph = 0; ph < s.stride; ++ph) {
      const bool second = 2 * m + 1 < s.C;
      conv2d_direct_pad_phase_row(scratch, img, s, 2 * m, r, ph, true);
      if (second) conv2d_direct_pad_phase_row(scratch + Wph, img, s, 2 * m + 1, r, ph, true);
      uint32_t* dst = reinterpret_cast<uint32_t*>(ring + ph * phase + (m * s.K + r % s.K) * Wph);
      for (int64_t u = 0; u < Wph; u += 16) {
        const __mmask16 mask = avx512_column_mask(Wph - u);
        const __m512 lo = _mm512_maskz_loadu_ps(mask, scratch + u);
        const __m512 hi = second ? _mm512_maskz_loadu_ps(mask, scratch + Wph + u) : _mm512_setzero_ps();
        const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // lo's 16 bf16, then hi's
        _mm512_mask_storeu_epi32(dst + u, mask, _mm512_permutexvar_epi16(interleave, both));
      }
    }
}

// Kernel: an fp32 family (the ring holds floats, k = (c, i, j)) or GemmAvx512Bf16 (the ring holds pair
// words of two channels, a step k = (m, i, j) takes channels 2m and 2m + 1 at (i, j)).
template <class Kernel>
void conv2d_direct_run(float* out, const float* inp, int64_t batch, const float* weight, const float* bias, bool leaky,
                       const DirectConvShape& s, const SgemmPackedA* packed_weight, const DirectMaxPool2* pool,
                       const float* residual) {
  constexpr int64_t MR = Kernel::MR, NR = Kernel::NR;
  constexpr bool bf16 = Kernel::packed_depth(2) == 1;
  const int64_t ring_c = bf16 ? (s.C + 1) / 2 : s.C;  // channels, or pairs of them, per ring slot
  const int64_t Ho = s.out_h(), Wo = s.out_w(), HWo = Ho * Wo, K = s.K, S = s.stride;
  const int64_t depth = ring_c * K * K;  // the tiles' steps: k values, or pairs
  const int64_t Wph = s.phase_w(), phase = ring_c * K * Wph;
  const int64_t kc_max =  // in steps; bf16: the bf16 GEMM's 512 values, 256 pairs
      bf16 ? gemm_bf16_blocking(Bf16Kernel::avx512_bf16).kc / 2 : sgemm_blocking(simad::cpu::isa()).kc;
  const int64_t panels = (s.O + MR - 1) / MR;
  const bool avx512 = simad::cpu::isa() == simad::cpu::Isa::avx512;
  SIMAD_CHECK(S * phase < (int64_t(1) << 31), "conv2d_direct: rows too large for 32-bit offsets");
  // Weights packed block by block of KC depth (sgemm's A panels, SgemmPackedA's layout), once for every
  // image and row, unless the caller packed them already. bf16: first ordered as the ring's steps,
  // W'[o, 2 ((m K + i) K + j) + h] = w[o, 2m + h, i, j] (0 past C), then packed as gemm_bf16 packs A:
  // a pair of k in W' is a pair of channels.
  std::vector<float> own_pack;
  const float* a_pack = nullptr;
  if (!bf16 && packed_weight && packed_weight->usable_for(s.O, depth)) {
    a_pack = packed_weight->panels().data;
  } else if constexpr (bf16) {
    std::vector<float> paired(static_cast<size_t>(s.O * 2 * depth), 0.0f);
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t c = 0; c < s.C; ++c)
        for (int64_t ij = 0; ij < K * K; ++ij)
          paired[size_t(o * 2 * depth + ((c / 2) * K * K + ij) * 2 + c % 2)] = weight[(o * s.C + c) * K * K + ij];
    own_pack.resize(static_cast<size_t>(panels * MR * depth));
    for (int64_t pc = 0; pc < depth; pc += kc_max)
      pack_a_panels_bf16<MR>(own_pack.data() + panels * MR * pc, false, paired.data(), 2 * depth, s.O, 0, panels,
                             2 * pc, 2 * std::min(kc_max, depth - pc));
    a_pack = own_pack.data();
  } else {
    own_pack.resize(static_cast<size_t>(panels * MR * depth));
    for (int64_t pc = 0; pc < depth; pc += kc_max)
      pack_a_panels<MR>(own_pack.data() + panels * MR * pc, false, weight, depth, s.O, 0, panels, pc,
                        std::min(kc_max, depth - pc), avx512);
    a_pack = own_pack.data();
  }
  // With a pool, tasks take whole pairs of output rows; their output rows go to a two-row buffer.
  const int64_t unit = pool ? 2 : 1, units = (Ho + unit - 1) / unit;
  // An image's output of 4 MiB or more (YOLOv3's 3- to 32-channel layers at 208-416 px: 5.5-22 MB) is
  // written with non-temporal stores where its vectors are 64-byte aligned (SgemmEpilogue::stream): it
  // does not stay in cache, and reading each line before writing it cost the 3-channel layer about a
  // third of its time (a scratch loop on Zen 4, bf16: 115 -> 175 GFLOP/s). Not with a pool or a
  // residual: those rows are read back at once.
  const bool stream = !pool && !residual && s.O * HWo >= (int64_t(1) << 20);
  for (int64_t b = 0; b < batch; ++b) {
    const float* img = inp + b * s.C * s.H * s.W;
    // Each task takes consecutive output rows and keeps the K padded input rows they read in a ring
    // (in cache): every input row is copied once per task, never the whole padded image.
    parallel_for(units, pool ? 2 : 4, [&](int64_t u0, int64_t u1) {
      const int64_t y0 = u0 * unit, y1 = std::min(Ho, u1 * unit);
      std::vector<float> ring(static_cast<size_t>(S * phase));
      std::vector<float> scratch(bf16 ? static_cast<size_t>(2 * Wph) : 0);  // two channels' phase rows
      std::vector<int32_t> offs(static_cast<size_t>(depth));  // B row k in the ring, for output row y
      std::vector<float> pair(pool ? static_cast<size_t>(2 * s.O * Wo) : 0);  // rows 2py, 2py + 1 of each channel
      // Where output row y goes: the image's output (row stride HWo between channels), or the pair buffer.
      float* const img_out = pool ? nullptr : out + b * s.O * HWo;
      const int64_t ldc = pool ? 2 * Wo : HWo;
      int64_t next_row = y0 * S;  // the first padded row not in the ring yet
      for (int64_t y = y0; y < y1; ++y) {
        float* const row_out = pool ? pair.data() + (y % 2) * Wo : img_out + y * Wo;
        for (int64_t r = std::max(next_row, y * S); r < y * S + K; ++r)
          if constexpr (bf16)
            conv2d_direct_pad_row_bf16(ring.data(), scratch.data(), img, s, r);
          else
            conv2d_direct_pad_row(ring.data(), img, s, r, avx512);
        next_row = y * S + K;
        // The input rows the next output row adds to the ring, fetched while this row computes (the
        // copy otherwise waits on memory: a sixth of the time on a 32x416x416 input).
        for (int64_t r = next_row; r < std::min(next_row + S, s.H + s.pad); ++r)
          if (r >= s.pad)
            for (int64_t c = 0; c < s.C; ++c) {
              const char* row = reinterpret_cast<const char*>(img + (c * s.H + r - s.pad) * s.W);
              for (int64_t byte = 0; byte < s.W * int64_t(sizeof(float)); byte += 64) __builtin_prefetch(row + byte);
            }
        for (int64_t c = 0; c < ring_c; ++c)
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < K; ++j)
              offs[size_t((c * K + i) * K + j)] =
                  int32_t((j % S) * phase + (c * K + (y * S + i) % K) * Wph + j / S);
        for (int64_t pc = 0; pc < depth; pc += kc_max) {
          const int64_t kc = std::min(kc_max, depth - pc);
          const bool last = pc + kc >= depth;
          for (int64_t x0 = 0; x0 < Wo; x0 += NR) {  // B's columns outer: they stay in L1 for every panel
            const int64_t cols = std::min(NR, Wo - x0);
            for (int64_t p = 0; p < panels; ++p) {
              const int64_t o = p * MR, rows = std::min(MR, s.O - o);
              const SgemmEpilogue epi{bias ? bias + o : nullptr, leaky, stream};
              // A row's last columns, at most NR / 2 of them, take the narrow tile: half the FMAs.
              const DirectTileFn tile = 2 * cols <= NR ? Kernel::direct_narrow_tile(rows) : Kernel::direct_tile(rows);
              tile(kc, a_pack + panels * MR * pc + p * MR * kc, ring.data() + x0, offs.data() + pc,
                   row_out + o * ldc + x0, ldc, pc == 0 ? 0.0f : 1.0f, cols, last && epi.active() ? &epi : nullptr);
            }
          }
        }
        // Darknet's [shortcut] after this layer: the residual added to the finished row (after the
        // activation, a + b as ops' shortcut adds) while the row is still in cache.
        if (residual)
          for (int64_t o = 0; o < s.O; ++o) {
            float* row = row_out + o * ldc;
            const float* res = residual + (b * s.O + o) * HWo + y * Wo;
            for (int64_t x = 0; x < Wo; ++x) row[x] = row[x] + res[x];
          }
        if (pool && (y % 2 == 1 || y == Ho - 1) && y / 2 < pool->Hp)
          direct_max_pool2_row(pool->out + b * s.O * pool->Hp * pool->Wp, pair.data(),
                               y % 2 == 1 ? pair.data() + Wo : nullptr, ldc, s.O, Wo, *pool, y / 2);
      }
      if (stream) _mm_sfence();  // the non-temporal stores reach memory before the join publishes them
    });
  }
}

}  // namespace detail

// True when conv2d_direct has tiles for this CPU (the fp32 GEMM's: AVX2 + FMA or AVX-512).
inline bool conv2d_direct_available() { return sgemm_available(); }
// True when its bf16 form has them: AVX512-BF16 (the CPUs with AMX have it too; AMX's tiles cannot read
// the ring in place).
inline bool conv2d_direct_bf16_available() { return bf16_kernel() != Bf16Kernel::none; }

// out (batch, O, Ho, Wo) = act(conv(inp (batch, C, H, W), weight (O, C, K, K)) + bias), act the identity
// or leaky ReLU; bias may be null. packed_weight: the weights as an SgemmPackedA (O x C*K*K), used where
// usable, or null. pool: write only the output's 2x2 stride-2 max-pool to pool->out (out unused, may be
// null), or null. residual (batch, O, Ho, Wo): added to the output after the activation, or null; not with
// a pool, and not aliasing out. bf16: input and weights rounded to bf16 (nearest even), products summed
// in fp32 on the AVX512-BF16 tiles, two channels per step (packed_weight unused: the steps pair channels,
// not consecutive k); the sums run in another order than gemm_bf16's over the im2col matrix, so the
// results are within rounding of it, not its bits.
SIMAD_CPU_KERNEL_ENTRY void conv2d_direct(float* out, const float* inp, int64_t batch, const float* weight,
                                          const float* bias, bool leaky, const DirectConvShape& s,
                                          const SgemmPackedA* packed_weight = nullptr,
                                          const DirectMaxPool2* pool = nullptr, const float* residual = nullptr,
                                          bool bf16 = false)
#if SIMAD_CPU_KERNEL_DEFINITIONS
{
  const simad::cpu::Isa isa = simad::cpu::isa();
  SIMAD_CHECK(isa >= simad::cpu::Isa::avx2, "conv2d_direct: needs AVX2 + FMA, this CPU level is ",
              simad::cpu::isa_name(isa));
  SIMAD_CHECK(!bf16 || conv2d_direct_bf16_available(), "conv2d_direct: bf16 needs AVX512-BF16 (CPU '",
              simad::cpu::features().brand, "', level ", simad::cpu::isa_name(isa), ")");
  SIMAD_CHECK(!pool || (pool->out && pool->Hp >= 1 && pool->Wp >= 1 && pool->Hp <= (s.out_h() + 1) / 2 &&
                        pool->Wp <= (s.out_w() + 1) / 2),
              "conv2d_direct: a 2x2 pool of ", pool ? pool->Hp : 0, "x", pool ? pool->Wp : 0,
              " does not fit the output's ", s.out_h(), "x", s.out_w());
  SIMAD_CHECK(!residual || (!pool && residual != out), "conv2d_direct: a residual goes with a full output of its own");
  if (bf16)
    detail::conv2d_direct_run<GemmAvx512Bf16>(out, inp, batch, weight, bias, leaky, s, packed_weight, pool, residual);
  else if (isa == simad::cpu::Isa::avx512)
    detail::conv2d_direct_run<SgemmAvx512>(out, inp, batch, weight, bias, leaky, s, packed_weight, pool, residual);
  else
    detail::conv2d_direct_run<SgemmAvx2>(out, inp, batch, weight, bias, leaky, s, packed_weight, pool, residual);
}
#else
;
#endif

}  // namespace simad::ops::cpu
