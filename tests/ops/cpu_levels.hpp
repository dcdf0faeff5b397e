// tests/ops/cpu_levels.hpp: what the tests of simad's CPU kernels share: the ISA levels this CPU has fp32
// tiles for (each test forces them in turn with cpu::IsaScope), and a bit-for-bit comparison.
#pragma once

#include <cstring>
#include <vector>

#include "simad/core/cpu_features.hpp"

namespace simad::testing {

// The levels with a simad fp32 kernel on this CPU, lowest first (empty without AVX2 + FMA).
inline std::vector<cpu::Isa> fp32_kernel_levels() {
  std::vector<cpu::Isa> levels;
  for (cpu::Isa isa : {cpu::Isa::avx2, cpu::Isa::avx512})
    if (int(isa) <= int(cpu::best_isa())) levels.push_back(isa);
  return levels;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace simad::testing
