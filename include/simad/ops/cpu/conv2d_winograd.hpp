// simad/ops/cpu/conv2d_winograd.hpp: 3x3 stride-1 pad-1 convolutions by Winograd's minimal filtering
// F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), on simad's fp32
// GEMM tiles or its bf16 ones (WinogradWeights::for_bf16: U and V rounded to bf16, M summed in fp32). Each
// 2x2 block of outputs ("tile") comes from the 4x4 input patch around it:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A     (.): elementwise, per input channel, summed over channels
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1]
// so the sum over channels is 16 GEMMs, one per position xi of the 4x4 transform:
//   M[xi] (O x tiles) = U[xi] (O x C) V[xi] (C x tiles),  U = G g G^T (the weights, transformed once),
//   V = B^T d B (the input, transformed per call).
// That is 16 multiplications per tile and channel pair where the direct convolution needs 36: 2.25x fewer
// FMAs, for transforms that are additions only. The sums are not the direct convolution's: results differ
// from it by rounding (a few ulps of the terms' magnitudes; tests/ops/test_conv2d_winograd.cpp bounds them
// against a double reference).
//
// Work: the tiles are cut into blocks of whole tile rows (about 192 tiles, so a block's transformed input
// stays near L2) and the output channels into as many parts as it takes to give every thread work; each
// task (block, part) transforms its block's input straight into the GEMM tiles' packed B panels, runs the
// 16 GEMMs for its channels in chunks, and transforms each chunk's M into the output with the bias and
// leaky ReLU. Tasks share nothing but the transformed weights, so there is one fork and join per call.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "simad/core/cpu_features.hpp"
#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/cpu/conv2d_direct.hpp"
#include "simad/ops/cpu/kernel_linkage.hpp"
#include "simad/ops/cpu/sgemm.hpp"

namespace simad::ops::cpu {

// The shapes this algorithm computes: 3x3, stride 1, padding 1 (output the input's size).
inline bool winograd_shape(const DirectConvShape& s) { return s.K == 3 && s.stride == 1 && s.pad == 1; }

namespace detail {

// U = G g G^T for one 3x3 filter g (row-major), in double, rounded once.
inline void winograd_weight_transform(float u[16], const float* g) {
  double t[4][3];  // G g
  for (int j = 0; j < 3; ++j) {
    const double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
    t[0][j] = g0, t[1][j] = 0.5 * (g0 + g1 + g2), t[2][j] = 0.5 * (g0 - g1 + g2), t[3][j] = g2;
  }
  for (int r = 0; r < 4; ++r) {  // (G g) G^T
    const double a = t[r][0], b = t[r][1], c = t[r][2];
    u[4 * r + 0] = float(a), u[4 * r + 1] = float(0.5 * (a + b + c)), u[4 * r + 2] = float(0.5 * (a - b + c)),
              u[4 * r + 3] = float(c);
  }
}

}  // namespace detail

// The weights (O, C, 3, 3) transformed (U[xi] = G g G^T) and packed as the GEMM's A panels, one
// SgemmPackedA (O x C) per xi: for the fp32 kernel of the ISA level current at construction (usable_for),
// or with for_bf16 for the bf16 kernel current then (usable_for_bf16; U rounded to bf16 as it is packed):
// 16/9 of the weights' memory. A network builds them once per layer (nn/darknet.hpp), as oneDNN reorders
// its weights once.
class WinogradWeights {
 public:
  WinogradWeights() = default;
  WinogradWeights(const float* weight, int64_t O, int64_t C) : O_(O), C_(C) {
    if (!sgemm_available() || O < 1 || C < 1) return;
    const std::vector<float> u = transform(weight, O, C);
    for (int xi = 0; xi < 16; ++xi) packed_[size_t(xi)] = SgemmPackedA(u.data() + xi * O * C, C, O, C);
  }
  static WinogradWeights for_bf16(const float* weight, int64_t O, int64_t C) {
    WinogradWeights w;
    w.O_ = O, w.C_ = C, w.bf16_ = true;
    if (!gemm_bf16_available() || O < 1 || C < 1) return w;
    const std::vector<float> u = transform(weight, O, C);
    for (int xi = 0; xi < 16; ++xi)
      w.packed_[size_t(xi)] = SgemmPackedA::for_bf16(u.data() + xi * O * C, C, O, C);
    return w;
  }
  bool usable_for(int64_t O, int64_t C) const { return O == O_ && C == C_ && packed_[0].usable_for(O, C); }
  bool usable_for_bf16(int64_t O, int64_t C) const {
    return O == O_ && C == C_ && packed_[0].usable_for_bf16(O, C);
  }
  bool bf16() const { return bf16_; }
  const SgemmPackedA& at(int xi) const { return packed_[size_t(xi)]; }

