// simad/cuda/mma.hpp: the warp-wide tensor-core product of simad's bf16 kernels, and bf16 packing.
//   mma_m16n8k16_bf16(d, a, b):  D (16 x 8, fp32) += A (16 x 16, bf16) * B (16 x 8, bf16)
// is PTX's mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32: all 32 lanes of a warp call it together,
// each holding a fragment. The fragments are laid out as the PTX ISA's "Matrix Fragments for mma.m16n8k16
// with floating point type" (section 9.7.14.5.8), with g = lane / 4 and t = lane % 4, two bf16 per 32-bit
// register, the lower column or row in the low half:
//   a[0] = A[g][2t, 2t+1]     a[1] = A[g+8][2t, 2t+1]     a[2] = A[g][2t+8, 2t+9]     a[3] = A[g+8][2t+8, 2t+9]
//   b[0] = B[2t, 2t+1][g]     b[1] = B[2t+8, 2t+9][g]
//   d[0], d[1] = D[g][2t, 2t+1]                            d[2], d[3] = D[g+8][2t, 2t+1]
// With nvcc (sm_80 and later) it is that one instruction (inline PTX: simad's only, kept to this header, with
// the packing's cvt).
// Under the SIMT emulator the same product is computed from the fragments: each lane fetches, through
// __shfl_sync, the A rows and B columns its four outputs need, and adds the products (exact: a bf16 times
// a bf16 fits in a float's mantissa) in k order. The hardware's order and rounding of the sum are its own,
// so results agree within float rounding, not bit for bit. Included by kernels/*.cu only.
#pragma once

#include <cstdint>

#include "simad/cuda/portable.hpp"

namespace simad::cuda::mma {

// The bf16 nearest to x (ties to even), as the low 16 bits; NaN stays a (quiet) NaN.
__device__ __forceinline__ uint32_t bf16_bits(float x) {
  const uint32_t u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

// Two bf16 in one register, each the nearest (ties to even): lo in bits 0-15, hi in 16-31. With nvcc one
// instruction (cvt.rn.bf16x2.f32, which puts its first source in the upper half).
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
#if defined(__CUDACC__)
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
#else
  return bf16_bits(lo) | (bf16_bits(hi) << 16);
#endif
}
__device__ __forceinline__ float bf16_low(uint32_t r) { return __uint_as_float(r << 16); }
__device__ __forceinline__ float bf16_high(uint32_t r) { return __uint_as_float(r & 0xffff0000u); }

__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDACC__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  constexpr unsigned kAll = 0xffffffffu;
  const int lane = static_cast<int>(threadIdx.x) & 31, g = lane >> 2, t = lane & 3;
  for (int pair = 0; pair < 8; ++pair) {  // k = 2 pair, 2 pair + 1, held by lanes with t = pair % 4
    const int high = pair >= 4 ? 1 : 0;    // columns (A) or rows (B) 8-15: the second register pair
    const uint32_t a_row = __shfl_sync(kAll, a[2 * high], g * 4 + (pair & 3));           // A[g][k, k+1]
    const uint32_t a_row8 = __shfl_sync(kAll, a[2 * high + 1], g * 4 + (pair & 3));      // A[g+8][k, k+1]
    const uint32_t b_col = __shfl_sync(kAll, b[high], (2 * t) * 4 + (pair & 3));         // B[k, k+1][2t]
    const uint32_t b_col1 = __shfl_sync(kAll, b[high], (2 * t + 1) * 4 + (pair & 3));    // B[k, k+1][2t+1]
    d[0] += bf16_low(a_row) * bf16_low(b_col);
    d[0] += bf16_high(a_row) * bf16_high(b_col);
    d[1] += bf16_low(a_row) * bf16_low(b_col1);
    d[1] += bf16_high(a_row) * bf16_high(b_col1);
    d[2] += bf16_low(a_row8) * bf16_low(b_col);
    d[2] += bf16_high(a_row8) * bf16_high(b_col);
    d[3] += bf16_low(a_row8) * bf16_low(b_col1);
    d[3] += bf16_high(a_row8) * bf16_high(b_col1);
  }
#endif
}

}  // namespace simad::cuda::mma
