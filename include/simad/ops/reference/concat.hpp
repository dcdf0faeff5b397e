// simad/ops/reference/concat.hpp: the readable specification of ops/concat.hpp (same names, same
// arguments, same semantics), in plain loops, one thread. Used by the tests; never by the library.
// Concatenate / split row-major arrays along one axis. For shape (d_0, ..., d_k, ..., d_n) and axis k,
//   outer = d_0 ... d_{k-1},   inner extent of a part = d_k * d_{k+1} ... d_n
// so part p is (outer, sizes[p]) and the whole is (outer, total), total = sum_p sizes[p]:
//   whole[r, off_p + j] = part_p[r, j],   off_p = sum_{q<p} sizes[q]
//   concat_forward:  out   = concat(parts)            split_forward:  outs[p] = part p of inp
//   concat_backward: dparts[p] += part p of dout      split_backward: dinp   += concat(douts)
// Null pointers: dparts[p] (or dinp) skipped in the backwards, outs[p] not written, douts[p] = zeros.
#pragma once

#include <cstdint>
#include <span>
#include <type_traits>

namespace simad::ops::reference {

template <typename T>
void concat_forward(T* out,                                                 // (outer, total)
                    std::type_identity_t<std::span<const T* const>> parts,  // part p: (outer, part_sizes[p])
                    std::span<const int64_t> part_sizes, int64_t outer) {
  int64_t total = 0;
  for (int64_t n : part_sizes) total += n;
  for (int64_t r = 0; r < outer; ++r) {
    int64_t off = 0;
    for (size_t p = 0; p < parts.size(); ++p) {
      for (int64_t j = 0; j < part_sizes[p]; ++j) out[r * total + off + j] = parts[p][r * part_sizes[p] + j];
      off += part_sizes[p];
    }
  }
}

template <typename T>
void concat_backward(std::type_identity_t<std::span<T* const>> dparts,  // part p: (outer, part_sizes[p]) or null
                     const T* dout,                                     // (outer, total)
                     std::span<const int64_t> part_sizes, int64_t outer) {
  int64_t total = 0;
  for (int64_t n : part_sizes) total += n;
  for (int64_t r = 0; r < outer; ++r) {
    int64_t off = 0;
    for (size_t p = 0; p < dparts.size(); ++p) {
      if (T* d = dparts[p])
        for (int64_t j = 0; j < part_sizes[p]; ++j) {
          T& x = d[r * part_sizes[p] + j];
          x = T(double(x) + double(dout[r * total + off + j]));
        }
      off += part_sizes[p];
    }
  }
}

template <typename T>
void split_forward(std::type_identity_t<std::span<T* const>> outs,  // part p: (outer, part_sizes[p]) or null
                   const T* inp,                                    // (outer, total)
                   std::span<const int64_t> part_sizes, int64_t outer) {
  int64_t total = 0;
  for (int64_t n : part_sizes) total += n;
  for (int64_t r = 0; r < outer; ++r) {
    int64_t off = 0;
    for (size_t p = 0; p < outs.size(); ++p) {
      if (T* o = outs[p])
        for (int64_t j = 0; j < part_sizes[p]; ++j) o[r * part_sizes[p] + j] = inp[r * total + off + j];
      off += part_sizes[p];
    }
  }
}

template <typename T>
void split_backward(T* dinp,                                                // (outer, total) or null
                    std::type_identity_t<std::span<const T* const>> douts,  // part p: (outer, part_sizes[p]) or null
                    std::span<const int64_t> part_sizes, int64_t outer) {
  if (!dinp) return;
  int64_t total = 0;
  for (int64_t n : part_sizes) total += n;
  for (int64_t r = 0; r < outer; ++r) {
    int64_t off = 0;
    for (size_t p = 0; p < douts.size(); ++p) {
      if (const T* g = douts[p])
        for (int64_t j = 0; j < part_sizes[p]; ++j) {
          T& x = dinp[r * total + off + j];
          x = T(double(x) + double(g[r * part_sizes[p] + j]));
        }
      off += part_sizes[p];
    }
  }
}

}  // namespace simad::ops::reference
