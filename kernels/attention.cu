// kernels/attention.cu: fused multi-head self-attention, forward and backward (declared in
// simad/cuda/kernels/attention.hpp; the CPU op simad/ops/attention.hpp is the specification).
//
// FlashAttention-style tiling (Dao et al. 2022, alg. 1 and 2) with one thread per owned row:
// - forward: a block of 32 threads owns 32 query rows of one (sequence, head); Q and the unnormalised
//   output O sit in shared memory, K and V stream through shared memory in tiles of 32 keys; each
//   thread keeps its 32 scores in registers and updates a running max m and sum l (online softmax:
//   O and l are rescaled by exp(m_old - m_new) when the max grows). Saves lse = m + log l.
// - backward, two kernels, no atomics (so the bits do not depend on scheduling):
//   dK/dV: a block owns 32 keys (K, V, dK, dV in shared memory) and streams the query rows in tiles
//   of 16 (Q, dO, lse, D = dO . O); dQ: a block owns 32 query rows and streams K, V tiles. Both
//   recompute p = exp(s - lse) and ds = p (dO . v - D) scale.
// - forward on tensor cores (attention_forward_bf16_tensor_cores): see attention_forward_mma_kernel.
// Shared rows are padded to hs + 1 floats, so the 32 threads reading "their" row at the same column
// hit 32 different banks. Global tiles are loaded and stored cooperatively (consecutive threads,
// consecutive addresses).
#include "simad/cuda/portable.hpp"

#include <math.h>

#include <climits>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/attention.hpp"
#include "simad/cuda/mma.hpp"

