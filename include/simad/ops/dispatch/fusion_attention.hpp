// simad/ops/dispatch/fusion_attention.hpp: Tensor-level fusion attention (ION's co-attention of text
// and image regions) that runs on the tensors' device. Tensor overloads of the pointer functions of
// simad/ops/fusion_attention.hpp (semantics there):
//   ops::fusion_attention_forward(h_out, v_out, probs_text, probs_image, H, V, Wf, h_mask, v_mask)
//   ops::fusion_attention_backward(dH, dV, dWf, dh_out, dv_out, H, V, Wf, probs_text, probs_image)
//     H, h_out, dH, dh_out (B, N, D); V, v_out, dV, dv_out (B, K, D); probs_* (B, N, K); Wf, dWf (D, D);
//     h_mask (B, N), v_mask (B, K) or nullptr. An undefined Wf is the identity. The forward OVERWRITES
//     its outputs; the backward ACCUMULATES into dH, dV, dWf, each skipped when undefined (dWf also
//     when Wf is undefined).
// Masks are Tensor<uint8_t> pointers (1 = real, 0 = padding); nullptr or an undefined tensor = no padding.
// The defined tensors all sit on the CPU, or all on Device::cuda (float; needs simad::kernels, which
// defines SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw simad::Error. The CUDA kernel has a limit the CPU
// op does not (its launcher throws): N * K <= kCudaFusionMaxScores per ad. With Wf, CUDA's device
// workspace (B K D floats forward, 2 B K D backward) is the calling thread's cached buffer
// (detail::cuda_workspace); CUDA work is asynchronous on the default stream.
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/fusion_attention.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/fusion_attention.hpp"
#endif

namespace simad::ops {

namespace detail {
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
  if (Wf.defined()) expect_shape(op, Wf, Shape{D, D}, "Wf");
}

}  // namespace detail

// h_out (B, N, D) = A V, v_out (B, K, D) = P^T H with S = H Wf V^T per ad (Wf undefined: identity);
// probs_text = A, probs_image = P (B, N, K) saved for the backward.
template <typename T>
void fusion_attention_forward(const Tensor<T>& h_out, const Tensor<T>& v_out, const Tensor<T>& probs_text,
                              const Tensor<T>& probs_image, const Tensor<T>& H, const Tensor<T>& V,
                              const Tensor<T>& Wf, const Tensor<uint8_t>* h_mask, const Tensor<uint8_t>* v_mask) {
  constexpr const char* op = "fusion_attention_forward";
  int64_t B = 0, N = 0, K = 0, D = 0;
  detail::fusion_sizes(op, H, V, Wf, B, N, K, D);
  detail::expect_shape(op, h_out, H.shape(), "h_out");
  detail::expect_shape(op, v_out, V.shape(), "v_out");
  detail::expect_shape(op, probs_text, Shape{B, N, K}, "probs_text");
  detail::expect_shape(op, probs_image, Shape{B, N, K}, "probs_image");
  const Tensor<uint8_t>& hm = detail::optional_mask(op, h_mask, Shape{B, N}, "h_mask");
  const Tensor<uint8_t>& vm = detail::optional_mask(op, v_mask, Shape{B, K}, "v_mask");
  detail::on_device<T>(
      op, detail::defined_common_device(op, h_out, v_out, probs_text, probs_image, H, V, Wf, hm, vm),
      [&] {
        fusion_attention_forward(h_out.data(), v_out.data(), probs_text.data(), probs_image.data(), H.data(),
                                 V.data(), detail::data_or_null(Wf), detail::data_or_null(hm),
                                 detail::data_or_null(vm), B, N, K, D);
      },
      [&] {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
        if constexpr (std::is_same_v<T, float>) {  // with Wf, U = V Wf^T goes through a workspace
          const auto launch = [&](void* workspace, size_t) {
            cuda::kernels::fusion_attention_forward(h_out.data(), v_out.data(), probs_text.data(), probs_image.data(),
                                                    H.data(), V.data(), detail::data_or_null(Wf),
                                                    detail::data_or_null(hm), detail::data_or_null(vm), B, N, K, D,
                                                    static_cast<float*>(workspace));
          };
          if (!Wf.defined()) return launch(nullptr, 0);
          detail::with_cuda_workspace(size_t(B * K * D) * sizeof(float), launch);
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
  detail::expect_shape(op, dh_out, H.shape(), "dh_out");
  detail::expect_shape(op, dv_out, V.shape(), "dv_out");
  detail::expect_shape(op, probs_text, Shape{B, N, K}, "probs_text");
  detail::expect_shape(op, probs_image, Shape{B, N, K}, "probs_image");
  detail::expect_shape_if_defined(op, dH, H.shape(), "dH");
  detail::expect_shape_if_defined(op, dV, V.shape(), "dV");
  detail::expect_shape_if_defined(op, dWf, Shape{D, D}, "dWf");
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
        if constexpr (std::is_same_v<T, float>) {  // with Wf, U = V Wf^T and dU go through a workspace
          const auto launch = [&](void* workspace, size_t) {
            cuda::kernels::fusion_attention_backward(detail::data_or_null(dH), detail::data_or_null(dV),
                                                     detail::data_or_null(dW), dh_out.data(), dv_out.data(), H.data(),
                                                     V.data(), detail::data_or_null(Wf), probs_text.data(),
                                                     probs_image.data(), B, N, K, D, static_cast<float*>(workspace));
          };
          if (!Wf.defined()) return launch(nullptr, 0);
          detail::with_cuda_workspace(size_t(2 * B * K * D) * sizeof(float), launch);
        }
#endif
      });
}

}  // namespace simad::ops
