// simad/cuda/kernels/batchnorm.hpp: Darknet's batch normalisation on the GPU (kernels/batchnorm.cu), float,
// (B, C, HW) maps, with the semantics and argument order of simad/ops/batchnorm.hpp (which states the
// formulas): the training forward writes out, the batch mean and unbiased variance, and updates the running
// statistics (either may be null); the inference forward uses the running statistics; the backward is the
// exact gradient of the training forward and ADDS to dinp, dscale, dbias (any may be null). out may alias
// inp. Device pointers; bad shapes throw simad::Error; asynchronous on `stream`. The per-channel sums run
// as one block per channel in a fixed order (the same bits on every run; not the CPU's serial order).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "simad/ops/batchnorm_variant.hpp"

namespace simad::cuda::kernels {

void batchnorm_forward_train(float* out, float* mean, float* var, float* running_mean, float* running_var,
                             const float* inp, const float* scale, const float* bias, int64_t B, int64_t C,
                             int64_t HW, ops::BatchNormVariant variant,
                             float momentum = float(ops::kBatchNormMomentum), cudaStream_t stream = nullptr);

void batchnorm_forward_inference(float* out, const float* inp, const float* scale, const float* bias,
                                 const float* running_mean, const float* running_var, int64_t B, int64_t C,
                                 int64_t HW, ops::BatchNormVariant variant, cudaStream_t stream = nullptr);

void batchnorm_backward(float* dinp, float* dscale, float* dbias, const float* dout, const float* inp,
                        const float* mean, const float* var, const float* scale, int64_t B, int64_t C, int64_t HW,
                        ops::BatchNormVariant variant, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
