// simad/core/hash.hpp: 64-bit FNV-1a, the checksum of cache keys and file fingerprints (not a
// cryptographic hash: it detects changed inputs, it does not resist forgery).
//
//   uint64_t h = simad::fnv1a("bytes");              // from the FNV offset basis
//   h = simad::fnv1a_u64(42, h);                      // continue with a 64-bit value, little-endian
#pragma once

#include <cstdint>
#include <string_view>

namespace simad {

inline constexpr uint64_t kFnvOffset = 1469598103934665603ull, kFnvPrime = 1099511628211ull;

// 64-bit FNV-1a of bytes, continuing from h.
inline uint64_t fnv1a(std::string_view bytes, uint64_t h = kFnvOffset) {
  for (char c : bytes) h = (h ^ uint8_t(c)) * kFnvPrime;
  return h;
}

// The same over the 8 bytes of v, least significant first.
inline uint64_t fnv1a_u64(uint64_t v, uint64_t h) {
  for (int i = 0; i < 8; ++i) h = (h ^ uint8_t(v >> (8 * i))) * kFnvPrime;
  return h;
}

}  // namespace simad
