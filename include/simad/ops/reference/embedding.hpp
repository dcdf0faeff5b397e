// simad/ops/reference/embedding.hpp: the readable specification of ops/embedding.hpp (same names, same
// arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
//   out (N, C) = table (V, C) rows ids (N),   dtable[v] += sum_{i: ids_i = v} dout_i
// Every id must lie in [0, V), else simad::Error (before anything is written). padding_id in [0, V)
// marks a row as padding: its positions output ZEROS and the row receives NO gradient; -1 = none.
// The forward OVERWRITES out; the backward ACCUMULATES into dtable (nullptr: skipped), adding the
// positions in increasing order i. Each addition is rounded once to T (a sum of two floats is exact in
// double), so these bits are the ones a serial loop in T gives, which ops::embedding_backward promises.
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"

namespace simad::ops::reference {

inline void embedding_check_ids(const int32_t* ids, int64_t N, int64_t V) {
  for (int64_t i = 0; i < N; ++i)
    SIMAD_CHECK(ids[i] >= 0 && ids[i] < V, "embedding: id ", ids[i], " at position ", i,
                " is out of range [0, V=", V, ")");
}

template <typename T>
void embedding_forward(T* out,              // (N, C)
                       const int32_t* ids,  // (N) each in [0, V)
                       const T* table,      // (V, C)
                       int64_t N, int64_t C, int64_t V, int32_t padding_id = -1) {
  embedding_check_ids(ids, N, V);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < C; ++j) out[i * C + j] = ids[i] == padding_id ? T(0) : table[int64_t(ids[i]) * C + j];
}

template <typename T>
void embedding_backward(T* dtable,           // (V, C) or nullptr
                        const T* dout,       // (N, C)
                        const int32_t* ids,  // (N) the forward's
                        int64_t N, int64_t C, int64_t V, int32_t padding_id = -1) {
  if (!dtable) return;
  embedding_check_ids(ids, N, V);
  for (int64_t i = 0; i < N; ++i) {
    if (ids[i] == padding_id) continue;
    T* d = dtable + int64_t(ids[i]) * C;
    for (int64_t j = 0; j < C; ++j) d[j] = T(double(d[j]) + double(dout[i * C + j]));
  }
}

}  // namespace simad::ops::reference
