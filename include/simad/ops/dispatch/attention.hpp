// simad/ops/dispatch/attention.hpp: Tensor-level self-attention and fusion attention that run on the
// tensors' device. Tensor overloads of the pointer functions of simad/ops/attention.hpp and
// simad/ops/fusion_attention.hpp (semantics there):
//   ops::attention_forward(out, lse, qkv, mask, NH)                  out, lse OVERWRITTEN
//   ops::attention_backward(dqkv, dout, qkv, out, lse, mask, NH)     dqkv ACCUMULATES (undefined: skipped)
//     qkv (B, N, 3C), out / dout (B, N, C), lse (B, NH, N), dqkv (B, N, 3C); mask (B, N) or nullptr.
//   ops::fusion_attention_forward(h_out, v_out, probs_text, probs_image, H, V, Wf, h_mask, v_mask)
//   ops::fusion_attention_backward(dH, dV, dWf, dh_out, dv_out, H, V, Wf, probs_text, probs_image)
//     H, h_out, dH, dh_out (B, N, D); V, v_out, dV, dv_out (B, K, D); probs_* (B, N, K); Wf, dWf (D, D);
//     h_mask (B, N), v_mask (B, K) or nullptr. An undefined Wf is the identity. The forward OVERWRITES
//     its outputs; the backward ACCUMULATES into dH, dV, dWf, each skipped when undefined (dWf also
//     when Wf is undefined).
// Masks are Tensor<uint8_t> pointers (1 = real, 0 = padding); nullptr or an undefined tensor = no padding.
// The defined tensors all sit on the CPU, or all on Device::cuda (float; needs simad::kernels, which
// defines SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw simad::Error. The CUDA kernels have limits the
// CPU ops do not: head size C / NH <= kCudaAttentionMaxHeadSize, N * K <= kCudaFusionMaxScores per ad.
// CUDA work is asynchronous on the default stream, except fusion attention with Wf: it allocates its
// device workspace (B N D floats forward, 2 B N D backward) per call and synchronises before freeing it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/attention.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/fusion_attention.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/attention.hpp"
#include "simad/cuda/kernels/fusion_attention.hpp"
#include "simad/cuda/runtime.hpp"  // the Device::cuda allocator (workspaces), SIMAD_CUDA_CHECK
#endif