 private:
  static std::vector<float> transform(const float* weight, int64_t O, int64_t C) {
    std::vector<float> u(static_cast<size_t>(16 * O * C));  // u[xi][o][c]
    const int64_t plane = O * C;
    parallel_for(O, 16, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o)
        for (int64_t c = 0; c < C; ++c) {
          float t[16];
          detail::winograd_weight_transform(t, weight + (o * C + c) * 9);
          for (int xi = 0; xi < 16; ++xi) u[size_t(xi * plane + o * C + c)] = t[xi];
        }
    });
    return u;
  }
  int64_t O_ = 0, C_ = 0;
  bool bf16_ = false;
  std::array<SgemmPackedA, 16> packed_;
};

namespace detail {

// How one call is cut into tasks (see the file comment).
struct WinogradPlan {
  int64_t tiles_x = 0, tiles_y = 0;  // tiles per row and column of an image
  int64_t block_rows = 0, blocks = 0;  // tile rows per block, blocks per image
  int64_t parts = 0;                   // output-channel parts per block
};

inline WinogradPlan winograd_plan(const DirectConvShape& s, int64_t batch, int64_t threads) {
  WinogradPlan p;
  p.tiles_x = (s.W + 1) / 2, p.tiles_y = (s.H + 1) / 2;
  p.block_rows = std::clamp<int64_t>(192 / p.tiles_x, 1, p.tiles_y);
  p.blocks = (p.tiles_y + p.block_rows - 1) / p.block_rows;
  // Whole-thread multiples of tasks where the rows allow it: 3 blocks on 2 threads would leave one idle.
  if (p.blocks * batch < threads * 2 && p.blocks < p.tiles_y && (p.blocks * batch) % threads != 0) {
    const int64_t want = std::min(p.tiles_y, (p.blocks * batch + threads - 1) / threads * threads);
    p.block_rows = (p.tiles_y + want - 1) / want;
    p.blocks = (p.tiles_y + p.block_rows - 1) / p.block_rows;
  }
  p.parts = p.blocks * batch >= threads ? 1 : (threads + p.blocks * batch - 1) / (p.blocks * batch);
  return p;
}

// Where value (c, t) of V[xi] lives in a block's packed B panels: per xi a C x tiles_padded matrix in
// KC-deep blocks, each block in NR-column panels (kc x NR, k-major), as packed_sgemm's pack_b lays them.
struct WinogradPanels {
  float* data = nullptr;
  int64_t C = 0, tiles_padded = 0, kc_max = 0, NR = 0;
  float* row(int xi, int64_t c, int64_t t) const {  // t's panel row for channel c (then t % NR within it)
    const int64_t pc = c / kc_max * kc_max, kc = std::min(kc_max, C - pc);
    return data + xi * C * tiles_padded + pc * tiles_padded + (t / NR) * NR * kc + (c - pc) * NR + t % NR;
  }
};

// The input transform of channel c's tile row ty (tiles_x tiles, the first of them tile t_row of the block):
// V = B^T d B, into the block's packed panels vp. scratch: winograd_row_scratch(W, tiles_x) floats.
inline int64_t winograd_row_scratch(int64_t W, int64_t tiles_x) { return 4 * (2 * tiles_x + 2) + W; }
inline __attribute__((always_inline)) void winograd_input_row_body(const WinogradPanels& vp, int64_t c,
                                                                   int64_t t_row, float* scratch,
                                                                   const float* plane, int64_t H, int64_t W,
                                                                   int64_t ty, int64_t tiles_x) {
  const int64_t Wp = 2 * tiles_x + 2;  // padded columns xp: input column xp - 1, zero outside [0, W)
  float* R[4] = {scratch, scratch + Wp, scratch + 2 * Wp, scratch + 3 * Wp};
  float* zero_row = scratch + 4 * Wp;
  const float* in[4];
  bool edge = false;
  for (int i = 0; i < 4; ++i) {
    const int64_t y = 2 * ty - 1 + i;
    edge |= y < 0 || y >= H;
    in[i] = y >= 0 && y < H ? plane + y * W : zero_row;
  }
  if (edge) std::fill(zero_row, zero_row + W, 0.0f);
  // Rows of B^T d: the patch's four rows combined, column by column (the padding columns are zero).
  for (int r = 0; r < 4; ++r) {
    R[r][0] = 0.0f;
    for (int64_t xp = W + 1; xp < Wp; ++xp) R[r][xp] = 0.0f;
  }
  {
    const float* r0 = in[0];
    const float* r1 = in[1];
    const float* r2 = in[2];
    const float* r3 = in[3];
    float* R0 = R[0] + 1;
    float* R1 = R[1] + 1;
    float* R2 = R[2] + 1;
    float* R3 = R[3] + 1;
    for (int64_t x = 0; x < W; ++x) {
      const float d0 = r0[x], d1 = r1[x], d2 = r2[x], d3 = r3[x];
      R0[x] = d0 - d2, R1[x] = d1 + d2, R2[x] = d2 - d1, R3[x] = d1 - d3;
    }
  }
  // Columns: the same combinations over xp = 2 tx .. 2 tx + 3, written straight into the packed B
  // panels, run by run inside one panel (there the 16 xi of a (c, t) lie xi_stride apart).
  const int64_t xi_stride = vp.C * vp.tiles_padded;
  for (int64_t tx0 = 0; tx0 < tiles_x;) {
    const int64_t t = t_row + tx0, run = std::min(tiles_x - tx0, vp.NR - t % vp.NR);
    float* dst = vp.row(0, c, t);
    for (int r = 0; r < 4; ++r) {
      const float* __restrict Rr = R[r] + 2 * tx0;
      float* __restrict v0 = dst + (4 * r + 0) * xi_stride;
      float* __restrict v1 = dst + (4 * r + 1) * xi_stride;
      float* __restrict v2 = dst + (4 * r + 2) * xi_stride;
      float* __restrict v3 = dst + (4 * r + 3) * xi_stride;
      for (int64_t j = 0; j < run; ++j) {
        const float e0 = Rr[2 * j], o0 = Rr[2 * j + 1], e1 = Rr[2 * j + 2], o1 = Rr[2 * j + 3];
        v0[j] = e0 - e1, v1[j] = o0 + e1, v2[j] = e1 - o0, v3[j] = o0 - o1;
      }
    }
    tx0 += run;
  }
}

// The output transform of one output channel's tile row: Y = A^T m A from the 16 GEMM results m[xi]
// (m + xi * m_stride + tx), plus the bias, leaky ReLU where asked, into output rows 2 ty and 2 ty + 1;
// then, where res_plane is not null, plus its element at the same place (a [shortcut] after the layer).
inline __attribute__((always_inline)) void winograd_output_row_body(float* out_plane, const float* res_plane,
                                                                    const float* m, int64_t m_stride, int64_t Ho,
                                                                    int64_t Wo, int64_t ty, int64_t tiles_x,
                                                                    float bias, bool leaky, float* scratch) {
  float* __restrict y00 = scratch;
  float* __restrict y01 = scratch + tiles_x;
  float* __restrict y10 = scratch + 2 * tiles_x;
  float* __restrict y11 = scratch + 3 * tiles_x;
  // m_r,c: row r, column c of the 4x4 (xi = 4 r + c), each a run of tiles_x values.
  const float* __restrict m00 = m;
  const float* __restrict m01 = m + m_stride;
  const float* __restrict m02 = m + 2 * m_stride;
  const float* __restrict m03 = m + 3 * m_stride;
  const float* __restrict m10 = m + 4 * m_stride;
  const float* __restrict m11 = m + 5 * m_stride;
  const float* __restrict m12 = m + 6 * m_stride;
  const float* __restrict m13 = m + 7 * m_stride;
  const float* __restrict m20 = m + 8 * m_stride;
  const float* __restrict m21 = m + 9 * m_stride;
  const float* __restrict m22 = m + 10 * m_stride;
  const float* __restrict m23 = m + 11 * m_stride;
  const float* __restrict m30 = m + 12 * m_stride;
  const float* __restrict m31 = m + 13 * m_stride;
  const float* __restrict m32 = m + 14 * m_stride;
  const float* __restrict m33 = m + 15 * m_stride;
  for (int64_t tx = 0; tx < tiles_x; ++tx) {
    // Rows of A^T m: s0 = m_0 + m_1 + m_2, s1 = m_1 - m_2 - m_3; then the same over its columns.
    const float s00 = m00[tx] + m10[tx] + m20[tx], s01 = m01[tx] + m11[tx] + m21[tx];
    const float s02 = m02[tx] + m12[tx] + m22[tx], s03 = m03[tx] + m13[tx] + m23[tx];
    const float s10 = m10[tx] - m20[tx] - m30[tx], s11 = m11[tx] - m21[tx] - m31[tx];
    const float s12 = m12[tx] - m22[tx] - m32[tx], s13 = m13[tx] - m23[tx] - m33[tx];
    float v00 = s00 + s01 + s02 + bias, v01 = s01 - s02 - s03 + bias;
    float v10 = s10 + s11 + s12 + bias, v11 = s11 - s12 - s13 + bias;
    if (leaky) {  // max(0.1 x, x): x > 0 ? x : 0.1 x (as the GEMM's epilogue)
      v00 = std::max(0.1f * v00, v00), v01 = std::max(0.1f * v01, v01);
      v10 = std::max(0.1f * v10, v10), v11 = std::max(0.1f * v11, v11);
    }
    y00[tx] = v00, y01[tx] = v01, y10[tx] = v10, y11[tx] = v11;
  }
  for (int64_t dy = 0; dy < 2; ++dy) {
    const int64_t y = 2 * ty + dy;
    if (y >= Ho) break;
    float* row = out_plane + y * Wo;
    const float* e = dy ? y10 : y00;
    const float* o = dy ? y11 : y01;
    const int64_t pairs = Wo / 2;
    if (res_plane) {  // the activated output plus the residual: Darknet's shortcut, a + b, one rounding
      const float* res = res_plane + y * Wo;
      for (int64_t tx = 0; tx < pairs; ++tx) {
        row[2 * tx] = e[tx] + res[2 * tx];
        row[2 * tx + 1] = o[tx] + res[2 * tx + 1];
      }
      if (Wo % 2) row[Wo - 1] = e[pairs] + res[Wo - 1];
      continue;
    }
    for (int64_t tx = 0; tx < pairs; ++tx) row[2 * tx] = e[tx], row[2 * tx + 1] = o[tx];
    if (Wo % 2) row[Wo - 1] = e[pairs];
  }
}

SIMAD_TARGET_AVX512 inline void winograd_input_row_avx512(const WinogradPanels& vp, int64_t c, int64_t t_row,
                                                          float* scratch, const float* plane, int64_t H, int64_t W,
                                                          int64_t ty, int64_t tiles_x) {
  winograd_input_row_body(vp, c, t_row, scratch, plane, H, W, ty, tiles_x);
}
SIMAD_TARGET_AVX2 inline void winograd_input_row_avx2(const WinogradPanels& vp, int64_t c, int64_t t_row,
                                                      float* scratch, const float* plane, int64_t H, int64_t W,
                                                      int64_t ty, int64_t tiles_x) {
  winograd_input_row_body(vp, c, t_row, scratch, plane, H, W, ty, tiles_x);
}
SIMAD_TARGET_AVX512 inline void winograd_output_row_avx512(float* out_plane, const float* res_plane, const float* m,
                                                           int64_t m_stride, int64_t Ho, int64_t Wo, int64_t ty,
                                                           int64_t tiles_x, float bias, bool leaky, float* scratch) {
  winograd_output_row_body(out_plane, res_plane, m, m_stride, Ho, Wo, ty, tiles_x, bias, leaky, scratch);
}
SIMAD_TARGET_AVX2 inline void winograd_output_row_avx2(float* out_plane, const float* res_plane, const float* m,
                                                       int64_t m_stride, int64_t Ho, int64_t Wo, int64_t ty,
                                                       int64_t tiles_x, float bias, bool leaky, float* scratch) {
  winograd_output_row_body(out_plane, res_plane, m, m_stride, Ho, Wo, ty, tiles_x, bias, leaky, scratch);
}

// A block of V's fp32 panels (kc rows of NR floats per panel, `panels` of them) as the bf16 kernels'
// panels: `depth` (Kernel::packed_depth(kc)) rows of NR pair words each, zero past kc.
template <int64_t NR>
void winograd_panels_to_bf16(uint32_t* dst, const float* src, int64_t panels, int64_t kc, int64_t depth) {
  for (int64_t q = 0; q < panels; ++q, dst += NR * depth, src += NR * kc)
    for (int64_t p = 0; p < depth; ++p) {
      const int64_t k = 2 * p;
      if (k < kc)
        bf16_pair_row<NR>(dst + p * NR, src + k * NR, k + 1 < kc ? src + (k + 1) * NR : nullptr);
      else
        std::memset(dst + p * NR, 0, NR * sizeof(uint32_t));
    }
}

// The fp32 kernels (SgemmAvx512, SgemmAvx2) or the bf16 ones (GemmAvx512Bf16, GemmAmxBf16). In bf16 the
// input transform still writes fp32 panels (AVX-512's: NR 32 as the bf16 tiles), then each task converts
// its block to pair words once, before its GEMMs: U and V are rounded to bf16, M is summed in fp32.
template <class Kernel>
void conv2d_winograd_run(float* out, const float* inp, int64_t batch, const float* bias, bool leaky,
                         const DirectConvShape& s, const WinogradWeights& w, const float* residual) {
  constexpr int64_t MR = Kernel::MR, NR = Kernel::NR;
  constexpr bool bf16 = Kernel::packed_depth(2) == 1;
  constexpr bool avx512 = NR == SgemmAvx512::NR;
  static_assert(!bf16 || avx512, "the bf16 tiles take AVX-512's panels");
  const int64_t C = s.C, O = s.O, H = s.H, W = s.W;  // output H x W
  const int64_t kc_max = bf16 ? gemm_bf16_blocking(bf16_kernel()).kc : sgemm_blocking(simad::cpu::isa()).kc;
  const int64_t threads = simad::detail::in_parallel_region ? 1 : num_threads();
  const WinogradPlan plan = winograd_plan(s, batch, threads);
  const int64_t panels = (O + MR - 1) / MR, chunk_panels = 4;  // output-channel panels per M chunk (docs/cpu-kernels.md)
  const int64_t tasks = batch * plan.blocks * plan.parts;
  ThreadPool::global().run(tasks, [&](int64_t task) {
    const int64_t part = task % plan.parts, block = (task / plan.parts) % plan.blocks,
                  b = task / (plan.parts * plan.blocks);
    const int64_t ty0 = block * plan.block_rows, ty1 = std::min(plan.tiles_y, ty0 + plan.block_rows);
    const int64_t tiles = (ty1 - ty0) * plan.tiles_x, tiles_padded = (tiles + NR - 1) / NR * NR;
    const int64_t p0 = part * panels / plan.parts, p1 = (part + 1) * panels / plan.parts;
    if (p0 >= p1) return;
    // Per thread: the block's V panels, the M chunk, and the transforms' row scratch.
    // In bf16 the pair words follow: per xi, packed_depth(C) rows of tiles_padded words.
    const int64_t v_size = 16 * C * tiles_padded, m_size = 16 * chunk_panels * MR * tiles_padded;
    const int64_t vb_size = bf16 ? 16 * Kernel::packed_depth(C) * tiles_padded : 0;
    float* V = thread_b_buffer().get(v_size + vb_size + winograd_row_scratch(W, plan.tiles_x));
    float* M = thread_a_buffer().get(m_size);
    float* scratch = V + v_size + vb_size;
    uint32_t* Vb = reinterpret_cast<uint32_t*>(V + v_size);
    // Block pc of transform position xi: its fp32 V rows, and (bf16) their pair words.
    auto v_block = [&](int xi, int64_t pc) { return V + xi * C * tiles_padded + pc * tiles_padded; };
    auto vb_block = [&](int xi, int64_t pc) {
      return Vb + (xi * Kernel::packed_depth(C) + Kernel::packed_depth(pc)) * tiles_padded;
    };
    const WinogradPanels vp{V, C, tiles_padded, kc_max, NR};
    const float* img = inp + b * C * H * W;
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t ty = ty0; ty < ty1; ++ty) {
        const int64_t t_row = (ty - ty0) * plan.tiles_x;
        if constexpr (avx512)
          winograd_input_row_avx512(vp, c, t_row, scratch, img + c * H * W, H, W, ty, plan.tiles_x);
        else
          winograd_input_row_avx2(vp, c, t_row, scratch, img + c * H * W, H, W, ty, plan.tiles_x);
      }
      for (int xi = 0; xi < 16 && tiles < tiles_padded; ++xi)  // the last panel's padding columns: zero
        std::memset(vp.row(xi, c, tiles), 0, size_t(tiles_padded - tiles) * sizeof(float));
    }
    if constexpr (bf16)
      for (int xi = 0; xi < 16; ++xi)
        for (int64_t pc = 0; pc < C; pc += kc_max) {
          const int64_t kc = std::min(kc_max, C - pc);
          winograd_panels_to_bf16<NR>(vb_block(xi, pc), v_block(xi, pc), tiles_padded / NR, kc,
                                      Kernel::packed_depth(kc));
        }
    float* img_out = out + b * O * H * W;
    const float* img_res = residual ? residual + b * O * H * W : nullptr;
    for (int64_t q0 = p0; q0 < p1; q0 += chunk_panels) {
      const int64_t q1 = std::min(p1, q0 + chunk_panels), o0 = q0 * MR, o1 = std::min(O, q1 * MR);
      const int64_t m_stride = (q1 - q0) * MR * tiles_padded;  // between xi's of the chunk
      for (int xi = 0; xi < 16; ++xi) {
        const PrepackedPanels a = w.at(xi).panels();
        for (int64_t pc = 0; pc < C; pc += kc_max) {
          const int64_t kc = std::min(kc_max, C - pc), depth = Kernel::packed_depth(kc);  // fp32: depth == kc
          const float* b_block = bf16 ? reinterpret_cast<const float*>(vb_block(xi, pc)) : v_block(xi, pc);
          for (int64_t q = 0; q * NR < tiles; ++q) {  // B panel outer: it stays near (L1 or L2) while A panels pass
            const int64_t cols = std::min(NR, tiles - q * NR);
            for (int64_t p = q0; p < q1; ++p) {
              const int64_t rows = std::min(MR, O - p * MR);
              const SgemmTileFn narrow = 2 * cols <= NR ? Kernel::narrow_tile(rows) : nullptr;
              const SgemmTileFn tile = narrow ? narrow : Kernel::tile(rows);
              tile(depth, a.data + a.panels * MR * Kernel::packed_depth(pc) + p * MR * depth, b_block + q * NR * depth,
                   M + xi * m_stride + (p - q0) * MR * tiles_padded + q * NR, tiles_padded, 1.0f,
                   pc == 0 ? 0.0f : 1.0f, cols, nullptr);
            }
          }
        }
      }
      for (int64_t o = o0; o < o1; ++o)
        for (int64_t ty = ty0; ty < ty1; ++ty) {
          const float* m = M + (o - o0) * tiles_padded + (ty - ty0) * plan.tiles_x;
          const float bo = bias ? bias[o] : 0.0f;
          const float* res = img_res ? img_res + o * H * W : nullptr;
          if constexpr (avx512)
            winograd_output_row_avx512(img_out + o * H * W, res, m, m_stride, H, W, ty, plan.tiles_x, bo, leaky,
                                       scratch);
          else
            winograd_output_row_avx2(img_out + o * H * W, res, m, m_stride, H, W, ty, plan.tiles_x, bo, leaky, scratch);
        }
    }
  });
}

}  // namespace detail