namespace simad::cuda::kernels {
namespace {

constexpr int kTile = 32;       // threads per block; query rows or keys a block owns; K/V tile rows
constexpr int kQueryTile = 16;  // query rows per streamed tile of the dK/dV kernel (keeps smem < 48 KiB)

__device__ inline bool key_kept(const uint8_t* mask, long long b, int N, int j) {
  return j < N && (mask == nullptr || mask[b * N + j] != 0);
}

// Copies rows [r0, r0 + rows) of one third (part 0 q, 1 k, 2 v) of head h into tile (rows, ld);
// rows past N are zero.
__device__ inline void load_rows(float* tile, int ld, const float* qkv_b, int part, int r0, int rows, int N, int C,
                                 int h, int hs) {
  const long long stride = 3LL * C;
  for (int e = static_cast<int>(threadIdx.x); e < rows * hs; e += static_cast<int>(blockDim.x)) {
    const int r = e / hs, d = e % hs, g = r0 + r;
    tile[r * ld + d] = g < N ? qkv_b[g * stride + part * C + h * hs + d] : 0.0f;
  }
}

__global__ void __launch_bounds__(kTile)
    attention_forward_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ qkv,
                             const uint8_t* __restrict__ mask, int N, int C, int NH, float scale) {
  SIMAD_DYNAMIC_SHARED(float, smem);
  __shared__ int kept[kTile];
  const int hs = C / NH, ld = hs + 1, t = static_cast<int>(threadIdx.x);
  float* Qs = smem;               // (kTile, ld)
  float* Os = Qs + kTile * ld;    // (kTile, ld) unnormalised output
  float* Ks = Os + kTile * ld;    // (kTile, ld)
  float* Vs = Ks + kTile * ld;    // (kTile, ld)
  const long long bh = blockIdx.x, b = bh / NH;
  const int h = static_cast<int>(bh % NH), i0 = static_cast<int>(blockIdx.y) * kTile;
  const float* qkv_b = qkv + b * N * 3LL * C;
  load_rows(Qs, ld, qkv_b, 0, i0, kTile, N, C, h, hs);
  for (int d = 0; d < hs; ++d) Os[t * ld + d] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int j0 = 0; j0 < N; j0 += kTile) {
    __syncthreads();  // the previous K/V tile is consumed
    load_rows(Ks, ld, qkv_b, 1, j0, kTile, N, C, h, hs);
    load_rows(Vs, ld, qkv_b, 2, j0, kTile, N, C, h, hs);
    kept[t] = key_kept(mask, b, N, j0 + t);
    __syncthreads();
    float s[kTile];
    float tile_max = -INFINITY;
#pragma unroll
    for (int jj = 0; jj < kTile; ++jj) {
      float dot = 0.0f;
      for (int d = 0; d < hs; ++d) dot += Qs[t * ld + d] * Ks[jj * ld + d];
      s[jj] = kept[jj] ? dot * scale : -INFINITY;
      tile_max = fmaxf(tile_max, s[jj]);
    }
    if (tile_max == -INFINITY) continue;  // no kept key in this tile (the same for every thread)
    const float m_new = fmaxf(m, tile_max);
    const float f = expf(m - m_new);  // m == -inf: 0
    l *= f;
#pragma unroll
    for (int jj = 0; jj < kTile; ++jj) {
      s[jj] = expf(s[jj] - m_new);  // -inf: 0
      l += s[jj];
    }
    for (int d = 0; d < hs; ++d) {
      float acc = Os[t * ld + d] * f;
#pragma unroll
      for (int jj = 0; jj < kTile; ++jj) acc += s[jj] * Vs[jj * ld + d];
      Os[t * ld + d] = acc;
    }
    m = m_new;
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // l == 0: every key padded, output zeros
  for (int d = 0; d < hs; ++d) Os[t * ld + d] *= inv;
  if (i0 + t < N) lse[bh * N + i0 + t] = l > 0.0f ? m + logf(l) : INFINITY;
  __syncthreads();
  for (int e = t; e < kTile * hs; e += kTile) {
    const int r = e / hs, d = e % hs;
    if (i0 + r < N) out[(b * N + i0 + r) * C + h * hs + d] = Os[r * ld + d];
  }
}

// dK and dV of 32 keys: the sum over every query row of the sequence.
__global__ void __launch_bounds__(kTile)
    attention_backward_dkv_kernel(float* __restrict__ dqkv, const float* __restrict__ dout,
                                  const float* __restrict__ qkv, const float* __restrict__ out,
                                  const float* __restrict__ lse, const uint8_t* __restrict__ mask, int N, int C,
                                  int NH, float scale) {
  SIMAD_DYNAMIC_SHARED(float, smem);
  __shared__ float lse_s[kQueryTile], D_s[kQueryTile];
  const int hs = C / NH, ld = hs + 1, t = static_cast<int>(threadIdx.x);
  float* Ks = smem;                   // (kTile, ld)
  float* Vs = Ks + kTile * ld;        // (kTile, ld)
  float* dKs = Vs + kTile * ld;       // (kTile, ld)
  float* dVs = dKs + kTile * ld;      // (kTile, ld)
  float* Qs = dVs + kTile * ld;       // (kQueryTile, ld)
  float* dOs = Qs + kQueryTile * ld;  // (kQueryTile, ld)
  const long long bh = blockIdx.x, b = bh / NH;
  const int h = static_cast<int>(bh % NH), j0 = static_cast<int>(blockIdx.y) * kTile;
  const float* qkv_b = qkv + b * N * 3LL * C;
  load_rows(Ks, ld, qkv_b, 1, j0, kTile, N, C, h, hs);
  load_rows(Vs, ld, qkv_b, 2, j0, kTile, N, C, h, hs);
  for (int d = 0; d < hs; ++d) dKs[t * ld + d] = dVs[t * ld + d] = 0.0f;
  const bool mine = key_kept(mask, b, N, j0 + t);
  for (int r0 = 0; r0 < N; r0 += kQueryTile) {
    __syncthreads();  // the previous query tile is consumed
    load_rows(Qs, ld, qkv_b, 0, r0, kQueryTile, N, C, h, hs);
    for (int e = t; e < kQueryTile * hs; e += kTile) {
      const int r = e / hs, d = e % hs, g = r0 + r;
      dOs[r * ld + d] = g < N ? dout[(b * N + g) * C + h * hs + d] : 0.0f;
    }
    if (t < kQueryTile) {
      const int g = r0 + t;
      float D = 0.0f;
      if (g < N) {
        const float* go = dout + (b * N + g) * C + h * hs;
        const float* o = out + (b * N + g) * C + h * hs;
        for (int d = 0; d < hs; ++d) D += go[d] * o[d];
      }
      D_s[t] = D;
      lse_s[t] = g < N ? lse[bh * N + g] : INFINITY;
    }
    __syncthreads();
    if (!mine) continue;
    for (int r = 0; r < kQueryTile; ++r) {
      const float row_lse = lse_s[r];
      if (!(row_lse < INFINITY)) continue;  // padded tail row, or a sequence without keys
      float s = 0.0f, dp = 0.0f;
      for (int d = 0; d < hs; ++d) {
        s += Qs[r * ld + d] * Ks[t * ld + d];
        dp += dOs[r * ld + d] * Vs[t * ld + d];
      }
      const float p = expf(s * scale - row_lse);
      const float ds = p * (dp - D_s[r]) * scale;
      for (int d = 0; d < hs; ++d) {
        dVs[t * ld + d] += p * dOs[r * ld + d];
        dKs[t * ld + d] += ds * Qs[r * ld + d];
      }
    }
  }
  __syncthreads();
  for (int e = t; e < kTile * hs; e += kTile) {
    const int r = e / hs, d = e % hs, g = j0 + r;
    if (g >= N) continue;
    float* row = dqkv + (b * N + g) * 3LL * C + h * hs + d;
    row[C] += dKs[r * ld + d];
    row[2 * C] += dVs[r * ld + d];
  }
}

// dQ of 32 query rows: the sum over every key of the sequence.
__global__ void __launch_bounds__(kTile)
    attention_backward_dq_kernel(float* __restrict__ dqkv, const float* __restrict__ dout,
                                 const float* __restrict__ qkv, const float* __restrict__ out,
                                 const float* __restrict__ lse, const uint8_t* __restrict__ mask, int N, int C,
                                 int NH, float scale) {
  SIMAD_DYNAMIC_SHARED(float, smem);
  __shared__ int kept[kTile];
  const int hs = C / NH, ld = hs + 1, t = static_cast<int>(threadIdx.x);
  float* Qs = smem;              // (kTile, ld)
  float* dOs = Qs + kTile * ld;  // (kTile, ld)
  float* dQs = dOs + kTile * ld; // (kTile, ld)
  float* Ks = dQs + kTile * ld;  // (kTile, ld)
  float* Vs = Ks + kTile * ld;   // (kTile, ld)
  const long long bh = blockIdx.x, b = bh / NH;
  const int h = static_cast<int>(bh % NH), i0 = static_cast<int>(blockIdx.y) * kTile, i = i0 + t;
  const float* qkv_b = qkv + b * N * 3LL * C;
  load_rows(Qs, ld, qkv_b, 0, i0, kTile, N, C, h, hs);
  for (int e = t; e < kTile * hs; e += kTile) {
    const int r = e / hs, d = e % hs, g = i0 + r;
    dOs[r * ld + d] = g < N ? dout[(b * N + g) * C + h * hs + d] : 0.0f;
  }
  for (int d = 0; d < hs; ++d) dQs[t * ld + d] = 0.0f;
  float D = 0.0f;
  const float row_lse = i < N ? lse[bh * N + i] : INFINITY;
  if (i < N) {
    const float* go = dout + (b * N + i) * C + h * hs;
    const float* o = out + (b * N + i) * C + h * hs;
    for (int d = 0; d < hs; ++d) D += go[d] * o[d];
  }
  for (int j0 = 0; j0 < N; j0 += kTile) {
    __syncthreads();
    load_rows(Ks, ld, qkv_b, 1, j0, kTile, N, C, h, hs);
    load_rows(Vs, ld, qkv_b, 2, j0, kTile, N, C, h, hs);
    kept[t] = key_kept(mask, b, N, j0 + t);
    __syncthreads();
    if (!(row_lse < INFINITY)) continue;
    for (int jj = 0; jj < kTile; ++jj) {
      if (!kept[jj]) continue;
      float s = 0.0f, dp = 0.0f;
      for (int d = 0; d < hs; ++d) {
        s += Qs[t * ld + d] * Ks[jj * ld + d];
        dp += dOs[t * ld + d] * Vs[jj * ld + d];
      }
      const float p = expf(s * scale - row_lse);
      const float ds = p * (dp - D) * scale;
      for (int d = 0; d < hs; ++d) dQs[t * ld + d] += ds * Ks[jj * ld + d];
    }
  }
  __syncthreads();
  for (int e = t; e < kTile * hs; e += kTile) {
    const int r = e / hs, d = e % hs, g = i0 + r;
    if (g < N) dqkv[(b * N + g) * 3LL * C + h * hs + d] += dQs[r * ld + d];
  }
}

void check_sizes(const char* what, int64_t B, int64_t N, int64_t C, int64_t NH) {
  SIMAD_CHECK(B >= 0 && N >= 0 && C >= 0, what, ": negative size B=", B, " N=", N, " C=", C);
  SIMAD_CHECK(NH >= 1 && C % NH == 0, what, ": the head count NH=", NH, " must be >= 1 and divide C=", C);
  SIMAD_CHECK(C / NH <= kCudaAttentionMaxHeadSize, what, ": head size ", C / NH, " is above ",
              kCudaAttentionMaxHeadSize, " (the CPU op has no limit)");
  SIMAD_CHECK(B * NH <= INT_MAX && N <= 65535LL * kTile && 3 * C <= INT_MAX, what, ": sizes too large B=", B,
              " N=", N, " C=", C);
}

// The bf16 tensor-core forward: a block of 4 warps owns 64 query rows of one (sequence, head), a warp 16 of
// them; K and V stream through shared memory in tiles of 32 keys. Per tile a warp computes its 16 x 32
// scores as 4 x (hs / 16) mma.sync m16n8k16 (Q in registers as A fragments, K rows as B columns), keeps the
// online softmax per row (a row's 8 scores of the tile sit in the 4 lanes of a quad: max and sum over
// the quad by two xor-shuffles), then O += P V as (32 / 16) x (hs / 8) mma, P's accumulator fragments
// reused as A fragments (the m16n8 C layout of two neighbouring key tiles is the m16k16 A layout). hs is
// padded to a multiple of 16 with zeros in shared memory.
constexpr int kMmaRows = 64, kMmaKeys = 32, kMmaThreads = 128, kMmaMaxDims = 64;

// Rows padded to 72 floats (hs <= 64 plus 8): a quad's lanes read rows g and columns 2t: banks differ.
constexpr int kMmaLd = kMmaMaxDims + 8;

// Rows [r0, r0 + rows) of a head's slice (row r at base + r * stride, hs floats) into tile, hp columns: zeros
// past N and past hs.
__device__ inline void load_head_rows(float (*tile)[kMmaLd], const float* base, long long stride, int r0, int rows,
                                      int N, int hs, int hp) {
  for (int e = static_cast<int>(threadIdx.x); e < rows * hp; e += kMmaThreads) {
    const int r = e / hp, d = e % hp, gr = r0 + r;
    tile[r][d] = gr < N && d < hs ? base[gr * stride + d] : 0.0f;
  }
}

// The A fragments of rows r0 .. r0 + 15 of tile over its hp columns, 16 at a time.
__device__ inline void row_fragments(uint32_t (&fa)[kMmaMaxDims / 16][4], const float (*tile)[kMmaLd], int r0,
                                     int hp, int g, int t) {
#pragma unroll
  for (int kk = 0; kk < kMmaMaxDims / 16; ++kk) {
    if (16 * kk >= hp) break;
    const int d = 16 * kk + 2 * t;
    fa[kk][0] = mma::pack_bf16x2(tile[r0 + g][d], tile[r0 + g][d + 1]);
    fa[kk][1] = mma::pack_bf16x2(tile[r0 + g + 8][d], tile[r0 + g + 8][d + 1]);
    fa[kk][2] = mma::pack_bf16x2(tile[r0 + g][d + 8], tile[r0 + g][d + 9]);
    fa[kk][3] = mma::pack_bf16x2(tile[r0 + g + 8][d + 8], tile[r0 + g + 8][d + 9]);
  }
}

// s (16 x 32) = A (the fragments' 16 rows) x tile^T: column j is the dot product with tile row j. s[nt][e]
// holds column 8 nt + 2t + (e & 1) of row g + 8 (e >> 1).
__device__ inline void times_rows(float (&s)[kMmaKeys / 8][4], const uint32_t (&fa)[kMmaMaxDims / 16][4],
                                  const float (*tile)[kMmaLd], int hp, int g, int t) {
#pragma unroll
  for (int nt = 0; nt < kMmaKeys / 8; ++nt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) s[nt][e] = 0.0f;
    const int row = 8 * nt + g;  // B column g = tile row g
#pragma unroll
    for (int kk = 0; kk < kMmaMaxDims / 16; ++kk) {
      if (16 * kk >= hp) break;
      const int d = 16 * kk + 2 * t;
      const uint32_t fb[2] = {mma::pack_bf16x2(tile[row][d], tile[row][d + 1]),
                              mma::pack_bf16x2(tile[row][d + 8], tile[row][d + 9])};
      mma::mma_m16n8k16_bf16(s[nt], fa[kk], fb);
    }
  }
}

