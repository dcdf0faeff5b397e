// simad/ops/batchnorm.hpp: Darknet's batch normalisation over (B, C, HW) maps, per channel c,
// training and inference, forward and backward (src/batchnorm_layer.c, src/blas.c).
//
// Training (batchnorm_forward_train), with N = B * HW values per channel:
//   mean[c] = sum x / N,   var[c] = sum (x - mean)^2 / (N - 1)      (unbiased, Darknet's variance_cpu)
//   xhat    = (x - mean) / d(var),   y = scale[c] * xhat + bias[c]
//   running_mean = (1 - momentum) running_mean + momentum mean      (momentum 0.01: Darknet's
//   running_var  = (1 - momentum) running_var  + momentum var        .99 / .01 scal + axpy)
// The batch's own (unbiased) variance normalises it and feeds the running variance.
// Inference (batchnorm_forward_inference) uses running_mean / running_var in the same formula;
// nn/darknet.hpp folds exactly that into the convolution.
// d(var), the denominator, is the fork's (FACTS.md):
//   pjreddie: d = sqrt(var) + 1e-6,   AlexeyAB: d = sqrt(var + 1e-5).
//
// Backward (batchnorm_backward) is the exact gradient of the training forward above (what a finite
// difference measures), with g = dy * scale:
//   dbias += sum dy,   dscale += sum dy * xhat,
//   dL/dvar = -(sum g * xhat) / d * d'(var)     (d' = 1 / (2 sqrt(var)) pjreddie, 1 / (2 d) AlexeyAB)
//   dx      += g / d + dL/dvar * 2 (x - mean) / (N - 1) - (sum g) / (d N)
// Darknet's own backward_batchnorm_layer differs slightly: it uses 1 / sqrt(var + 1e-5) and the
// biased 2 (x - mean) / N in both forks whatever the forward's denominator, so it is not quite the
// gradient of its forward; the difference is O(1/N) and O(eps / sqrt(var)).
// Every backward ADDS to its outputs (simad's rule: gradients accumulate); the forward writes.
#pragma once

#include <cmath>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/batchnorm_variant.hpp"

namespace simad::ops {

// The denominator d(var) of the variant, and its derivative d'(var).
template <typename T>
T batchnorm_denominator(T var, BatchNormVariant v) {
  return v == BatchNormVariant::pjreddie ? std::sqrt(var) + T(1e-6) : std::sqrt(var + T(1e-5));
}
template <typename T>
T batchnorm_denominator_derivative(T var, BatchNormVariant v) {
  return v == BatchNormVariant::pjreddie ? T(0.5) / std::sqrt(var) : T(0.5) / std::sqrt(var + T(1e-5));
}

namespace detail {
inline void batchnorm_check(const char* what, int64_t B, int64_t C, int64_t HW, bool train) {
  SIMAD_CHECK(B >= 1 && C >= 1 && HW >= 1, what, ": bad shape B=", B, " C=", C, " HW=", HW);
  SIMAD_CHECK(!train || B * HW >= 2, what, ": the unbiased batch variance needs at least 2 values per channel, got ",
              B * HW);
}
}  // namespace detail

// Training forward: batch statistics, normalisation, running-statistics update. Writes out, mean
// and var (the batch's, which the backward needs); updates running_mean / running_var in place
// (either may be null: not updated). out may alias inp.
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
  detail::batchnorm_check("batchnorm_forward_train", B, C, HW, true);
  const int64_t N = B * HW;
  parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T sum = T(0);
      for (int64_t b = 0; b < B; ++b) {
        const T* x = inp + (b * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) sum += x[i];
      }
      const T m = sum / T(N);
      T sq = T(0);
      for (int64_t b = 0; b < B; ++b) {
        const T* x = inp + (b * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) sq += (x[i] - m) * (x[i] - m);
      }
      const T v = sq / T(N - 1);
      mean[c] = m, var[c] = v;
      if (running_mean) running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * m;
      if (running_var) running_var[c] = (T(1) - momentum) * running_var[c] + momentum * v;
      const T inv = T(1) / batchnorm_denominator(v, variant), s = scale[c], sh = bias[c];
      for (int64_t b = 0; b < B; ++b) {
        const T* x = inp + (b * C + c) * HW;
        T* y = out + (b * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) y[i] = s * (x[i] - m) * inv + sh;
      }
    }
  });
}

// Inference forward: y = scale * (x - running_mean) / d(running_var) + bias. out may alias inp.
template <typename T>
void batchnorm_forward_inference(T* out,                 // (B, C, HW)
                                 const T* inp,           // (B, C, HW)
                                 const T* scale,         // (C)
                                 const T* bias,          // (C)
                                 const T* running_mean,  // (C)
                                 const T* running_var,   // (C)
                                 int64_t B, int64_t C, int64_t HW, BatchNormVariant variant) {
  detail::batchnorm_check("batchnorm_forward_inference", B, C, HW, false);
  parallel_for(B * C, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % C;
      const T m = running_mean[c], k = scale[c] / batchnorm_denominator(running_var[c], variant), sh = bias[c];
      const T* x = inp + p * HW;
      T* y = out + p * HW;
      for (int64_t i = 0; i < HW; ++i) y[i] = k * (x[i] - m) + sh;
    }
  });
}

// Gradients of batchnorm_forward_train (see the top of the file). Adds to dinp, dscale, dbias; any
// may be null (not computed). mean / var: what the training forward wrote for this batch.
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
  detail::batchnorm_check("batchnorm_backward", B, C, HW, true);
  const int64_t N = B * HW;
  parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T m = mean[c], d = batchnorm_denominator(var[c], variant), inv = T(1) / d;
      T sum_dy = T(0), sum_dy_xhat = T(0);
      for (int64_t b = 0; b < B; ++b) {
        const T* x = inp + (b * C + c) * HW;
        const T* g = dout + (b * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) {
          sum_dy += g[i];
          sum_dy_xhat += g[i] * (x[i] - m) * inv;
        }
      }
      if (dbias) dbias[c] += sum_dy;
      if (dscale) dscale[c] += sum_dy_xhat;
      if (!dinp) continue;
      const T s = scale[c];
      const T dvar = -s * sum_dy_xhat * inv * batchnorm_denominator_derivative(var[c], variant);
      const T k_x = dvar * T(2) / T(N - 1), k_mean = s * sum_dy * inv / T(N);
      for (int64_t b = 0; b < B; ++b) {
        const T* x = inp + (b * C + c) * HW;
        const T* g = dout + (b * C + c) * HW;
        T* dx = dinp + (b * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) dx[i] += s * g[i] * inv + k_x * (x[i] - m) - k_mean;
      }
    }
  });
}

}  // namespace simad::ops
