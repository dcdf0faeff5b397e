// simad/ops/concat.hpp: concatenate / split row-major arrays along one axis.
// Any axis of a row-major tensor reduces to this form: for shape (d_0, ..., d_k, ..., d_n) and axis k,
//   outer = d_0 ... d_{k-1},   inner extent of a part = d_k * d_{k+1} ... d_n
// so part p is (outer, sizes[p]) and the whole is (outer, total), total = sum_p sizes[p]; row r of the
// whole is the rows r of the parts side by side: whole[r, off_p + j] = part_p[r, j], off_p = sum_{q<p} sizes[q].
// (Concatenating the last axis of (N, C_p) arrays: outer = N, sizes = C_p. The first axis: outer = 1.)
//   concat_forward:  out   = concat(parts)            split_forward:  outs[p] = part p of inp
//   concat_backward: dparts[p] += part p of dout      split_backward: dinp   += concat(douts)
// So split is concat's backward with "=" and concat is split's backward with "+=". Pointers to parts
// are given as a span, one per part; part_sizes are the inner extents. A null gradient pointer in
// concat_backward (dparts[p] or dinp) is skipped; a null outs[p] in split_forward is not written; a null
// douts[p] in split_backward counts as zeros. Rows run in parallel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

namespace detail {
// Checks the sizes and returns the total inner extent.
template <typename P>
int64_t concat_check(const char* what, std::span<P> parts, std::span<const int64_t> part_sizes, int64_t outer,
                     bool null_parts_allowed) {
  SIMAD_CHECK(outer >= 0, what, ": negative outer extent ", outer);
  SIMAD_CHECK(parts.size() == part_sizes.size(), what, ": ", parts.size(), " part pointers but ", part_sizes.size(),
              " part sizes");
  int64_t total = 0;
  for (size_t p = 0; p < part_sizes.size(); ++p) {
    SIMAD_CHECK(part_sizes[p] >= 0, what, ": part ", p, " has negative size ", part_sizes[p]);
    SIMAD_CHECK(null_parts_allowed || parts[p] != nullptr || part_sizes[p] == 0 || outer == 0, what, ": part ", p,
                " is null");
    total += part_sizes[p];
  }
  return total;
}

inline int64_t concat_grain(int64_t total) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(total, 1));
}
}  // namespace detail

// out (outer, total) = the parts side by side; part p is (outer, part_sizes[p]).
template <typename T>
void concat_forward(T* out,                                                    // (outer, total)
                    std::type_identity_t<std::span<const T* const>> parts,    // part p: (outer, part_sizes[p])
                    std::span<const int64_t> part_sizes,                     // inner extents
                    int64_t outer) {
  static_assert(std::is_trivially_copyable_v<T>, "concat: trivially copyable element type");
  const int64_t total = detail::concat_check("concat_forward", parts, part_sizes, outer, false);
  if (outer == 0 || total == 0) return;
  SIMAD_CHECK(out != nullptr, "concat_forward: null out");
  parallel_for(outer, detail::concat_grain(total), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      T* y = out + r * total;
      for (size_t p = 0; p < parts.size(); ++p) {
        const int64_t n = part_sizes[p];
        if (n > 0) std::memcpy(y, parts[p] + r * n, size_t(n) * sizeof(T));
        y += n;
      }
    }
  });
}

// dparts[p] += part p of dout. A null dparts[p] is skipped.
template <typename T>
void concat_backward(std::type_identity_t<std::span<T* const>> dparts,  // part p: (outer, part_sizes[p]) or null
                     const T* dout,                                    // (outer, total)
                     std::span<const int64_t> part_sizes, int64_t outer) {
  static_assert(std::is_floating_point_v<T>, "concat: floating-point element type");
  const int64_t total = detail::concat_check("concat_backward", dparts, part_sizes, outer, true);
  if (outer == 0 || total == 0) return;
  SIMAD_CHECK(dout != nullptr, "concat_backward: null dout");
  parallel_for(outer, detail::concat_grain(total), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* g = dout + r * total;
      for (size_t p = 0; p < dparts.size(); ++p) {
        const int64_t n = part_sizes[p];
        if (T* d = dparts[p]) {
          d += r * n;
          for (int64_t j = 0; j < n; ++j) d[j] += g[j];
        }
        g += n;
      }
    }
  });
}

// outs[p] = part p of inp (outer, total). A null outs[p] is not written.
template <typename T>
void split_forward(std::type_identity_t<std::span<T* const>> outs,  // part p: (outer, part_sizes[p]) or null
                   const T* inp,                                    // (outer, total)
                   std::span<const int64_t> part_sizes, int64_t outer) {
  static_assert(std::is_trivially_copyable_v<T>, "split: trivially copyable element type");
  const int64_t total = detail::concat_check("split_forward", outs, part_sizes, outer, true);
  if (outer == 0 || total == 0) return;
  SIMAD_CHECK(inp != nullptr, "split_forward: null inp");
  parallel_for(outer, detail::concat_grain(total), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* x = inp + r * total;
      for (size_t p = 0; p < outs.size(); ++p) {
        const int64_t n = part_sizes[p];
        if (outs[p] && n > 0) std::memcpy(outs[p] + r * n, x, size_t(n) * sizeof(T));
        x += n;
      }
    }
  });
}

// dinp (outer, total) += the douts side by side. A null douts[p] counts as zeros. dinp may be null.
template <typename T>
void split_backward(T* dinp,                                                // (outer, total) or null
                    std::type_identity_t<std::span<const T* const>> douts,  // part p: (outer, part_sizes[p]) or null
                    std::span<const int64_t> part_sizes, int64_t outer) {
  static_assert(std::is_floating_point_v<T>, "split: floating-point element type");
  const int64_t total = detail::concat_check("split_backward", douts, part_sizes, outer, true);
  if (!dinp || outer == 0 || total == 0) return;
  parallel_for(outer, detail::concat_grain(total), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      T* d = dinp + r * total;
      for (size_t p = 0; p < douts.size(); ++p) {
        const int64_t n = part_sizes[p];
        if (const T* g = douts[p]) {
          g += r * n;
          for (int64_t j = 0; j < n; ++j) d[j] += g[j];
        }
        d += n;
      }
    }
  });
}

}  // namespace simad::ops