// acc (16 x hp) += p (16 x 32, times_rows' layout) x tile (32 rows x hp): p's fragments of column tiles 2 kk and
// 2 kk + 1 are the A fragment of tile rows 16 kk .. 16 kk + 15.
__device__ inline void accumulate_times_tile(float (&acc)[kMmaMaxDims / 8][4], const float (&p)[kMmaKeys / 8][4],
                                             const float (*tile)[kMmaLd], int hp, int g, int t) {
#pragma unroll
  for (int kk = 0; kk < kMmaKeys / 16; ++kk) {
    const uint32_t pa[4] = {mma::pack_bf16x2(p[2 * kk][0], p[2 * kk][1]), mma::pack_bf16x2(p[2 * kk][2], p[2 * kk][3]),
                            mma::pack_bf16x2(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                            mma::pack_bf16x2(p[2 * kk + 1][2], p[2 * kk + 1][3])};
    const int row = 16 * kk + 2 * t;
#pragma unroll
    for (int nd = 0; nd < kMmaMaxDims / 8; ++nd) {
      if (8 * nd >= hp) break;
      const int d = 8 * nd + g;  // B column g = dimension
      const uint32_t fb[2] = {mma::pack_bf16x2(tile[row][d], tile[row + 1][d]),
                              mma::pack_bf16x2(tile[row + 8][d], tile[row + 9][d])};
      mma::mma_m16n8k16_bf16(acc[nd], pa, fb);
    }
  }
}

// D = rowsum(dO o O) of row i (0 past N).
__device__ inline float row_dot(const float* dout, const float* out, long long i, int N, int C, int h, int hs) {
  float D = 0.0f;
  if (i < N)
    for (int d = 0; d < hs; ++d) D += dout[i * C + h * hs + d] * out[i * C + h * hs + d];
  return D;
}

// dqkv[row, part, dims of head h] += acc, for this lane's rows r0 + g and r0 + g + 8 (rows past N skipped).
__device__ inline void add_rows(float* dqkv_b, const float (&acc)[kMmaMaxDims / 8][4], int part, int row0, int N,
                                int C, int h, int hs, int g, int t) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = row0 + g + 8 * r;
    if (i >= N) continue;
    float* dst = dqkv_b + i * 3LL * C + part * C + h * hs;
#pragma unroll
    for (int nd = 0; nd < kMmaMaxDims / 8; ++nd) {
      const int d = 8 * nd + 2 * t;
      if (d < hs) dst[d] += acc[nd][2 * r];
      if (d + 1 < hs) dst[d + 1] += acc[nd][2 * r + 1];
    }
  }
}