namespace simad::ops {

namespace detail {
template <typename T>
void attention_expect(const char* op, const Tensor<T>& t, const Shape& expected, const char* what) {
  SIMAD_CHECK(t.defined(), op, ": ", what, " is undefined, expected shape ", expected);
  SIMAD_CHECK(t.shape() == expected, op, ": ", what, " shape ", t.shape(), ", expected ", expected);
}

// A mask pointer as a tensor (undefined when absent) and its data (nullptr when absent).
inline const Tensor<uint8_t>& attention_mask(const char* op, const Tensor<uint8_t>* mask, const Shape& expected,
                                             const char* what) {
  static const Tensor<uint8_t> none;
  if (!mask || !mask->defined()) return none;
  attention_expect(op, *mask, expected, what);
  return *mask;
}

// B, N, C of qkv (B, N, 3C), and the head count NH checked against C.
template <typename T>
void attention_sizes(const char* op, const Tensor<T>& qkv, int64_t NH, int64_t& B, int64_t& N, int64_t& C) {
  SIMAD_CHECK(qkv.defined(), op, ": qkv is undefined, expected shape (B, N, 3C)");
  SIMAD_CHECK(qkv.rank() == 3 && qkv.dim(2) % 3 == 0, op, ": qkv shape ", qkv.shape(),
              ", expected (B, N, 3C) (rank 3, last dimension a multiple of 3)");
  B = qkv.dim(0);
  N = qkv.dim(1);
  C = qkv.dim(2) / 3;
  SIMAD_CHECK(NH >= 1 && C % NH == 0, op, ": the head count NH=", NH, " must be >= 1 and divide C=", C, " (qkv ",
              qkv.shape(), ")");
}

#if defined(SIMAD_HAVE_CUDA_KERNELS)
inline void attention_cuda_head_size(const char* op, int64_t C, int64_t NH) {
  SIMAD_CHECK(C / NH <= cuda::kernels::kCudaAttentionMaxHeadSize, op, ": head size C / NH = ", C / NH,
              " is above the CUDA kernel's limit of ", cuda::kernels::kCudaAttentionMaxHeadSize,
              " (the CPU op has no limit)");
}
inline void fusion_cuda_scores(const char* op, int64_t N, int64_t K) {
  SIMAD_CHECK(N * K <= cuda::kernels::kCudaFusionMaxScores, op, ": N * K = ", N, " * ", K, " = ", N * K,
              " scores per ad exceed the CUDA kernel's limit of ", cuda::kernels::kCudaFusionMaxScores,
              " (the CPU op has no limit)");
}
#endif

// B, N, K, D of H (B, N, D) and V (B, K, D); Wf (D, D) when defined.
template <typename T>
void fusion_sizes(const char* op, const Tensor<T>& H, const Tensor<T>& V, const Tensor<T>& Wf, int64_t& B,
                  int64_t& N, int64_t& K, int64_t& D) {
  SIMAD_CHECK(H.defined() && H.rank() == 3, op, ": H shape ", H.shape(), ", expected (B, N, D)");
  B = H.dim(0);
  N = H.dim(1);
  D = H.dim(2);
  SIMAD_CHECK(V.defined() && V.rank() == 3 && V.dim(0) == B && V.dim(2) == D, op, ": V shape ", V.shape(),
              ", expected (B, K, D) with B=", B, " D=", D, " (H ", H.shape(), ")");
  K = V.dim(1);
  if (Wf.defined()) attention_expect(op, Wf, Shape{D, D}, "Wf");
}

template <typename T>
void fusion_expect_optional(const char* op, const Tensor<T>& t, const Shape& expected, const char* what) {
  if (t.defined()) attention_expect(op, t, expected, what);
}

template <typename T>
T* data_or_null(const Tensor<T>& t) {
  return t.defined() ? t.data() : nullptr;
}
}  // namespace detail

// out (B, N, C) = multi-head attention of qkv (B, N, 3C); lse (B, NH, N) saved for the backward.
template <typename T>
void attention_forward(const Tensor<T>& out, const Tensor<T>& lse, const Tensor<T>& qkv,
                       const Tensor<uint8_t>* mask, int64_t NH) {
  constexpr const char* op = "attention_forward";
  int64_t B = 0, N = 0, C = 0;
  detail::attention_sizes(op, qkv, NH, B, N, C);
  detail::attention_expect(op, out, Shape{B, N, C}, "out");
  detail::attention_expect(op, lse, Shape{B, NH, N}, "lse");
  const Tensor<uint8_t>& m = detail::attention_mask(op, mask, Shape{B, N}, "mask");
  detail::on_device<T>(
      op, detail::defined_common_device(op, out, lse, qkv, m),
      [&] { attention_forward(out.data(), lse.data(), qkv.data(), detail::data_or_null(m), B, N, C, NH); },
      [&] {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
        detail::attention_cuda_head_size(op, C, NH);
#endif
        SIMAD_CUDA_KERNEL_CALL(
            T, attention_forward(out.data(), lse.data(), qkv.data(), detail::data_or_null(m), B, N, C, NH));
      });
}

// dqkv (B, N, 3C) += the gradient given dout (B, N, C) and the forward's qkv, out, lse, mask; an
// undefined dqkv is skipped.
template <typename T>
void attention_backward(const Tensor<T>& dqkv, const Tensor<T>& dout, const Tensor<T>& qkv, const Tensor<T>& out,
                        const Tensor<T>& lse, const Tensor<uint8_t>* mask, int64_t NH) {
  constexpr const char* op = "attention_backward";
  int64_t B = 0, N = 0, C = 0;
  detail::attention_sizes(op, qkv, NH, B, N, C);
  detail::attention_expect(op, dout, Shape{B, N, C}, "dout");
  detail::attention_expect(op, out, Shape{B, N, C}, "out");
  detail::attention_expect(op, lse, Shape{B, NH, N}, "lse");
  const Tensor<uint8_t>& m = detail::attention_mask(op, mask, Shape{B, N}, "mask");
  if (!dqkv.defined()) return;
  detail::attention_expect(op, dqkv, qkv.shape(), "dqkv");
  detail::on_device<T>(
      op, detail::defined_common_device(op, dqkv, dout, qkv, out, lse, m),
      [&] {
        attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), detail::data_or_null(m), B,
                           N, C, NH);
      },
      [&] {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
        detail::attention_cuda_head_size(op, C, NH);
#endif
        SIMAD_CUDA_KERNEL_CALL(T, attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(),
                                                     detail::data_or_null(m), B, N, C, NH));
      });
}

