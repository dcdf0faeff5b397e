// simad/ops/dispatch/adam.hpp: the Adam/AdamW step on Tensors, run on the tensors' device.
//   train::adam_update(params, grads, m, v, t, options, mode)
// The same update as the pointer form in simad/train/optimizer.hpp. All four tensors have the same
// element count and sit on the CPU, or all on Device::cuda (float; needs simad::kernels, which defines
// SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw simad::Error. CUDA work is asynchronous on the
// default stream.
#pragma once

#include <cstdint>
#include <type_traits>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/gemm.hpp"  // ops::detail::common_device, ops::detail::no_cuda_kernels
#include "simad/train/optimizer.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/adam.hpp"
#endif

namespace simad::train {

template <typename T>
void adam_update(const Tensor<T>& params, const Tensor<T>& grads, const Tensor<T>& m, const Tensor<T>& v, int64_t t,
                 const AdamOptions& o, WeightDecay mode) {
  SIMAD_CHECK(params.defined() && grads.defined() && m.defined() && v.defined(), "adam_update: undefined tensor");
  const int64_t n = params.numel();
  SIMAD_CHECK(grads.numel() == n && m.numel() == n && v.numel() == n, "adam_update: element counts differ: params ",
              params.shape(), " grads ", grads.shape(), " m ", m.shape(), " v ", v.shape());
  if (ops::detail::common_device("adam_update", params, grads, m, v) == Device::cuda) {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
    SIMAD_CHECK((std::is_same_v<T, float>), "adam_update: CUDA tensors must be float (the CUDA kernels are float only)");
    check_adam_options(o, "adam_update");
    if constexpr (std::is_same_v<T, float>)
      cuda::kernels::adam_update(params.data(), grads.data(), m.data(), v.data(), n, t, o.lr, o.beta1, o.beta2, o.eps,
                                 o.weight_decay, mode == WeightDecay::decoupled);
    return;
#else
    ops::detail::no_cuda_kernels("adam_update");
#endif
  }
  adam_update(params.data(), grads.data(), m.data(), v.data(), n, t, o, mode);
}

}  // namespace simad::train
