// simad/ops/dispatch/linear.hpp: a fully connected layer on Tensors (simad/ops/linear.hpp), run on the
// tensors' device: on CUDA the products go through the GEMM (cuBLAS, or the tiled kernel when
// emulated) and the bias through kernels/linear.cu.
//   ops::linear_forward(out, inp, weight, bias)                      out (N, OC) OVERWRITTEN
//   ops::linear_backward(dinp, dweight, dbias, dout, inp, weight)    ACCUMULATE; undefined: skipped
// inp (..., C) and out/dout (..., OC) are read as (N, C) and (N, OC) matrices (N = the product of the
// leading dimensions); weight (OC, C); bias (OC) or undefined (no bias). The defined tensors all sit
// on the CPU or all on Device::cuda (float; needs simad::kernels).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/linear.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/gemm.hpp"
#include "simad/cuda/kernels/linear.hpp"
#endif

namespace simad::ops {

namespace detail {
// N, C, OC from inp (..., C), weight (OC, C) and out (..., OC); the optional bias / gradients checked.
template <typename T>
void linear_sizes(const char* op, const Tensor<T>& inp, const Tensor<T>& weight, const Tensor<T>& out,
                  int64_t& N, int64_t& C, int64_t& OC) {
  SIMAD_CHECK(inp.defined() && weight.defined() && out.defined(), op, ": undefined input, weight or output");
  SIMAD_CHECK(weight.rank() == 2, op, ": weight must be (OC, C), got ", weight.shape());
  OC = weight.dim(0), C = weight.dim(1);
  SIMAD_CHECK(inp.rank() >= 1 && inp.dim(-1) == C, op, ": input ", inp.shape(), " must end in C=", C);
  N = 1;
  for (int d = 0; d + 1 < inp.rank(); ++d) N *= inp.dim(d);
  SIMAD_CHECK(out.numel() == N * OC && (out.rank() >= 1 && out.dim(-1) == OC), op, ": output ", out.shape(),
              " must be (N=", N, ", OC=", OC, ")");
}
}  // namespace detail

template <typename T>
void linear_forward(const Tensor<T>& out, const Tensor<T>& inp, const Tensor<T>& weight, const Tensor<T>& bias) {
  constexpr const char* op = "linear_forward";
  int64_t N = 0, C = 0, OC = 0;
  detail::linear_sizes(op, inp, weight, out, N, C, OC);
  SIMAD_CHECK(!bias.defined() || bias.numel() == OC, op, ": bias ", bias.shape(), " must have OC=", OC, " elements");
  detail::on_device<T>(
      op, detail::defined_common_device(op, out, inp, weight, bias),
      [&] { linear_forward(out.data(), inp.data(), weight.data(), detail::data_or_null(bias), N, C, OC); },
      [&] {
        if (N == 0 || OC == 0) return;
        [[maybe_unused]] const int64_t ld = std::max<int64_t>(C, 1);
        SIMAD_CUDA_KERNEL_CALL(
            T, gemm(false, true, N, OC, C, 1.0f, inp.data(), ld, weight.data(), ld, 0.0f, out.data(), OC));
        if (bias.defined()) SIMAD_CUDA_KERNEL_CALL(T, linear_bias_forward(out.data(), bias.data(), N, OC));
      });
}

template <typename T>
void linear_backward(const Tensor<T>& dinp, const Tensor<T>& dweight, const Tensor<T>& dbias, const Tensor<T>& dout,
                     const Tensor<T>& inp, const Tensor<T>& weight) {
  constexpr const char* op = "linear_backward";
  int64_t N = 0, C = 0, OC = 0;
  detail::linear_sizes(op, inp, weight, dout, N, C, OC);
  SIMAD_CHECK(!dinp.defined() || dinp.numel() == inp.numel(), op, ": dinp ", dinp.shape(), " differs from inp ",
              inp.shape());
  SIMAD_CHECK(!dweight.defined() || dweight.numel() == weight.numel(), op, ": dweight ", dweight.shape(),
              " differs from weight ", weight.shape());
  SIMAD_CHECK(!dbias.defined() || dbias.numel() == OC, op, ": dbias ", dbias.shape(), " must have OC=", OC,
              " elements");
  T* di = detail::data_or_null(dinp);
  T* dw = detail::data_or_null(dweight);
  T* db = detail::data_or_null(dbias);
  detail::on_device<T>(
      op, detail::defined_common_device(op, dinp, dweight, dbias, dout, inp, weight),
      [&] { linear_backward(di, dw, db, dout.data(), inp.data(), weight.data(), N, C, OC); },
      [&] {
        if (N == 0 || OC == 0) return;
        [[maybe_unused]] const int64_t ld = std::max<int64_t>(C, 1);
        if (di && C > 0)
          SIMAD_CUDA_KERNEL_CALL(
              T, gemm(false, false, N, C, OC, 1.0f, dout.data(), OC, weight.data(), ld, 1.0f, di, ld));
        if (dw && C > 0)
          SIMAD_CUDA_KERNEL_CALL(T, gemm(true, false, OC, C, N, 1.0f, dout.data(), OC, inp.data(), ld, 1.0f, dw, ld));
        if (db) SIMAD_CUDA_KERNEL_CALL(T, linear_bias_backward(db, dout.data(), N, OC));
      });
}

}  // namespace simad::ops
