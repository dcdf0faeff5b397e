// simad/core/cpu_features.hpp: what the CPU running this process can do, read once with cpuid, and the
// instruction-set level simad's hand-written CPU kernels use (runtime dispatch: the installed headers
// are compiled without -march, so a binary built on one machine picks its kernels on the one it runs on).
//
//   cpu::features()   cpuid + xgetbv: AVX2/FMA, AVX-512 (F, BW, DQ, VL), AVX512-BF16, AMX-BF16, and
//                     whether the OS saves the registers (XCR0); the brand string
//   cpu::best_isa()   the highest level the CPU and OS support: generic < avx2 (AVX2 + FMA) < avx512
//   cpu::isa()        the level the kernels use: best_isa(), lowered by SIMAD_CPU_ISA=generic|avx2|avx512
//                     in the environment or by set_max_isa() (tests force every lower path this way)
//
// Levels only go down: asking for avx512 on an AVX2 machine gives avx2.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "simad/core/error.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define SIMAD_X86 1
#endif

namespace simad::cpu {

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::generic: return "generic";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

inline Isa parse_isa(std::string_view s) {
  if (s == "generic") return Isa::generic;
  if (s == "avx2") return Isa::avx2;
  if (s == "avx512") return Isa::avx512;
  fail("SIMAD_CPU_ISA='", std::string(s), "': expected generic, avx2 or avx512");
  return Isa::generic;  // not reached (fail throws); clang does not see a [[noreturn]] constructor
}

struct Features {
  bool avx2_fma = false;     // AVX2 + FMA3, YMM state enabled by the OS
  bool avx512 = false;       // AVX-512 F + BW + DQ + VL, ZMM and opmask state enabled by the OS
  bool avx512_bf16 = false;  // vdpbf16ps
  bool avx512_vnni = false;  // vpdpbusd
  bool amx_bf16 = false;     // AMX tiles with bf16 (the OS must also grant the tile state per process)
  std::string brand;         // "Intel(R) Xeon(R) ..." or "" where cpuid has none
};

namespace detail {

#if defined(SIMAD_X86)
inline uint64_t xgetbv0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}
#endif

inline Features read_features() {
  Features f;
#if defined(SIMAD_X86)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymm_state = (xcr0 & 0x6) == 0x6;                 // SSE + AVX state
  const bool zmm_state = ymm_state && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const bool tile_state = (xcr0 & 0x60000) == 0x60000;        // XTILECFG, XTILEDATA
  unsigned max_leaf = 0;
  __get_cpuid(0, &max_leaf, &b, &c, &d);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    const bool avx2 = (b >> 5) & 1, f512 = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1,
               vl = (b >> 31) & 1, amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
    f.avx2_fma = avx && avx2 && fma && ymm_state;
    f.avx512 = f.avx2_fma && f512 && dq && bw && vl && zmm_state;
    f.amx_bf16 = amx_bf16 && amx_tile && tile_state;
    f.avx512_vnni = f.avx512 && ((c >> 11) & 1);
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512_bf16 = f.avx512 && ((a >> 5) & 1);
  }
  unsigned ext = 0;
  __get_cpuid(0x80000000, &ext, &b, &c, &d);
  if (ext >= 0x80000004) {
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      unsigned r[4];
      __get_cpuid(0x80000002 + leaf, &r[0], &r[1], &r[2], &r[3]);
      std::memcpy(brand + 16 * leaf, r, 16);
    }
    f.brand = brand;
    f.brand.erase(0, f.brand.find_first_not_of(' '));
  }
#endif
  return f;
}

// -1: no cap set by set_max_isa().
inline std::atomic<int>& isa_cap() {
  static std::atomic<int> cap{-1};
  return cap;
}

inline Isa env_isa_cap() {
  static const Isa cap = [] {
    const char* env = std::getenv("SIMAD_CPU_ISA");
    return env && *env ? parse_isa(env) : Isa::avx512;
  }();
  return cap;
}

}  // namespace detail

inline const Features& features() {
  static const Features f = detail::read_features();
  return f;
}

inline Isa best_isa() {
  const Features& f = features();
  return f.avx512 ? Isa::avx512 : f.avx2_fma ? Isa::avx2 : Isa::generic;
}

inline Isa isa() {
  int level = std::min(int(best_isa()), int(detail::env_isa_cap()));
  if (const int cap = detail::isa_cap().load(std::memory_order_relaxed); cap >= 0) level = std::min(level, cap);
  return Isa(level);
}

// Caps the level for the whole process (tests force the lower kernels with it); nothing is raised
// above best_isa() or SIMAD_CPU_ISA.
inline void set_max_isa(Isa cap) { detail::isa_cap().store(int(cap), std::memory_order_relaxed); }
inline void clear_max_isa() { detail::isa_cap().store(-1, std::memory_order_relaxed); }

// Sets a cap for a scope and restores the previous one.
class IsaScope {
 public:
  explicit IsaScope(Isa cap) : previous_(detail::isa_cap().load()) { set_max_isa(cap); }
  ~IsaScope() { detail::isa_cap().store(previous_); }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;

 private:
  int previous_;
};

}  // namespace simad::cpu
