// simad/cuda/emu/device.hpp: the device built-ins for the emulator: barriers, warp operations,
// atomics, math and bit intrinsics, __ldg, dynamic shared memory. Everything is in the global
// namespace with CUDA's names and signatures; the sync operations take the call site as hidden
// default arguments (__builtin_FILE/__builtin_LINE) for error messages. Anything not here is simply
// undeclared, so a kernel using it fails to compile under emulation.
#pragma once

#include "simad/cuda/emu/scheduler.hpp"
#include "simad/cuda/emu/types.hpp"

#include <math.h>  // libstdc++'s: `using std::exp; using std::isnan; ...` at global scope, like CUDA

#include <atomic>
#include <bit>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

// ---- barriers ----------------------------------------------------------------------------------
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  current_worker("__syncthreads").barrier(BarrierKind::plain, 0, Site{"__syncthreads", file, line});
}
inline int __syncthreads_count(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return current_worker("__syncthreads_count").barrier(BarrierKind::count, predicate, Site{"__syncthreads_count", file, line});
}
inline int __syncthreads_and(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return current_worker("__syncthreads_and").barrier(BarrierKind::all, predicate, Site{"__syncthreads_and", file, line});
}
inline int __syncthreads_or(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return current_worker("__syncthreads_or").barrier(BarrierKind::any, predicate, Site{"__syncthreads_or", file, line});
}

// ---- asynchronous copies (cp.async; simad/cuda/async_copy.hpp) ------------------------------------------
// The 4 bytes are read from global memory at issue (it does not change while a kernel stages from it) and
// written to shared memory only at the wait: a kernel that reads its staging buffer before waiting reads what
// was there before, and fails its tests.
namespace simad::cuda::emu {
inline void async_copy_4(void* shared_dst, const void* global_src, bool valid) {
  using namespace simad::cuda::emu::detail;
  current_worker("cp.async");
  std::uint32_t bits = 0;  // !valid: zero fill (the source is not read)
  if (valid) std::memcpy(&bits, global_src, 4);
  tl_thread->async_copies.emplace_back(shared_dst, bits);
}
inline void async_copy_wait_all() {
  using namespace simad::cuda::emu::detail;
  current_worker("cp.async.wait_all");
  for (const auto& [dst, bits] : tl_thread->async_copies) std::memcpy(dst, &bits, 4);
  tl_thread->async_copies.clear();
}
}  // namespace simad::cuda::emu

// Blocks run one at a time per worker thread, and atomics are sequentially consistent: a fence is all
// that __threadfence needs to mean.
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- warp operations ---------------------------------------------------------------------------
namespace simad::cuda::emu::detail {

template <typename T>
std::uint64_t to_bits(const T& v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp shuffles move values of at most 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}
template <typename T>
T from_bits(std::uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}
template <typename T>
T shuffle(WarpKind kind, const char* op, unsigned mask, const T& var, int arg, int width, const char* file, int line) {
  return from_bits<T>(current_worker(op).warp_exchange(kind, mask, to_bits(var), arg, width, unsigned(sizeof(T)),
                                                       Site{op, file, line}));
}

}  // namespace simad::cuda::emu::detail

template <typename T>
T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize, const char* file = __builtin_FILE(),
              int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return shuffle(WarpKind::shfl_idx, "__shfl_sync", mask, var, srcLane, width, file, line);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize, const char* file = __builtin_FILE(),
                 int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return shuffle(WarpKind::shfl_up, "__shfl_up_sync", mask, var, int(delta & 31u), width, file, line);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return shuffle(WarpKind::shfl_down, "__shfl_down_sync", mask, var, int(delta & 31u), width, file, line);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return shuffle(WarpKind::shfl_xor, "__shfl_xor_sync", mask, var, laneMask, width, file, line);
}

inline unsigned __ballot_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return unsigned(current_worker("__ballot_sync")
                      .warp_exchange(WarpKind::ballot, mask, predicate != 0, 0, 32, 4, Site{"__ballot_sync", file, line}));
}
inline int __any_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return int(current_worker("__any_sync").warp_exchange(WarpKind::any, mask, predicate != 0, 0, 32, 4, Site{"__any_sync", file, line}));
}
inline int __all_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  return int(current_worker("__all_sync").warp_exchange(WarpKind::all, mask, predicate != 0, 0, 32, 4, Site{"__all_sync", file, line}));
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace simad::cuda::emu::detail;
  current_worker("__syncwarp").warp_exchange(WarpKind::sync, mask, 0, 0, 32, 0, Site{"__syncwarp", file, line});
}
// The lanes of the calling warp that exist and have not exited (divergence is not modelled).
inline unsigned __activemask() {
  return simad::cuda::emu::detail::current_worker("__activemask").active_mask();
}

