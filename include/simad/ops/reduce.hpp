// simad/ops/reduce.hpp: sums and means, over all elements and along either axis of (N, C) rows.
//   all:           s = sum_i x_i            (N) -> (1)      mean: s / N
//   over rows:     s_j = sum_i x_ij         (N, C) -> (C)   mean: s_j / N   (reduces N, e.g. a bias grad)
//   over columns:  s_i = sum_j x_ij         (N, C) -> (N)   mean: s_i / C   (reduces C, one per row)
// Backward broadcasts and ACCUMULATES: dx_i += ds (/ N), dx_ij += ds_j (/ N), dx_ij += ds_i (/ C).
// Determinism: every sum is taken in double (float inputs too) in an order fixed by the shape alone:
//   - all: fixed chunks of kReduceChunk elements, partials added in chunk order (parallel_sum);
//   - over rows: fixed chunks of kReduceRowChunk rows; within a chunk each column is summed in row
//     order, then the chunk partials of a column are added in chunk order (tiles run in parallel);
//   - over columns: each row in column order, rows in parallel.
// So the bits do not depend on the thread count. The mean of zero elements is an error (not NaN).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"

namespace simad::ops {

namespace detail {
inline constexpr int64_t kReduceChunk = int64_t(1) << 14;  // elements per partial sum (all)
inline constexpr int64_t kReduceRowChunk = 256;           // rows per partial sum (over rows)
inline constexpr int64_t kReduceColBlock = 512;           // columns per tile (any value: columns are independent)

// Rows (or columns) per parallel chunk: about 16K elements, so small inputs run inline.
inline int64_t reduce_grain(int64_t other_extent) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(other_extent, 1));
}

template <typename T>
double reduce_sum_all(const T* inp, int64_t N) {
  return parallel_sum<double>(N, kReduceChunk, [&](int64_t b, int64_t e) {
    double s = 0;
    for (int64_t i = b; i < e; ++i) s += double(inp[i]);
    return s;
  });
}

// emit(j, s_j) for every column j of inp (N, C), s_j = sum_i inp[i, j] in double, deterministic (see
// the header comment). emit runs in parallel over disjoint columns.
template <typename T, typename Emit>
void reduce_column_sums(const T* inp, int64_t N, int64_t C, Emit&& emit) {
  if (C == 0) return;
  const int64_t row_chunks = std::max<int64_t>(1, (N + kReduceRowChunk - 1) / kReduceRowChunk);
  const int64_t col_blocks = (C + kReduceColBlock - 1) / kReduceColBlock;
  if (row_chunks == 1) {  // one partial per column: sum straight into emit, column blocks in parallel
    parallel_for(C, reduce_grain(N), [&](int64_t c0, int64_t c1) {
      std::vector<double> acc(size_t(c1 - c0), 0.0);
      for (int64_t i = 0; i < N; ++i) {
        const T* x = inp + i * C;
        for (int64_t j = c0; j < c1; ++j) acc[size_t(j - c0)] += double(x[j]);
      }
      for (int64_t j = c0; j < c1; ++j) emit(j, acc[size_t(j - c0)]);
    });
    return;
  }
  // Tiles (row chunk r, column block k) in parallel, each writing partial[r][block k's columns].
  std::vector<double> partial(size_t(row_chunks * C), 0.0);
  const int64_t tiles = row_chunks * col_blocks;
  const int64_t tile_elems = kReduceRowChunk * std::min(C, kReduceColBlock);
  parallel_for(tiles, std::max<int64_t>(1, (int64_t(1) << 14) / tile_elems), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r = t / col_blocks, k = t % col_blocks;
      const int64_t i0 = r * kReduceRowChunk, i1 = std::min(N, i0 + kReduceRowChunk);
      const int64_t c0 = k * kReduceColBlock, c1 = std::min(C, c0 + kReduceColBlock);
      double* acc = partial.data() + r * C;
      for (int64_t i = i0; i < i1; ++i) {
        const T* x = inp + i * C;
        for (int64_t j = c0; j < c1; ++j) acc[j] += double(x[j]);
      }
    }
  });
  parallel_for(C, reduce_grain(row_chunks), [&](int64_t c0, int64_t c1) {
    for (int64_t j = c0; j < c1; ++j) {
      double s = 0;
      for (int64_t r = 0; r < row_chunks; ++r) s += partial[size_t(r * C + j)];
      emit(j, s);
    }
  });
}