__global__ void __launch_bounds__(kMmaThreads)
    attention_forward_mma_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ qkv,
                                 const uint8_t* __restrict__ mask, int N, int C, int NH, float scale) {
  __shared__ float Qs[kMmaRows][kMmaLd];
  __shared__ float Ks[kMmaKeys][kMmaLd];
  __shared__ float Vs[kMmaKeys][kMmaLd];
  __shared__ int kept[kMmaKeys];
  const int hs = C / NH, hp = (hs + 15) / 16 * 16;  // hs padded to the mma's k
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const long long bh = blockIdx.x, b = bh / NH;
  const int h = static_cast<int>(bh % NH), i0 = static_cast<int>(blockIdx.y) * kMmaRows;
  const float* qkv_b = qkv + b * N * 3LL * C;
  load_head_rows(Qs, qkv_b + h * hs, 3LL * C, i0, kMmaRows, N, hs, hp);
  __syncthreads();
  // This warp's Q rows as A fragments, one per 16 dimensions.
  const int r0 = 16 * warp;
  uint32_t qa[kMmaMaxDims / 16][4];
  row_fragments(qa, Qs, r0, hp, g, t);
  float o[kMmaMaxDims / 8][4];  // O (16 x hs): dims 8 nd + 2t, +1 of rows g and g + 8
#pragma unroll
  for (int nd = 0; nd < kMmaMaxDims / 8; ++nd)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[nd][e] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // rows g and g + 8
  for (int j0 = 0; j0 < N; j0 += kMmaKeys) {
    __syncthreads();  // the previous K/V tile is consumed
    load_head_rows(Ks, qkv_b + C + h * hs, 3LL * C, j0, kMmaKeys, N, hs, hp);
    load_head_rows(Vs, qkv_b + 2 * C + h * hs, 3LL * C, j0, kMmaKeys, N, hs, hp);
    if (tid < kMmaKeys) kept[tid] = key_kept(mask, b, N, j0 + tid);
    __syncthreads();
    float s[kMmaKeys / 8][4];  // scores: keys 8 nt + 2t, +1 of rows g (e 0, 1) and g + 8 (e 2, 3)
    times_rows(s, qa, Ks, hp, g, t);
    // Scale, mask, and the tile's max per row (over the quad).
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < kMmaKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = 8 * nt + 2 * t + (e & 1);
        s[nt][e] = kept[key] ? s[nt][e] * scale : -INFINITY;
        tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[nt][e]);
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
    }
    float f[2], m_new[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      m_new[r] = fmaxf(m[r], tile_max[r]);
      // No kept key in the tile nor before (m_new = -inf): nothing changes (exp(-inf - -inf) would be NaN).
      f[r] = m_new[r] == -INFINITY ? 1.0f : expf(m[r] - m_new[r]);
      l[r] *= f[r];
      m[r] = m_new[r];
    }
    float tile_sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nt = 0; nt < kMmaKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        s[nt][e] = m[r] == -INFINITY ? 0.0f : expf(s[nt][e] - m[r]);  // -inf: 0
        tile_sum[r] += s[nt][e];
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tile_sum[r] += __shfl_xor_sync(0xffffffffu, tile_sum[r], 1);
      tile_sum[r] += __shfl_xor_sync(0xffffffffu, tile_sum[r], 2);
      l[r] += tile_sum[r];
    }