// ---- dynamic shared memory ---------------------------------------------------------------------
namespace simad::cuda::emu {
// The running block's dynamic shared memory: exactly the launch's smem_bytes, 256-byte aligned,
// filled with 0xFF bytes (NaN) before each block unless SIMAD_EMU_POISON=0. Use SIMAD_DYNAMIC_SHARED.
template <typename T>
T* dynamic_shared() {
  if (!detail::tl_thread) detail::outside_kernel("SIMAD_DYNAMIC_SHARED");
  return reinterpret_cast<T*>(detail::tl_dynamic_smem);
}
}  // namespace simad::cuda::emu

// ---- atomics (global and shared memory; sequentially consistent std::atomic_ref) ---------------
namespace simad::cuda::emu::detail {
template <typename T, typename F>
T atomic_update(T* address, F f) {
  std::atomic_ref<T> a(*address);
  T old = a.load();
  while (!a.compare_exchange_weak(old, f(old))) {
  }
  return old;
}
template <typename T>
T atomic_cas(T* address, T compare, T val) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, val);
  return compare;
}
}  // namespace simad::cuda::emu::detail

#define SIMAD_EMU_ATOMIC_FETCH(name, T, member)                                         \
  inline T name(T* address, T val) { return std::atomic_ref<T>(*address).member(val); }
SIMAD_EMU_ATOMIC_FETCH(atomicAdd, int, fetch_add)
SIMAD_EMU_ATOMIC_FETCH(atomicAdd, unsigned int, fetch_add)
SIMAD_EMU_ATOMIC_FETCH(atomicAdd, unsigned long long, fetch_add)
SIMAD_EMU_ATOMIC_FETCH(atomicAdd, float, fetch_add)
SIMAD_EMU_ATOMIC_FETCH(atomicAdd, double, fetch_add)
SIMAD_EMU_ATOMIC_FETCH(atomicSub, int, fetch_sub)
SIMAD_EMU_ATOMIC_FETCH(atomicSub, unsigned int, fetch_sub)
SIMAD_EMU_ATOMIC_FETCH(atomicExch, int, exchange)
SIMAD_EMU_ATOMIC_FETCH(atomicExch, unsigned int, exchange)
SIMAD_EMU_ATOMIC_FETCH(atomicExch, unsigned long long, exchange)
SIMAD_EMU_ATOMIC_FETCH(atomicExch, float, exchange)
SIMAD_EMU_ATOMIC_FETCH(atomicAnd, int, fetch_and)
SIMAD_EMU_ATOMIC_FETCH(atomicAnd, unsigned int, fetch_and)
SIMAD_EMU_ATOMIC_FETCH(atomicAnd, unsigned long long, fetch_and)
SIMAD_EMU_ATOMIC_FETCH(atomicOr, int, fetch_or)
SIMAD_EMU_ATOMIC_FETCH(atomicOr, unsigned int, fetch_or)
SIMAD_EMU_ATOMIC_FETCH(atomicOr, unsigned long long, fetch_or)
SIMAD_EMU_ATOMIC_FETCH(atomicXor, int, fetch_xor)
SIMAD_EMU_ATOMIC_FETCH(atomicXor, unsigned int, fetch_xor)
SIMAD_EMU_ATOMIC_FETCH(atomicXor, unsigned long long, fetch_xor)
#undef SIMAD_EMU_ATOMIC_FETCH

// No float/double atomicMin/atomicMax: CUDA has none (kernels use an atomicCAS loop).
#define SIMAD_EMU_ATOMIC_MINMAX(T)                                                                                  \
  inline T atomicMin(T* address, T val) {                                                                           \
    return simad::cuda::emu::detail::atomic_update(address, [val](T old) { return val < old ? val : old; });      \
  }                                                                                                                 \
  inline T atomicMax(T* address, T val) {                                                                           \
    return simad::cuda::emu::detail::atomic_update(address, [val](T old) { return val > old ? val : old; });      \
  }
SIMAD_EMU_ATOMIC_MINMAX(int)
SIMAD_EMU_ATOMIC_MINMAX(unsigned int)
SIMAD_EMU_ATOMIC_MINMAX(long long)
SIMAD_EMU_ATOMIC_MINMAX(unsigned long long)
#undef SIMAD_EMU_ATOMIC_MINMAX

