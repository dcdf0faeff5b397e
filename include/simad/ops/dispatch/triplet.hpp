// simad/ops/dispatch/triplet.hpp: batch-hard triplet loss on Tensors (simad/ops/triplet.hpp), run on
// the tensors' device (CPU op or kernels/triplet.cu, whose selections equal the CPU's bit for bit).
//   T ops::batch_hard_triplet_forward(hardest_pos, hardest_neg, skipped, emb, labels, margin, dist)
//       returns the loss (on CUDA: copied to the host, which synchronises); hardest_pos / hardest_neg
//       (B) int32 saved for the backward; skipped (host int64) receives the anchors without a positive
//       or a negative
//   ops::batch_hard_triplet_backward(demb, dloss, emb, hardest_pos, hardest_neg, margin, dist)
//       demb (B, D) ACCUMULATES
// emb (B, D), labels (B) int32. All tensors on the CPU or all on Device::cuda (float; needs simad::kernels).
#pragma once

#include <cstdint>
#include <cstring>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
#include "simad/ops/triplet.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/triplet.hpp"
#endif

namespace simad::ops {

template <typename T>
T batch_hard_triplet_forward(const Tensor<int32_t>& hardest_pos, const Tensor<int32_t>& hardest_neg, int64_t* skipped,
                             const Tensor<T>& emb, const Tensor<int32_t>& labels, T margin,
                             TripletDistance dist = TripletDistance::Squared) {
  constexpr const char* op = "batch_hard_triplet_forward";
  SIMAD_CHECK(emb.defined() && emb.rank() == 2, op, ": emb must be (B, D)");
  const int64_t B = emb.dim(0), D = emb.dim(1);
  for (const Tensor<int32_t>* t : {&hardest_pos, &hardest_neg, &labels})
    SIMAD_CHECK(t->defined() && t->numel() == B, op, ": hardest_pos, hardest_neg and labels must have B=", B,
                " elements");
  T loss = T(0);
  int64_t skip = 0;
  detail::on_device<T>(
      op, detail::defined_common_device(op, hardest_pos, hardest_neg, emb, labels),
      [&] {
        batch_hard_triplet_forward(&loss, hardest_pos.data(), hardest_neg.data(), &skip, emb.data(), labels.data(), B,
                                   D, margin, dist);
      },
      [&] {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
        if constexpr (std::is_same_v<T, float>) {
          // The skip count and the loss in one device buffer (element 0: the count, element 1: the
          // loss's float bits), copied to the host: that copy is the call's one wait for the device.
          const Tensor<int64_t> d_out = Tensor<int64_t>::empty({2}, Device::cuda);
          Tensor<int64_t> out;
          detail::with_cuda_workspace(cuda::kernels::triplet_workspace_bytes(B), [&](void* workspace, size_t bytes) {
            cuda::kernels::batch_hard_triplet_forward(reinterpret_cast<float*>(d_out.data() + 1), hardest_pos.data(),
                                                      hardest_neg.data(), d_out.data(), emb.data(), labels.data(), B,
                                                      D, margin, dist, workspace, bytes);
            out = cuda::to_host(d_out);
          });
          skip = out.data()[0];
          std::memcpy(&loss, out.data() + 1, sizeof(float));
        }
#endif
      });
  if (skipped) *skipped = skip;
  return loss;
}

template <typename T>
void batch_hard_triplet_backward(const Tensor<T>& demb, T dloss, const Tensor<T>& emb,
                                 const Tensor<int32_t>& hardest_pos, const Tensor<int32_t>& hardest_neg, T margin,
                                 TripletDistance dist = TripletDistance::Squared) {
  constexpr const char* op = "batch_hard_triplet_backward";
  if (!demb.defined()) return;
  SIMAD_CHECK(emb.defined() && emb.rank() == 2 && demb.numel() == emb.numel(), op, ": emb and demb must be (B, D)");
  const int64_t B = emb.dim(0), D = emb.dim(1);
  SIMAD_CHECK(hardest_pos.numel() == B && hardest_neg.numel() == B, op, ": hardest_pos / hardest_neg must have B=", B,
              " elements");
  detail::on_device<T>(
      op, detail::defined_common_device(op, demb, emb, hardest_pos, hardest_neg),
      [&] {
        batch_hard_triplet_backward(demb.data(), dloss, emb.data(), hardest_pos.data(), hardest_neg.data(), B, D,
                                    margin, dist);
      },
      [&] {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
        if constexpr (std::is_same_v<T, float>) {
          detail::with_cuda_workspace(cuda::kernels::triplet_workspace_bytes(B), [&](void* workspace, size_t bytes) {
            cuda::kernels::batch_hard_triplet_backward(demb.data(), dloss, emb.data(), hardest_pos.data(),
                                                       hardest_neg.data(), B, D, margin, dist, workspace, bytes);
          });
        }
#endif
      });
}

}  // namespace simad::ops
