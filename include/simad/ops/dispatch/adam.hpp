// simad/ops/dispatch/adam.hpp: the Adam/AdamW step on Tensors, run on the tensors' device.
//   train::adam_update(params, grads, m, v, t, options, mode)
// The same update as the pointer form in simad/train/optimizer.hpp. All four tensors have the same
// element count and sit on the CPU, or all on Device::cuda (float; needs simad::kernels, which defines
// SIMAD_HAVE_CUDA_KERNELS). Mixed devices throw simad::Error. CUDA work is asynchronous on the
// default stream.
#pragma once

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/ops/dispatch/common.hpp"
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
  ops::detail::on_device<T>(
      "adam_update", ops::detail::common_device("adam_update", params, grads, m, v),
      [&] { adam_update(params.data(), grads.data(), m.data(), v.data(), n, t, o, mode); },
      [&] {
        check_adam_options(o, "adam_update");
        SIMAD_CUDA_KERNEL_CALL(T, adam_update(params.data(), grads.data(), m.data(), v.data(), n, t, o.lr, o.beta1,
                                              o.beta2, o.eps, o.weight_decay, mode == WeightDecay::decoupled));
      });
}

}  // namespace simad::train