#pragma unroll
    for (int nd = 0; nd < kMmaMaxDims / 8; ++nd)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[nd][e] *= f[e >> 1];
    accumulate_times_tile(o, s, Vs, hp, g, t);  // O += P V
  }
  // O / l and lse; rows past N are not written.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = i0 + r0 + g + 8 * r;
    if (i >= N) continue;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;  // every key padded: zeros
    if (t == 0) lse[bh * N + i] = l[r] > 0.0f ? m[r] + logf(l[r]) : INFINITY;
    for (int nd = 0; nd < kMmaMaxDims / 8; ++nd) {
      const int d = 8 * nd + 2 * t;
      if (d < hs) out[(b * N + i) * C + h * hs + d] = o[nd][2 * r] * inv;
      if (d + 1 < hs) out[(b * N + i) * C + h * hs + d + 1] = o[nd][2 * r + 1] * inv;
    }
  }
}

// The block's 64 own rows from row0 of one head (src, row stride ld) as this warp's A fragments (its 16 rows
// from r0), through the shared tile own, which is free again on return. Both backward kernels start so.
__device__ inline void own_row_fragments(uint32_t (&fa)[kMmaMaxDims / 16][4], float (*own)[kMmaLd], const float* src,
                                         long long ld, int row0, int N, int hs, int hp, int r0, int g, int t) {
  load_head_rows(own, src, ld, row0, kMmaRows, N, hs, hp);
  __syncthreads();
  row_fragments(fa, own, r0, hp, g, t);
  __syncthreads();
}

