// simad/ops/vector_kernel.hpp: what simad's register-tiled CPU micro-kernels (ops/attention.hpp,
// ops/fusion_attention.hpp) are built from. KernelVector<T, Bytes>: a GCC/Clang vector-extension type
// of T (each accumulator one named register, not an array the compiler may spill) and its unaligned
// twin for loads and stores at any T-aligned address. On such vector types V of T:
//   vector_fma(x, b, acc)    acc += x b (x a scalar, broadcast) with ONE rounding wherever the machine
//                            has FMA: every AVX2 and AVX-512 x86 does, so the kernels' sums come out the
//                            same on all of them. The tree builds with -ffp-contract=off, so a plain
//                            acc + x * b stays two roundings; scalar tails use std::fma to match.
//   keep_in_registers(v...)  pins loaded vectors to registers: without it GCC folds the load into
//                            every FMA that uses the vector (a tile's worth), and the kernel becomes
//                            bound by loads, not FMAs. An empty asm that "changes" them; it emits nothing.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace simad::ops::detail {

template <typename T, int64_t Bytes>
struct KernelVector {
  typedef T type __attribute__((vector_size(Bytes)));
  typedef T unaligned __attribute__((vector_size(Bytes), aligned(alignof(T)), may_alias));
  static constexpr int64_t lanes = Bytes / int64_t(sizeof(T));
};

template <typename T, typename V>
inline void vector_fma(T x, const V& b, V& acc) {  // by reference: no 64-byte vector crosses a call ABI
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) {
    if constexpr (std::is_same_v<T, float>)
      acc = V(_mm512_fmadd_ps(_mm512_set1_ps(x), __m512(b), __m512(acc)));
    else
      acc = V(_mm512_fmadd_pd(_mm512_set1_pd(x), __m512d(b), __m512d(acc)));
    return;
  }
#endif
#if defined(__FMA__)
  if constexpr (sizeof(V) == 32) {
    if constexpr (std::is_same_v<T, float>)
      acc = V(_mm256_fmadd_ps(_mm256_set1_ps(x), __m256(b), __m256(acc)));
    else
      acc = V(_mm256_fmadd_pd(_mm256_set1_pd(x), __m256d(b), __m256d(acc)));
    return;
  } else if constexpr (sizeof(V) == 64) {  // the forced AVX-512 tile shapes (*_WIDE_TILES) on AVX2: two halves
    typedef T Half __attribute__((vector_size(32)));
    Half bh[2], ah[2];
    std::memcpy(bh, &b, sizeof(V));
    std::memcpy(ah, &acc, sizeof(V));
    for (int k = 0; k < 2; ++k) vector_fma(x, bh[k], ah[k]);
    std::memcpy(&acc, ah, sizeof(V));
    return;
  }
#endif
  acc += x * b;
}

template <typename V>
inline void keep_in_register([[maybe_unused]] V& v) {
#if defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
  if constexpr (sizeof(V) == 32 || sizeof(V) == 64) asm("" : "+v"(v));
#elif defined(__AVX__) && (defined(__GNUC__) || defined(__clang__))
  if constexpr (sizeof(V) == 32) asm("" : "+x"(v));  // not the split 64-byte vectors of forced wide tiles
#endif
}
template <typename... V>
inline void keep_in_registers(V&... v) {
  (keep_in_register(v), ...);
}

}  // namespace simad::ops::detail