inline void reduce_check(const char* what, int64_t N, int64_t C) {
  SIMAD_CHECK(N >= 0 && C >= 0, what, ": negative size N=", N, " C=", C);
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Over all elements: out (1) = sum (or mean) of inp (N). N is the element count (any shape, flat).
template <typename T>
void sum_forward(T* out,        // (1)
                 const T* inp,  // (N)
                 int64_t N) {
  static_assert(std::is_floating_point_v<T>, "sum: floating-point element type");
  SIMAD_CHECK(N >= 0, "sum_forward: negative size N=", N);
  SIMAD_CHECK(out != nullptr && (N == 0 || inp != nullptr), "sum_forward: null out or inp for N=", N);
  out[0] = T(detail::reduce_sum_all(inp, N));
}

template <typename T>
void mean_forward(T* out,        // (1)
                  const T* inp,  // (N)
                  int64_t N) {
  static_assert(std::is_floating_point_v<T>, "mean: floating-point element type");
  SIMAD_CHECK(N >= 1, "mean_forward: the mean of ", N, " elements is undefined");
  SIMAD_CHECK(out != nullptr && inp != nullptr, "mean_forward: null out or inp for N=", N);
  out[0] = T(detail::reduce_sum_all(inp, N) / double(N));
}

// dinp_i += dout (sum) or dout / N (mean). dinp may be nullptr (skipped).
template <typename T>
void sum_backward(T* dinp,        // (N)
                  const T* dout,  // (1)
                  int64_t N) {
  SIMAD_CHECK(N >= 0, "sum_backward: negative size N=", N);
  if (!dinp || N == 0) return;
  SIMAD_CHECK(dout != nullptr, "sum_backward: null dout");
  const T g = dout[0];
  parallel_for(N, detail::kReduceChunk, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dinp[i] += g;
  });
}

template <typename T>
void mean_backward(T* dinp,        // (N)
                   const T* dout,  // (1)
                   int64_t N) {
  SIMAD_CHECK(N >= 1, "mean_backward: the mean of ", N, " elements is undefined");
  if (!dinp) return;
  SIMAD_CHECK(dout != nullptr, "mean_backward: null dout");
  const T g = T(double(dout[0]) / double(N));
  sum_backward(dinp, &g, N);
}

// ---------------------------------------------------------------------------------------------
// Over rows (reduces N): out (C), out_j = sum_i inp_ij (or / N).
template <typename T>
void sum_over_rows_forward(T* out,        // (C)
                           const T* inp,  // (N, C)
                           int64_t N, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "sum_over_rows: floating-point element type");
  detail::reduce_check("sum_over_rows_forward", N, C);
  if (C == 0) return;
  SIMAD_CHECK(out != nullptr && (N == 0 || inp != nullptr), "sum_over_rows_forward: null out or inp for N=", N,
              " C=", C);
  detail::reduce_column_sums(inp, N, C, [&](int64_t j, double s) { out[j] = T(s); });
}

template <typename T>
void mean_over_rows_forward(T* out,        // (C)
                            const T* inp,  // (N, C)
                            int64_t N, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "mean_over_rows: floating-point element type");
  detail::reduce_check("mean_over_rows_forward", N, C);
  SIMAD_CHECK(N >= 1, "mean_over_rows_forward: the mean over ", N, " rows is undefined");
  if (C == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "mean_over_rows_forward: null out or inp for N=", N, " C=", C);
  const double n = double(N);
  detail::reduce_column_sums(inp, N, C, [&](int64_t j, double s) { out[j] = T(s / n); });
}

// dinp_ij += dout_j (sum) or dout_j / N (mean). dinp may be nullptr (skipped).
template <typename T>
void sum_over_rows_backward(T* dinp,        // (N, C)
                            const T* dout,  // (C)
                            int64_t N, int64_t C) {
  detail::reduce_check("sum_over_rows_backward", N, C);
  if (!dinp || N == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr, "sum_over_rows_backward: null dout");
  parallel_for(N, detail::reduce_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T* dx = dinp + i * C;
      for (int64_t j = 0; j < C; ++j) dx[j] += dout[j];
    }
  });
}

