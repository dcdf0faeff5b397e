// simad/ops/batchnorm_variant.hpp: which Darknet fork's batch-norm denominator to use, shared by the
// op (ops/batchnorm.hpp) and its reference (ops/reference/batchnorm.hpp), so that a call written for
// one compiles unchanged against the other (and the CUDA launchers, simad/cuda/kernels/batchnorm.hpp).
// pjreddie: d = sqrt(var) + 1e-6; AlexeyAB: sqrt(var + 1e-5). Also the running statistics' momentum.
#pragma once

namespace simad::ops {

enum class BatchNormVariant { pjreddie, alexeyab };

inline constexpr double kBatchNormMomentum = 0.01;  // Darknet: rolling = .99 rolling + .01 batch

}  // namespace simad::ops