// ---- The backward on tensor cores -------------------------------------------------------------------------
// FlashAttention's backward (Dao et al. 2022, algorithm 4) in two kernels without atomics, as the fp32 one: a
// block of 4 warps owns 64 rows of one side (queries for dQ, keys for dK and dV), a warp 16 of them held as A
// fragments; the other side streams through shared memory in tiles of 32 rows. Per tile a warp recomputes its
// 16 x 32 scores and dO V^T (or their transposes) as mma.sync m16n8k16, forms P = exp(S scale - lse) and
// dS = P (dP - D) scale in fp32 registers (D = rowsum(dO o O)), and accumulates dS K (dQ), P^T dO (dV) and
// dS^T Q (dK) with the accumulator fragments reused as A fragments, as the forward's P V. Every product's
// inputs are rounded to bf16, the sums are fp32.
// dQ of 64 query rows: sum over the keys of dS K.
__global__ void __launch_bounds__(kMmaThreads)
    attention_backward_dq_mma_kernel(float* __restrict__ dqkv, const float* __restrict__ dout,
                                     const float* __restrict__ qkv, const float* __restrict__ out,
                                     const float* __restrict__ lse, const uint8_t* __restrict__ mask, int N, int C,
                                     int NH, float scale) {
  __shared__ float Own[kMmaRows][kMmaLd];
  __shared__ float Ks[kMmaKeys][kMmaLd];
  __shared__ float Vs[kMmaKeys][kMmaLd];
  __shared__ int kept[kMmaKeys];
  __shared__ float D_s[kMmaRows];
  const int hs = C / NH, hp = (hs + 15) / 16 * 16;
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const long long bh = blockIdx.x, b = bh / NH;
  const int h = static_cast<int>(bh % NH), i0 = static_cast<int>(blockIdx.y) * kMmaRows, r0 = 16 * warp;
  const float* qkv_b = qkv + b * N * 3LL * C;
  const float* dout_b = dout + b * N * static_cast<long long>(C);
  if (tid < kMmaRows) D_s[tid] = row_dot(dout_b, out + b * N * static_cast<long long>(C), i0 + tid, N, C, h, hs);
  uint32_t qa[kMmaMaxDims / 16][4], da[kMmaMaxDims / 16][4];
  own_row_fragments(qa, Own, qkv_b + h * hs, 3LL * C, i0, N, hs, hp, r0, g, t);
  own_row_fragments(da, Own, dout_b + h * hs, C, i0, N, hs, hp, r0, g, t);
  float row_lse[2], row_D[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = i0 + r0 + g + 8 * r;
    row_lse[r] = i < N ? lse[bh * N + i] : INFINITY;
    row_D[r] = D_s[r0 + g + 8 * r];
  }
  float dq[kMmaMaxDims / 8][4] = {};
  for (int j0 = 0; j0 < N; j0 += kMmaKeys) {
    __syncthreads();  // the previous K/V tile is consumed
    load_head_rows(Ks, qkv_b + C + h * hs, 3LL * C, j0, kMmaKeys, N, hs, hp);
    load_head_rows(Vs, qkv_b + 2 * C + h * hs, 3LL * C, j0, kMmaKeys, N, hs, hp);
    if (tid < kMmaKeys) kept[tid] = key_kept(mask, b, N, j0 + tid);
    __syncthreads();
    float s[kMmaKeys / 8][4], dp[kMmaKeys / 8][4];
    times_rows(s, qa, Ks, hp, g, t);
    times_rows(dp, da, Vs, hp, g, t);
#pragma unroll
    for (int nt = 0; nt < kMmaKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = 8 * nt + 2 * t + (e & 1), r = e >> 1;
        const float p = kept[key] && row_lse[r] < INFINITY ? expf(s[nt][e] * scale - row_lse[r]) : 0.0f;
        s[nt][e] = p * (dp[nt][e] - row_D[r]) * scale;  // dS
      }
    accumulate_times_tile(dq, s, Ks, hp, g, t);
  }
  add_rows(dqkv + b * N * 3LL * C, dq, 0, i0 + r0, N, C, h, hs, g, t);
}

