// tests/masks.hpp: padding masks that walk masked ops through their edge cases (a full row, a random
// length, a single kept position, nothing kept), shared by the CPU and the emulated CUDA tests.
#pragma once

#include <cstdint>
#include <vector>

#include "simad/core/rng.hpp"

namespace simad::testing {

// (B, N) mask: sequence b keeps its first len_b positions; len cycles through N, a random length in
// [1, N], 1 and 0 (fully padded).
inline std::vector<uint8_t> prefix_padding_mask(Rng& rng, int64_t B, int64_t N) {
  std::vector<uint8_t> m(size_t(B * N), 0);
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = N;
    if (b % 4 == 1) len = 1 + int64_t(rng.next_below(uint32_t(N)));
    if (b % 4 == 2) len = 1;
    if (b % 4 == 3) len = 0;
    for (int64_t i = 0; i < len; ++i) m[size_t(b * N + i)] = 1;
  }
  return m;
}

// Word mask hm (B, N) and region mask vm (B, K) of a batch of ads: ad b keeps n_b words and k_b
// regions, cycling through all/all, random/random, one/one and all words with no region.
inline void word_region_masks(Rng& rng, int64_t B, int64_t N, int64_t K, std::vector<uint8_t>& hm,
                              std::vector<uint8_t>& vm) {
  hm.assign(size_t(B * N), 0);
  vm.assign(size_t(B * K), 0);
  for (int64_t b = 0; b < B; ++b) {
    int64_t n = N, k = K;
    if (b % 4 == 1) {
      n = 1 + rng.next_below(uint32_t(N));
      k = 1 + rng.next_below(uint32_t(K));
    }
    if (b % 4 == 2) n = 1, k = 1;
    if (b % 4 == 3) k = 0;
    for (int64_t i = 0; i < n; ++i) hm[size_t(b * N + i)] = 1;
    for (int64_t j = 0; j < k; ++j) vm[size_t(b * K + j)] = 1;
  }
}

}  // namespace simad::testing
