// simad/cuda/kernels/adam.hpp: one Adam/AdamW step on the GPU (kernels/adam.cu), the same update as
// simad::train::adam_update (simad/train/optimizer.hpp): scalar coefficients in double on the host,
// per-element work in float; weight decay added to the gradient (decoupled == false: Adam, L2) or
// applied to the parameter (decoupled == true: AdamW). t is the step number of this update (>= 1).
// params, m, v are updated in place. Pointers are device pointers; bad options throw simad::Error.
// simad/ops/dispatch/adam.hpp takes train::AdamOptions + train::WeightDecay on top of this.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void adam_update(float* params, const float* grads, float* m, float* v, int64_t n, int64_t t, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