// dK and dV of 64 keys: sums over the queries of dS^T Q and P^T dO.
__global__ void __launch_bounds__(kMmaThreads)
    attention_backward_dkv_mma_kernel(float* __restrict__ dqkv, const float* __restrict__ dout,
                                      const float* __restrict__ qkv, const float* __restrict__ out,
                                      const float* __restrict__ lse, const uint8_t* __restrict__ mask, int N, int C,
                                      int NH, float scale) {
  __shared__ float Own[kMmaRows][kMmaLd];
  __shared__ float Qs[kMmaKeys][kMmaLd];
  __shared__ float dOs[kMmaKeys][kMmaLd];
  __shared__ float lse_s[kMmaKeys], D_s[kMmaKeys];
  const int hs = C / NH, hp = (hs + 15) / 16 * 16;
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const long long bh = blockIdx.x, b = bh / NH;
  const int h = static_cast<int>(bh % NH), j0 = static_cast<int>(blockIdx.y) * kMmaRows, r0 = 16 * warp;
  const float* qkv_b = qkv + b * N * 3LL * C;
  const float* dout_b = dout + b * N * static_cast<long long>(C);
  uint32_t ka[kMmaMaxDims / 16][4], va[kMmaMaxDims / 16][4];
  own_row_fragments(ka, Own, qkv_b + C + h * hs, 3LL * C, j0, N, hs, hp, r0, g, t);
  own_row_fragments(va, Own, qkv_b + 2 * C + h * hs, 3LL * C, j0, N, hs, hp, r0, g, t);
  bool mine[2];  // this lane's keys r0 + g and r0 + g + 8: real and not padding
#pragma unroll
  for (int r = 0; r < 2; ++r) mine[r] = key_kept(mask, b, N, j0 + r0 + g + 8 * r);
  float dk[kMmaMaxDims / 8][4] = {}, dv[kMmaMaxDims / 8][4] = {};
  for (int q0 = 0; q0 < N; q0 += kMmaKeys) {
    __syncthreads();  // the previous query tile is consumed
    load_head_rows(Qs, qkv_b + h * hs, 3LL * C, q0, kMmaKeys, N, hs, hp);
    load_head_rows(dOs, dout_b + h * hs, C, q0, kMmaKeys, N, hs, hp);
    if (tid < kMmaKeys) {
      const int q = q0 + tid;
      lse_s[tid] = q < N ? lse[bh * N + q] : INFINITY;
      D_s[tid] = row_dot(dout_b, out + b * N * static_cast<long long>(C), q, N, C, h, hs);
    }
    __syncthreads();
    float s[kMmaKeys / 8][4], dp[kMmaKeys / 8][4], ds[kMmaKeys / 8][4];
    times_rows(s, ka, Qs, hp, g, t);   // S^T: keys x queries
    times_rows(dp, va, dOs, hp, g, t);  // dP^T = V dO^T
#pragma unroll
    for (int nt = 0; nt < kMmaKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int q = 8 * nt + 2 * t + (e & 1);
        const float L = lse_s[q];
        const float p = mine[e >> 1] && L < INFINITY ? expf(s[nt][e] * scale - L) : 0.0f;
        s[nt][e] = p;  // P^T
        ds[nt][e] = p * (dp[nt][e] - D_s[q]) * scale;
      }
    accumulate_times_tile(dv, s, dOs, hp, g, t);
    accumulate_times_tile(dk, ds, Qs, hp, g, t);
  }
  add_rows(dqkv + b * N * 3LL * C, dk, 1, j0 + r0, N, C, h, hs, g, t);
  add_rows(dqkv + b * N * 3LL * C, dv, 2, j0 + r0, N, C, h, hs, g, t);
}

