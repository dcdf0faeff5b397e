// simad/core/rng.hpp: a counter-based random number generator (Philox4x32-10, Salmon et al. 2011,
// "Parallel random numbers: as easy as 1, 2, 3"). The n-th number of a stream is a pure function of
// (seed, stream, n), so a tensor filled in parallel gets the same numbers whatever the thread count
// or the order of the work, and a CUDA kernel can draw the same numbers as the CPU.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>

#include "simad/core/parallel.hpp"

namespace simad {

// Host and device: kernels (kernels/dropout.cu) draw the same numbers from this one definition.
#if defined(__CUDACC__)
#define SIMAD_HOST_DEVICE __host__ __device__
#else
#define SIMAD_HOST_DEVICE
#endif

// Philox4x32 with 10 rounds: 128-bit counter, 64-bit key -> four 32-bit words, in place in ctr.
SIMAD_HOST_DEVICE inline void philox4x32_10(uint32_t ctr[4], uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // key schedule increments
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kMul0) * ctr[0];
    const uint64_t p1 = uint64_t(kMul1) * ctr[2];
    const uint32_t c0 = uint32_t(p1 >> 32) ^ ctr[1] ^ key0, c2 = uint32_t(p0 >> 32) ^ ctr[3] ^ key1;
    ctr[0] = c0, ctr[1] = uint32_t(p1), ctr[2] = c2, ctr[3] = uint32_t(p0);
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
}

inline std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  philox4x32_10(ctr.data(), key[0], key[1]);
  return ctr;
}

// 64 random bits of stream element n (half of Philox block n / 2), as Rng::bits_at, for code that
// holds only the seed and stream numbers (a kernel).
SIMAD_HOST_DEVICE inline uint64_t philox_bits_at(uint64_t seed, uint64_t stream, uint64_t n) {
  const uint64_t block = n / 2;
  uint32_t ctr[4] = {uint32_t(block), uint32_t(block >> 32), uint32_t(stream), uint32_t(stream >> 32)};
  philox4x32_10(ctr, uint32_t(seed), uint32_t(seed >> 32));
  const int w = 2 * int(n % 2);
  return (uint64_t(ctr[w]) << 32) | ctr[w + 1];
}

// Rng: a named stream of a seed. Element n of the stream is fixed; `next_*` walk it sequentially,
// `*_at(n)` jump to any n (what parallel fills use).
class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }
  uint64_t position() const { return counter_; }
  void set_position(uint64_t n) { counter_ = n; }
  // An independent stream of the same seed (e.g. one per layer or per purpose).
  Rng substream(uint64_t id) const { return Rng(seed_, stream_ * 0x9E3779B97F4A7C15ull + id + 1); }

  // Four 32-bit words of block n.
  std::array<uint32_t, 4> block(uint64_t n) const {
    return philox4x32({uint32_t(n), uint32_t(n >> 32), uint32_t(stream_), uint32_t(stream_ >> 32)},
                      {uint32_t(seed_), uint32_t(seed_ >> 32)});
  }
  // Element n of the stream: 64 random bits (half of Philox block n/2). Every draw below takes
  // exactly one element, so the position counts draws whatever their kind.
  uint64_t bits_at(uint64_t n) const { return philox_bits_at(seed_, stream_, n); }
  // Uniform in [0, 1) with 24 random bits (exactly representable in float).
  float uniform_float_at(uint64_t n) const { return float(bits_at(n) >> 40) * 0x1p-24f; }
  // Uniform in [0, 1) with 53 random bits.
  double uniform_at(uint64_t n) const { return double(bits_at(n) >> 11) * 0x1p-53; }
  // Standard normal by Box-Muller on the two 32-bit halves of element n.
  double normal_at(uint64_t n) const {
    const uint64_t b = bits_at(n);
    const double u1 = (double(b >> 32) + 0.5) * 0x1p-32;  // in (0, 1): the log is finite
    const double u2 = double(b & 0xffffffffu) * 0x1p-32;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

  uint64_t next_u64() { return bits_at(counter_++); }
  uint32_t next_u32() { return uint32_t(bits_at(counter_++) >> 32); }
  float next_float() { return uniform_float_at(counter_++); }
  double next_uniform(double lo = 0.0, double hi = 1.0) { return lo + (hi - lo) * uniform_at(counter_++); }
  double next_normal() { return normal_at(counter_++); }
  // Uniform integer in [0, n) (Lemire's multiply-shift; the tiny bias is irrelevant for n << 2^32).
  uint32_t next_below(uint32_t n) { return uint32_t((uint64_t(next_u32()) * n) >> 32); }

  // Fill with uniform values in [lo, hi); element i uses stream position start+i, so the result
  // does not depend on the thread count. Advances the stream past the filled elements.
  template <typename T>
  void fill_uniform(std::span<T> out, double lo, double hi) {
    const uint64_t start = counter_;
    parallel_for(int64_t(out.size()), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[size_t(i)] = T(lo + (hi - lo) * uniform_at(start + uint64_t(i)));
    });
    counter_ += out.size();
  }
  template <typename T>
  void fill_normal(std::span<T> out, double mean, double stddev) {
    const uint64_t start = counter_;
    parallel_for(int64_t(out.size()), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[size_t(i)] = T(mean + stddev * normal_at(start + uint64_t(i)));
    });
    counter_ += out.size();
  }

 private:
  uint64_t seed_;
  uint64_t stream_;
  uint64_t counter_ = 0;
};

}  // namespace simad