inline int atomicCAS(int* address, int compare, int val) { return simad::cuda::emu::detail::atomic_cas(address, compare, val); }
inline unsigned int atomicCAS(unsigned int* address, unsigned int compare, unsigned int val) {
  return simad::cuda::emu::detail::atomic_cas(address, compare, val);
}
inline unsigned long long atomicCAS(unsigned long long* address, unsigned long long compare, unsigned long long val) {
  return simad::cuda::emu::detail::atomic_cas(address, compare, val);
}
// ((old >= val) ? 0 : (old + 1)) and (((old == 0) || (old > val)) ? val : (old - 1)), as in CUDA.
inline unsigned int atomicInc(unsigned int* address, unsigned int val) {
  return simad::cuda::emu::detail::atomic_update(address, [val](unsigned int old) { return old >= val ? 0u : old + 1u; });
}
inline unsigned int atomicDec(unsigned int* address, unsigned int val) {
  return simad::cuda::emu::detail::atomic_update(address,
                                                 [val](unsigned int old) { return (old == 0 || old > val) ? val : old - 1u; });
}

// ---- math --------------------------------------------------------------------------------------
// <math.h> above puts the <cmath> overloads (expf, exp(float), fabsf, isnan, ...) at global scope.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x), *c = std::cos(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fsub_rn(float x, float y) { return x - y; }
inline float __fmul_rn(float x, float y) { return x * y; }
inline float __fdiv_rn(float x, float y) { return x / y; }
inline float __fmaf_rn(float x, float y, float z) { return std::fma(x, y, z); }
inline double __dadd_rn(double x, double y) { return x + y; }
inline double __dmul_rn(double x, double y) { return x * y; }
inline double __fma_rn(double x, double y, double z) { return std::fma(x, y, z); }
inline float __saturatef(float x) { return x >= 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f); }  // NaN -> 0

inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline unsigned int __float_as_uint(float x) { return std::bit_cast<unsigned int>(x); }
inline float __uint_as_float(unsigned int x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline int __float2int_rd(float x) { return int(std::floor(x)); }
inline int __float2int_ru(float x) { return int(std::ceil(x)); }
inline unsigned int __float2uint_rn(float x) { return unsigned(std::nearbyint(x)); }
inline float __int2float_rn(int x) { return float(x); }

inline int __popc(unsigned int x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(unsigned(x)); }
inline int __clzll(long long x) { return std::countl_zero((unsigned long long)(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(unsigned(x)) + 1; }
inline int __ffsll(long long x) { return x == 0 ? 0 : std::countr_zero((unsigned long long)(x)) + 1; }
inline unsigned int __brev(unsigned int x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
  return (x >> 16) | (x << 16);
}
inline unsigned long long __brevll(unsigned long long x) {
  return (static_cast<unsigned long long>(__brev(unsigned(x & 0xffffffffu))) << 32) | __brev(unsigned(x >> 32));
}
inline int __mulhi(int x, int y) { return int((static_cast<long long>(x) * y) >> 32); }
inline unsigned int __umulhi(unsigned int x, unsigned int y) {
  return unsigned((static_cast<unsigned long long>(x) * y) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long x, unsigned long long y) {
  __extension__ typedef unsigned __int128 u128;
  return static_cast<unsigned long long>((static_cast<u128>(x) * y) >> 64);
}

// CUDA's global min/max: the usual arithmetic conversions, fmin/fmax for floating point.
template <typename A, typename B>
  requires(std::is_arithmetic_v<A> && std::is_arithmetic_v<B>)
constexpr std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return std::fmin(static_cast<C>(a), static_cast<C>(b));
  else return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <typename A, typename B>
  requires(std::is_arithmetic_v<A> && std::is_arithmetic_v<B>)
constexpr std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return std::fmax(static_cast<C>(a), static_cast<C>(b));
  else return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}

// ---- loads -------------------------------------------------------------------------------------
template <typename T>
T __ldg(const T* p) { return *p; }
template <typename T>
T __ldcg(const T* p) { return *p; }
template <typename T>
T __ldca(const T* p) { return *p; }
template <typename T>
T __ldcs(const T* p) { return *p; }
template <typename T>
T __ldlu(const T* p) { return *p; }
template <typename T>
void __stcg(T* p, T v) { *p = v; }
template <typename T>
void __stcs(T* p, T v) { *p = v; }
template <typename T>
void __stwb(T* p, T v) { *p = v; }