size_t smem_bytes(int tiles_of_32, int tiles_of_16, int64_t hs) {
  return size_t(tiles_of_32 * kTile + tiles_of_16 * kQueryTile) * size_t(hs + 1) * sizeof(float);
}

}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, const uint8_t* mask, int64_t B, int64_t N, int64_t C,
                       int64_t NH, cudaStream_t stream) {
  check_sizes("cuda attention_forward", B, N, C, NH);
  if (B == 0 || N == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && lse != nullptr && qkv != nullptr, "cuda attention_forward: null out, lse or qkv");
  const int64_t hs = C / NH;
  const dim3 grid(unsigned(B * NH), unsigned((N + kTile - 1) / kTile));
  SIMAD_LAUNCH(attention_forward_kernel, grid, dim3(kTile), smem_bytes(4, 0, hs), stream, out, lse, qkv, mask,
               int(N), int(C), int(NH), 1.0f / sqrtf(float(hs)));
}

void attention_forward_bf16_tensor_cores(float* out, float* lse, const float* qkv, const uint8_t* mask, int64_t B,
                                         int64_t N, int64_t C, int64_t NH, cudaStream_t stream) {
  check_sizes("cuda attention_forward_bf16_tensor_cores", B, N, C, NH);
  if (B == 0 || N == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && lse != nullptr && qkv != nullptr,
              "cuda attention_forward_bf16_tensor_cores: null out, lse or qkv");
  const int64_t hs = C / NH;
  const dim3 grid(unsigned(B * NH), unsigned((N + kMmaRows - 1) / kMmaRows));
  SIMAD_LAUNCH(attention_forward_mma_kernel, grid, dim3(kMmaThreads), 0, stream, out, lse, qkv, mask, int(N), int(C),
               int(NH), 1.0f / sqrtf(float(hs)));
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                        const uint8_t* mask, int64_t B, int64_t N, int64_t C, int64_t NH, cudaStream_t stream) {
  check_sizes("cuda attention_backward", B, N, C, NH);
  if (B == 0 || N == 0 || C == 0 || !dqkv) return;
  SIMAD_CHECK(dout != nullptr && qkv != nullptr && out != nullptr && lse != nullptr,
              "cuda attention_backward: null dout, qkv, out or lse");
  const int64_t hs = C / NH;
  const float scale = 1.0f / sqrtf(float(hs));
  const dim3 grid(unsigned(B * NH), unsigned((N + kTile - 1) / kTile));
  SIMAD_LAUNCH(attention_backward_dkv_kernel, grid, dim3(kTile), smem_bytes(4, 2, hs), stream, dqkv, dout, qkv, out,
               lse, mask, int(N), int(C), int(NH), scale);
  SIMAD_LAUNCH(attention_backward_dq_kernel, grid, dim3(kTile), smem_bytes(5, 0, hs), stream, dqkv, dout, qkv, out,
               lse, mask, int(N), int(C), int(NH), scale);
}

void attention_backward_bf16_tensor_cores(float* dqkv, const float* dout, const float* qkv, const float* out,
                                          const float* lse, const uint8_t* mask, int64_t B, int64_t N, int64_t C,
                                          int64_t NH, cudaStream_t stream) {
  check_sizes("cuda attention_backward_bf16_tensor_cores", B, N, C, NH);
  if (B == 0 || N == 0 || C == 0 || !dqkv) return;
  SIMAD_CHECK(dout != nullptr && qkv != nullptr && out != nullptr && lse != nullptr,
              "cuda attention_backward_bf16_tensor_cores: null dout, qkv, out or lse");
  const int64_t hs = C / NH;
  const float scale = 1.0f / sqrtf(float(hs));
  const dim3 grid(unsigned(B * NH), unsigned((N + kMmaRows - 1) / kMmaRows));
  SIMAD_LAUNCH(attention_backward_dkv_mma_kernel, grid, dim3(kMmaThreads), 0, stream, dqkv, dout, qkv, out, lse, mask,
               int(N), int(C), int(NH), scale);
  SIMAD_LAUNCH(attention_backward_dq_mma_kernel, grid, dim3(kMmaThreads), 0, stream, dqkv, dout, qkv, out, lse, mask,
               int(N), int(C), int(NH), scale);
}

}  // namespace simad::cuda::kernels
