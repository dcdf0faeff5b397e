// simad/ops/embedding.hpp: table lookup, out_i = table[ids_i], and its scatter-add backward.
//   out (N, C) = table (V, C) rows ids (N),   dtable[v] += sum_{i: ids_i = v} dout_i
// Every id must lie in [0, V); otherwise simad::Error names the first bad position and its value
// (checked before anything is written).
// Padding id (optional, as PyTorch's padding_idx): padding_id in [0, V) marks that row as padding:
// positions holding it output ZEROS (whatever the table row holds) and the row receives NO gradient.
// padding_id = -1 (the default) means no padding id.
// Backward ACCUMULATES into dtable (the caller zeroes it once per step). It is race-free and
// deterministic: every element dtable[v, j] receives its additions in increasing position i, on one
// thread, whatever the thread count, so the bits equal those of a plain serial loop. Two schedules
// give exactly that order: wide rows run in parallel over column blocks (each block walks all N
// positions); narrow rows sort the positions by (id, position) and run the ids in parallel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

namespace detail {
inline constexpr int64_t kEmbeddingColBlock = 64;  // columns per block of the column-parallel backward

inline void embedding_check(const char* what, const int32_t* ids, int64_t N, int64_t C, int64_t V,
                            int32_t padding_id) {
  SIMAD_CHECK(N >= 0 && C >= 0 && V >= 0, what, ": negative size N=", N, " C=", C, " V=", V);
  SIMAD_CHECK(padding_id >= -1 && padding_id < V, what, ": padding_id ", padding_id, " is neither -1 nor in [0, V=",
              V, ")");
  SIMAD_CHECK(N == 0 || ids != nullptr, what, ": null ids for N=", N);
  for (int64_t i = 0; i < N; ++i)
    if (ids[i] < 0 || ids[i] >= V) [[unlikely]]
      fail(what, ": id ", ids[i], " at position ", i, " is out of range [0, V=", V, ")");
}

inline int64_t embedding_grain(int64_t C) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(C, 1));
}
}  // namespace detail

template <typename T>
void embedding_forward(T* out,              // (N, C)
                       const int32_t* ids,  // (N) each in [0, V)
                       const T* table,      // (V, C)
                       int64_t N, int64_t C, int64_t V,
                       int32_t padding_id = -1) {  // a row id whose positions output zeros; -1: none
  static_assert(std::is_trivially_copyable_v<T>, "embedding: trivially copyable element type");
  detail::embedding_check("embedding_forward", ids, N, C, V, padding_id);
  if (N == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && table != nullptr, "embedding_forward: null out or table for N=", N, " C=", C);
  parallel_for(N, detail::embedding_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T* y = out + i * C;
      if (ids[i] == padding_id) std::fill(y, y + C, T(0));
      else std::memcpy(y, table + int64_t(ids[i]) * C, size_t(C) * sizeof(T));
    }
  });
}

// dtable += scatter of dout by ids; positions holding padding_id are skipped. dtable may be nullptr.
template <typename T>
void embedding_backward(T* dtable,           // (V, C)
                        const T* dout,       // (N, C)
                        const int32_t* ids,  // (N) the forward's
                        int64_t N, int64_t C, int64_t V,
                        int32_t padding_id = -1) {
  static_assert(std::is_floating_point_v<T>, "embedding: floating-point element type");
  if (!dtable) return;
  detail::embedding_check("embedding_backward", ids, N, C, V, padding_id);
  if (N == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr, "embedding_backward: null dout for N=", N, " C=", C);

  // Wide rows: column blocks in parallel, each walking positions 0..N-1 (no sort needed).
  const int64_t col_blocks = (C + detail::kEmbeddingColBlock - 1) / detail::kEmbeddingColBlock;
  if (col_blocks >= 2 * int64_t(num_threads()) || N >= (int64_t(1) << 32)) {
    parallel_for(col_blocks, 1, [&](int64_t k0, int64_t k1) {
      const int64_t c0 = k0 * detail::kEmbeddingColBlock, c1 = std::min(C, k1 * detail::kEmbeddingColBlock);
      for (int64_t i = 0; i < N; ++i) {
        if (ids[i] == padding_id) continue;
        const T* g = dout + i * C;
        T* d = dtable + int64_t(ids[i]) * C;
        for (int64_t j = c0; j < c1; ++j) d[j] += g[j];
      }
    });
    return;
  }
  // Narrow rows: sort keys (id << 32 | position); equal ids are then contiguous and in position order.
  std::vector<uint64_t> keys;
  keys.reserve(size_t(N));
  for (int64_t i = 0; i < N; ++i)
    if (ids[i] != padding_id) keys.push_back((uint64_t(uint32_t(ids[i])) << 32) | uint64_t(i));
  std::sort(keys.begin(), keys.end());
  std::vector<int64_t> starts;  // start of each run of one id in keys, plus the end
  for (size_t k = 0; k < keys.size(); ++k)
    if (k == 0 || (keys[k] >> 32) != (keys[k - 1] >> 32)) starts.push_back(int64_t(k));
  starts.push_back(int64_t(keys.size()));
  const int64_t runs = int64_t(starts.size()) - 1;
  const int64_t avg_rows = runs > 0 ? std::max<int64_t>(1, int64_t(keys.size()) / runs) : 1;
  parallel_for(runs, detail::embedding_grain(C * avg_rows), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t v = int64_t(keys[size_t(starts[size_t(r)])] >> 32);
      T* d = dtable + v * C;
      for (int64_t k = starts[size_t(r)]; k < starts[size_t(r + 1)]; ++k) {
        const T* g = dout + int64_t(keys[size_t(k)] & 0xffffffffu) * C;
        for (int64_t j = 0; j < C; ++j) d[j] += g[j];
      }
    }
  });
}

}  // namespace simad::ops