// out (batch, O, H, W) = act(conv(inp (batch, C, H, W), weight) + bias) + residual for a 3x3 stride-1
// pad-1 convolution whose weights `w` were transformed beforehand (w.usable_for(O, C), or usable_for_bf16
// for weights from WinogradWeights::for_bf16, which run on the bf16 kernel); act the identity
// or leaky ReLU; bias may be null; residual (batch, O, H, W) or null (nothing added; it may not alias out).
SIMAD_CPU_KERNEL_ENTRY void conv2d_winograd(float* out, const float* inp, int64_t batch, const float* bias, bool leaky,
                                            const DirectConvShape& s, const WinogradWeights& w,
                                            const float* residual = nullptr)
#if SIMAD_CPU_KERNEL_DEFINITIONS
{
  SIMAD_CHECK(winograd_shape(s), "conv2d_winograd: needs a 3x3 stride-1 pad-1 convolution, got K ", s.K, " stride ",
              s.stride, " pad ", s.pad);
  if (w.bf16()) {
    SIMAD_CHECK(w.usable_for_bf16(s.O, s.C), "conv2d_winograd: bf16 weights transformed for another shape or kernel");
    if (bf16_kernel() == Bf16Kernel::amx)
      detail::conv2d_winograd_run<GemmAmxBf16>(out, inp, batch, bias, leaky, s, w, residual);
    else
      detail::conv2d_winograd_run<GemmAvx512Bf16>(out, inp, batch, bias, leaky, s, w, residual);
    return;
  }
  SIMAD_CHECK(w.usable_for(s.O, s.C), "conv2d_winograd: weights transformed for another shape or ISA level");
  if (simad::cpu::isa() == simad::cpu::Isa::avx512)
    detail::conv2d_winograd_run<SgemmAvx512>(out, inp, batch, bias, leaky, s, w, residual);
  else
    detail::conv2d_winograd_run<SgemmAvx2>(out, inp, batch, bias, leaky, s, w, residual);
}
#else
;
#endif

}  // namespace simad::ops::cpu
