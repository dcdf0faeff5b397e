// simad/cuda/emu/types.hpp: CUDA's qualifiers, dim3/uint3, the vector types and the built-in
// variables (threadIdx, blockIdx, blockDim, gridDim, warpSize) for the host-compiler emulator.
//
// __shared__ is `thread_local`: a worker OS thread runs one block at a time to completion and fibers
// never migrate, so each block sees its own copy. With SIMAD_EMU_SHARED_AS_STATIC it is plain `static`
// (AddressSanitizer puts redzones around statics, not around TLS) and the emulator uses one worker.
#pragma once

#include "simad/cuda/emu/config.hpp"

// ---- qualifiers --------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __grid_constant__
#define __align__(n) __attribute__((aligned(n)))
#define __builtin_align__(n) __attribute__((aligned(n)))
// __restrict__ is understood by g++ itself. __noinline__ is deliberately NOT defined: libstdc++ uses
// __attribute__((__noinline__)) and the macro would break it.
#if defined(SIMAD_EMU_SHARED_AS_STATIC)
#define __shared__ static
#else
#define __shared__ thread_local
#endif

#define SIMAD_CUDA_EMULATED 1
#ifndef CUDART_VERSION
#define CUDART_VERSION 13000
#endif
#ifndef CUDA_VERSION
#define CUDA_VERSION 13000
#endif

// ---- vector types (same members and alignment as CUDA's vector_types.h) ------------------------
#define SIMAD_EMU_VEC2(T, name, align)                                                      \
  struct __attribute__((aligned(align))) name {                                            \
    T x, y;                                                                                \
  };                                                                                       \
  constexpr name make_##name(T x, T y) { return name{x, y}; }
#define SIMAD_EMU_VEC3(T, name)                                                             \
  struct name {                                                                            \
    T x, y, z;                                                                             \
  };                                                                                       \
  constexpr name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define SIMAD_EMU_VEC4(T, name, align)                                                      \
  struct __attribute__((aligned(align))) name {                                            \
    T x, y, z, w;                                                                          \
  };                                                                                       \
  constexpr name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }

SIMAD_EMU_VEC2(signed char, char2, 2)
SIMAD_EMU_VEC4(signed char, char4, 4)
SIMAD_EMU_VEC2(unsigned char, uchar2, 2)
SIMAD_EMU_VEC4(unsigned char, uchar4, 4)
SIMAD_EMU_VEC2(short, short2, 4)
SIMAD_EMU_VEC4(short, short4, 8)
SIMAD_EMU_VEC2(unsigned short, ushort2, 4)
SIMAD_EMU_VEC4(unsigned short, ushort4, 8)
SIMAD_EMU_VEC2(int, int2, 8)
SIMAD_EMU_VEC3(int, int3)
SIMAD_EMU_VEC4(int, int4, 16)
SIMAD_EMU_VEC2(unsigned int, uint2, 8)
SIMAD_EMU_VEC3(unsigned int, uint3)
SIMAD_EMU_VEC4(unsigned int, uint4, 16)
SIMAD_EMU_VEC2(long long, longlong2, 16)
SIMAD_EMU_VEC2(unsigned long long, ulonglong2, 16)
SIMAD_EMU_VEC2(float, float2, 8)
SIMAD_EMU_VEC3(float, float3)
SIMAD_EMU_VEC4(float, float4, 16)
SIMAD_EMU_VEC2(double, double2, 16)
SIMAD_EMU_VEC3(double, double3)

#undef SIMAD_EMU_VEC2
#undef SIMAD_EMU_VEC3
#undef SIMAD_EMU_VEC4

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

// ---- built-in variables ------------------------------------------------------------------------
// Per OS thread; the block scheduler writes threadIdx before it resumes each CUDA thread's fiber.
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
constexpr int warpSize = 32;