template <typename T>
void mean_over_rows_backward(T* dinp,        // (N, C)
                             const T* dout,  // (C)
                             int64_t N, int64_t C) {
  detail::reduce_check("mean_over_rows_backward", N, C);
  SIMAD_CHECK(N >= 1, "mean_over_rows_backward: the mean over ", N, " rows is undefined");
  if (!dinp || C == 0) return;
  SIMAD_CHECK(dout != nullptr, "mean_over_rows_backward: null dout");
  std::vector<T> g(static_cast<size_t>(C));
  for (int64_t j = 0; j < C; ++j) g[size_t(j)] = T(double(dout[j]) / double(N));
  sum_over_rows_backward(dinp, g.data(), N, C);
}

// ---------------------------------------------------------------------------------------------
// Over columns (reduces C): out (N), out_i = sum_j inp_ij (or / C).
namespace detail {
template <typename T>
void reduce_row_sums(T* out, const T* inp, int64_t N, int64_t C, double scale) {
  parallel_for(N, reduce_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* x = inp + i * C;
      double s = 0;
      for (int64_t j = 0; j < C; ++j) s += double(x[j]);
      out[i] = T(s * scale);
    }
  });
}
}  // namespace detail

template <typename T>
void sum_over_cols_forward(T* out,        // (N)
                           const T* inp,  // (N, C)
                           int64_t N, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "sum_over_cols: floating-point element type");
  detail::reduce_check("sum_over_cols_forward", N, C);
  if (N == 0) return;
  SIMAD_CHECK(out != nullptr && (C == 0 || inp != nullptr), "sum_over_cols_forward: null out or inp for N=", N,
              " C=", C);
  detail::reduce_row_sums(out, inp, N, C, 1.0);
}

template <typename T>
void mean_over_cols_forward(T* out,        // (N)
                            const T* inp,  // (N, C)
                            int64_t N, int64_t C) {
  static_assert(std::is_floating_point_v<T>, "mean_over_cols: floating-point element type");
  detail::reduce_check("mean_over_cols_forward", N, C);
  SIMAD_CHECK(C >= 1, "mean_over_cols_forward: the mean over ", C, " columns is undefined");
  if (N == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "mean_over_cols_forward: null out or inp for N=", N, " C=", C);
  detail::reduce_row_sums(out, inp, N, C, 1.0 / double(C));
}

namespace detail {
template <typename T>
void reduce_broadcast_rows(T* dinp, const T* dout, int64_t N, int64_t C, double scale) {
  parallel_for(N, reduce_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T g = scale == 1.0 ? dout[i] : T(double(dout[i]) * scale);
      T* dx = dinp + i * C;
      for (int64_t j = 0; j < C; ++j) dx[j] += g;
    }
  });
}
}  // namespace detail

// dinp_ij += dout_i (sum) or dout_i / C (mean). dinp may be nullptr (skipped).
template <typename T>
void sum_over_cols_backward(T* dinp,        // (N, C)
                            const T* dout,  // (N)
                            int64_t N, int64_t C) {
  detail::reduce_check("sum_over_cols_backward", N, C);
  if (!dinp || N == 0 || C == 0) return;
  SIMAD_CHECK(dout != nullptr, "sum_over_cols_backward: null dout");
  detail::reduce_broadcast_rows(dinp, dout, N, C, 1.0);
}

template <typename T>
void mean_over_cols_backward(T* dinp,        // (N, C)
                             const T* dout,  // (N)
                             int64_t N, int64_t C) {
  detail::reduce_check("mean_over_cols_backward", N, C);
  SIMAD_CHECK(C >= 1, "mean_over_cols_backward: the mean over ", C, " columns is undefined");
  if (!dinp || N == 0) return;
  SIMAD_CHECK(dout != nullptr, "mean_over_cols_backward: null dout");
  detail::reduce_broadcast_rows(dinp, dout, N, C, 1.0 / double(C));
}

}  // namespace simad::ops
