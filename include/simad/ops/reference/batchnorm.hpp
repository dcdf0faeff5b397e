// simad/ops/reference/batchnorm.hpp: the readable specification of ops/batchnorm.hpp (same names, same
// arguments, same semantics), in plain loops with double accumulators, one thread. Used by the tests;
// never by the library itself. Darknet's batch normalisation over (B, C, HW) maps, per channel c:
// Training (batchnorm_forward_train), with N = B * HW values per channel:
//   mean[c] = sum x / N,   var[c] = sum (x - mean)^2 / (N - 1)      (unbiased, Darknet's variance_cpu)
//   xhat    = (x - mean) / d(var),   y = scale[c] * xhat + bias[c]
//   running_mean = (1 - momentum) running_mean + momentum mean      (momentum 0.01; either running
//   running_var  = (1 - momentum) running_var  + momentum var        pointer may be null: not updated)
// Inference (batchnorm_forward_inference): the same with running_mean / running_var.
// d(var) is the fork's (FACTS.md): pjreddie d = sqrt(var) + 1e-6, AlexeyAB d = sqrt(var + 1e-5).
// Backward: the exact gradient of the training forward, g = dy * scale; ACCUMULATES (any gradient
// may be null):
//   dbias += sum dy,   dscale += sum dy * xhat,
//   dL/dvar = -(sum g * xhat) / d * d'(var)     (d' = 1 / (2 sqrt(var)) pjreddie, 1 / (2 d) AlexeyAB)
//   dx      += g / d + dL/dvar * 2 (x - mean) / (N - 1) - (sum g) / (d N)
// The forwards OVERWRITE out (out may alias inp). BatchNormVariant is the op's own
// (ops/batchnorm_variant.hpp, an enum alone).
#pragma once

#include <cmath>
#include <cstdint>

#include "simad/ops/batchnorm_variant.hpp"

namespace simad::ops::reference {

using simad::ops::BatchNormVariant;

inline constexpr double kBatchNormMomentum = 0.01;

inline double batchnorm_denominator(double var, BatchNormVariant v) {
  return v == BatchNormVariant::pjreddie ? std::sqrt(var) + 1e-6 : std::sqrt(var + 1e-5);
}
inline double batchnorm_denominator_derivative(double var, BatchNormVariant v) {
  return v == BatchNormVariant::pjreddie ? 0.5 / std::sqrt(var) : 0.5 / std::sqrt(var + 1e-5);
}

template <typename T>
void batchnorm_forward_train(T* out,           // (B, C, HW)
                             T* mean,          // (C) batch mean
                             T* var,           // (C) batch variance, unbiased
                             T* running_mean,  // (C) updated, or null
                             T* running_var,   // (C) updated, or null
                             const T* inp,     // (B, C, HW)
                             const T* scale,   // (C)
                             const T* bias,    // (C)
                             int64_t B, int64_t C, int64_t HW, BatchNormVariant variant,
                             T momentum = T(kBatchNormMomentum)) {
  const int64_t N = B * HW;
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) sum += double(inp[(b * C + c) * HW + i]);
    const double m = sum / double(N);
    double sq = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const double dx = double(inp[(b * C + c) * HW + i]) - m;
        sq += dx * dx;
      }
    const double v = sq / double(N - 1);
    mean[c] = T(m);
    var[c] = T(v);
    const double mo = double(momentum);
    if (running_mean) running_mean[c] = T((1 - mo) * double(running_mean[c]) + mo * m);
    if (running_var) running_var[c] = T((1 - mo) * double(running_var[c]) + mo * v);
    const double d = batchnorm_denominator(v, variant);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (b * C + c) * HW + i;
        out[k] = T(double(scale[c]) * (double(inp[k]) - m) / d + double(bias[c]));
      }
  }
}

template <typename T>
void batchnorm_forward_inference(T* out,                 // (B, C, HW)
                                 const T* inp,           // (B, C, HW)
                                 const T* scale,         // (C)
                                 const T* bias,          // (C)
                                 const T* running_mean,  // (C)
                                 const T* running_var,   // (C)
                                 int64_t B, int64_t C, int64_t HW, BatchNormVariant variant) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (b * C + c) * HW + i;
        const double d = batchnorm_denominator(double(running_var[c]), variant);
        out[k] = T(double(scale[c]) * (double(inp[k]) - double(running_mean[c])) / d + double(bias[c]));
      }
}

template <typename T>
void batchnorm_backward(T* dinp,         // (B, C, HW) or null
                        T* dscale,       // (C) or null
                        T* dbias,        // (C) or null
                        const T* dout,   // (B, C, HW)
                        const T* inp,    // (B, C, HW) the forward input
                        const T* mean,   // (C)
                        const T* var,    // (C)
                        const T* scale,  // (C)
                        int64_t B, int64_t C, int64_t HW, BatchNormVariant variant) {
  const int64_t N = B * HW;
  for (int64_t c = 0; c < C; ++c) {
    const double m = double(mean[c]), v = double(var[c]), s = double(scale[c]);
    const double d = batchnorm_denominator(v, variant);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (b * C + c) * HW + i;
        sum_dy += double(dout[k]);
        sum_dy_xhat += double(dout[k]) * (double(inp[k]) - m) / d;
      }
    if (dbias) dbias[c] = T(double(dbias[c]) + sum_dy);
    if (dscale) dscale[c] = T(double(dscale[c]) + sum_dy_xhat);
    if (!dinp) continue;
    // dL/dvar, with sum g xhat = s sum_dy_xhat
    const double dvar = -s * sum_dy_xhat / d * batchnorm_denominator_derivative(v, variant);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (b * C + c) * HW + i;
        const double g = double(dout[k]) * s;
        const double dx = g / d + dvar * 2 * (double(inp[k]) - m) / double(N - 1) - s * sum_dy / (d * double(N));
        dinp[k] = T(double(dinp[k]) + dx);
      }
  }
}

}  // namespace simad::ops::reference