// h_out (B, N, D) = A V, v_out (B, K, D) = P^T H with S = H Wf V^T per ad (Wf undefined: identity);
// probs_text = A, probs_image = P (B, N, K) saved for the backward.
template <typename T>
void fusion_attention_forward(const Tensor<T>& h_out, const Tensor<T>& v_out, const Tensor<T>& probs_text,
                              const Tensor<T>& probs_image, const Tensor<T>& H, const Tensor<T>& V,
                              const Tensor<T>& Wf, const Tensor<uint8_t>* h_mask, const Tensor<uint8_t>* v_mask) {
  constexpr const char* op = "fusion_attention_forward";
  int64_t B = 0, N = 0, K = 0, D = 0;
  detail::fusion_sizes(op, H, V, Wf, B, N, K, D);
  detail::attention_expect(op, h_out, H.shape(), "h_out");
  detail::attention_expect(op, v_out, V.shape(), "v_out");
  detail::attention_expect(op, probs_text, Shape{B, N, K}, "probs_text");
  detail::attention_expect(op, probs_image, Shape{B, N, K}, "probs_image");
  const Tensor<uint8_t>& hm = detail::attention_mask(op, h_mask, Shape{B, N}, "h_mask");
  const Tensor<uint8_t>& vm = detail::attention_mask(op, v_mask, Shape{B, K}, "v_mask");
  detail::on_device<T>(
      op, detail::defined_common_device(op, h_out, v_out, probs_text, probs_image, H, V, Wf, hm, vm),
      [&] {
        fusion_attention_forward(h_out.data(), v_out.data(), probs_text.data(), probs_image.data(), H.data(),
                                 V.data(), detail::data_or_null(Wf), detail::data_or_null(hm),
                                 detail::data_or_null(vm), B, N, K, D);
      },
      [&] {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
        detail::fusion_cuda_scores(op, N, K);
        if constexpr (std::is_same_v<T, float>) {
          // G = H Wf goes through the workspace (at least one element: a null one is refused with Wf).
          Tensor<float> workspace;
          if (Wf.defined()) workspace = Tensor<float>::empty(Shape{std::max<int64_t>(B * N * D, 1)}, Device::cuda);
          cuda::kernels::fusion_attention_forward(h_out.data(), v_out.data(), probs_text.data(), probs_image.data(),
                                                  H.data(), V.data(), detail::data_or_null(Wf),
                                                  detail::data_or_null(hm), detail::data_or_null(vm), B, N, K, D,
                                                  detail::data_or_null(workspace));
          if (workspace.defined()) SIMAD_CUDA_CHECK(cudaStreamSynchronize(nullptr));  // before the workspace is freed
        }
#endif
      });
}

// dH (B, N, D), dV (B, K, D), dWf (D, D) += the gradients given dh_out, dv_out and the forward's H, V,
// Wf, probs_text, probs_image; each gradient is skipped when undefined (dWf also when Wf is).
template <typename T>
void fusion_attention_backward(const Tensor<T>& dH, const Tensor<T>& dV, const Tensor<T>& dWf,
                               const Tensor<T>& dh_out, const Tensor<T>& dv_out, const Tensor<T>& H,
                               const Tensor<T>& V, const Tensor<T>& Wf, const Tensor<T>& probs_text,
                               const Tensor<T>& probs_image) {
  constexpr const char* op = "fusion_attention_backward";
  int64_t B = 0, N = 0, K = 0, D = 0;
  detail::fusion_sizes(op, H, V, Wf, B, N, K, D);
  detail::attention_expect(op, dh_out, H.shape(), "dh_out");
  detail::attention_expect(op, dv_out, V.shape(), "dv_out");
  detail::attention_expect(op, probs_text, Shape{B, N, K}, "probs_text");
  detail::attention_expect(op, probs_image, Shape{B, N, K}, "probs_image");
  detail::fusion_expect_optional(op, dH, H.shape(), "dH");
  detail::fusion_expect_optional(op, dV, V.shape(), "dV");
  detail::fusion_expect_optional(op, dWf, Shape{D, D}, "dWf");
  const Tensor<T> none;
  const Tensor<T>& dW = Wf.defined() ? dWf : none;  // no Wf, no gradient for it
  if (!dH.defined() && !dV.defined() && !dW.defined()) return;
  detail::on_device<T>(
      op, detail::defined_common_device(op, dH, dV, dW, dh_out, dv_out, H, V, Wf, probs_text, probs_image),
      [&] {
        fusion_attention_backward(detail::data_or_null(dH), detail::data_or_null(dV), detail::data_or_null(dW),
                                  dh_out.data(), dv_out.data(), H.data(), V.data(), detail::data_or_null(Wf),
                                  probs_text.data(), probs_image.data(), B, N, K, D);
      },
      [&] {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
        detail::fusion_cuda_scores(op, N, K);
        if constexpr (std::is_same_v<T, float>) {
          // G = H Wf and dG go through the workspace (at least one element: a null one is refused with Wf).
          Tensor<float> workspace;
          if (Wf.defined())
            workspace = Tensor<float>::empty(Shape{std::max<int64_t>(2 * B * N * D, 1)}, Device::cuda);
          cuda::kernels::fusion_attention_backward(detail::data_or_null(dH), detail::data_or_null(dV),
                                                   detail::data_or_null(dW), dh_out.data(), dv_out.data(), H.data(),
                                                   V.data(), detail::data_or_null(Wf), probs_text.data(),
                                                   probs_image.data(), B, N, K, D, detail::data_or_null(workspace));
          if (workspace.defined()) SIMAD_CUDA_CHECK(cudaStreamSynchronize(nullptr));  // before the workspace is freed
        }
#endif
      });
}

}  // namespace simad::ops
