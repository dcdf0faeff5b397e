// simad/ops/dispatch/concat.hpp: concatenation along the last axis on Tensors (simad/ops/concat.hpp),
// run on the tensors' device (CPU op or kernels/concat.cu, one launch per part).
//   ops::concat_forward(out, {a, b, ...})       out (..., sum of widths) OVERWRITTEN
//   ops::concat_backward({da, db, ...}, dout)   each d-part ACCUMULATES its columns of dout
// Part p is (..., width_p) with the same number of rows (elements / width) as out; every part is defined
// (its width is needed). All on the CPU or all on Device::cuda (float; needs simad::kernels).
#pragma once

#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/concat.hpp"
#include "simad/ops/dispatch/common.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/concat.hpp"
#endif

namespace simad::ops {

namespace detail {
// rows = the whole's leading elements; widths of the parts (their last dimension); checks and device.
template <typename T>
Device concat_layout(const char* op, const Tensor<T>& whole, std::span<const Tensor<T>> parts, int64_t& rows,
                     std::vector<int64_t>& widths) {
  int64_t total = 0;
  rows_cols(op, whole, rows, total);
  widths.clear();
  int64_t sum = 0;
  Device device = whole.device();
  for (const Tensor<T>& p : parts) {
    SIMAD_CHECK(p.defined() && p.rank() >= 1, op, ": every part must be defined, rank >= 1");
    const int64_t w = p.dim(-1);
    SIMAD_CHECK(p.numel() == rows * w, op, ": part ", p.shape(), " does not have ", rows, " rows");
    SIMAD_CHECK(p.device() == device, op, ": tensors on different devices");
    widths.push_back(w);
    sum += w;
  }
  SIMAD_CHECK(sum == total, op, ": the parts' widths add up to ", sum, ", the whole has ", total);
  return device;
}
}  // namespace detail

template <typename T>
void concat_forward(const Tensor<T>& out, std::span<const Tensor<T>> parts) {
  constexpr const char* op = "concat_forward";
  int64_t rows = 0;
  std::vector<int64_t> widths;
  detail::on_device<T>(
      op, detail::concat_layout(op, out, parts, rows, widths),
      [&] {
        std::vector<const T*> ptrs;
        for (const Tensor<T>& p : parts) ptrs.push_back(p.data());
        concat_forward<T>(out.data(), ptrs, widths, rows);
      },
      [&] {
        int64_t offset = 0;
        for (size_t p = 0; p < parts.size(); ++p) {
          SIMAD_CUDA_KERNEL_CALL(
              T, concat_part_forward(out.data(), parts[p].data(), rows, out.dim(-1), offset, widths[p]));
          offset += widths[p];
        }
      });
}
template <typename T>
void concat_forward(const Tensor<T>& out, std::initializer_list<Tensor<T>> parts) {
  concat_forward(out, std::span<const Tensor<T>>(parts.begin(), parts.size()));
}

template <typename T>
void concat_backward(std::span<const Tensor<T>> dparts, const Tensor<T>& dout) {
  constexpr const char* op = "concat_backward";
  int64_t rows = 0;
  std::vector<int64_t> widths;
  detail::on_device<T>(
      op, detail::concat_layout(op, dout, dparts, rows, widths),
      [&] {
        std::vector<T*> ptrs;
        for (const Tensor<T>& p : dparts) ptrs.push_back(p.data());
        concat_backward<T>(ptrs, dout.data(), widths, rows);
      },
      [&] {
        int64_t offset = 0;
        for (size_t p = 0; p < dparts.size(); ++p) {
          SIMAD_CUDA_KERNEL_CALL(
              T, concat_part_backward(dparts[p].data(), dout.data(), rows, dout.dim(-1), offset, widths[p]));
          offset += widths[p];
        }
      });
}
template <typename T>
void concat_backward(std::initializer_list<Tensor<T>> dparts, const Tensor<T>& dout) {
  concat_backward(std::span<const Tensor<T>>(dparts.begin(), dparts.size()), dout);
}

}  // namespace simad::ops
