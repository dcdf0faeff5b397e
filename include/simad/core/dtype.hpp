// simad/core/dtype.hpp: element types. Compute types are the template parameter T of every op
// (float, double); storage-only types bf16 and f16 exist for interchange (safetensors) and are
// converted to/from float here with round-to-nearest-even.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace simad {

// bfloat16: the top 16 bits of an IEEE float32.
struct bf16 {
  uint16_t bits = 0;
};
// IEEE 754 half precision.
struct f16 {
  uint16_t bits = 0;
};

inline float bf16_to_float(bf16 h) { return std::bit_cast<float>(uint32_t(h.bits) << 16); }

inline bf16 float_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x0040u)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                                  // nearest even
  return bf16{uint16_t(u >> 16)};
}

inline float f16_to_float(f16 h) {
  const uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
  const uint32_t exp = (h.bits >> 10) & 0x1fu;
  const uint32_t man = h.bits & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: man * 2^-24
    float v = std::ldexp(float(man), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));  // inf / NaN
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (man << 13));
}

inline f16 float_to_f16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return f16{uint16_t(sign | 0x7e00u)};        // NaN
  if (abs >= 0x477ff000u) return f16{uint16_t(sign | 0x7c00u)};       // rounds to >= 65520: inf
  if (abs < 0x38800000u) {                                            // below 2^-14: subnormal
    // value / 2^-24, rounded to nearest even by the FPU (exact: the result fits in 11 bits)
    const float scaled = std::bit_cast<float>(abs) * 16777216.0f;
    return f16{uint16_t(sign | uint16_t(std::nearbyint(scaled)))};
  }
  uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u);  // round mantissa to 10 bits, nearest even
  return f16{uint16_t(sign | uint16_t(((r - 0x38000000u) >> 13)))};
}

template <typename T>
constexpr std::string_view dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "f32";
  else if constexpr (std::is_same_v<T, double>) return "f64";
  else if constexpr (std::is_same_v<T, bf16>) return "bf16";
  else if constexpr (std::is_same_v<T, f16>) return "f16";
  else if constexpr (std::is_same_v<T, int32_t>) return "i32";
  else if constexpr (std::is_same_v<T, int64_t>) return "i64";
  else if constexpr (std::is_same_v<T, uint8_t>) return "u8";
  else return "?";
}

}  // namespace simad
