// simad/ops/reference/adam.hpp: the readable specification of train/optimizer.hpp's adam_update (same
// name, same arguments, same semantics), one plain loop, everything in double, one thread. Used by the
// tests; never by the library itself. PyTorch's torch.optim.Adam / AdamW (amsgrad=False), step t >= 1:
//   Adam:  g = grad + weight_decay * p       (L2 penalty added to the gradient)
//   AdamW: p = p * (1 - lr * weight_decay)   (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// params, m and v are updated in place. AdamOptions and WeightDecay are the optimizer's own
// (train/adam_options.hpp, options alone). The Adam/AdamW classes over a ParamStore have no reference.
#pragma once

#include <cmath>
#include <cstdint>

#include "simad/train/adam_options.hpp"

namespace simad::ops::reference {

using simad::train::AdamOptions;
using simad::train::WeightDecay;

template <typename T>
void adam_update(T* params,       // (n) updated in place
                 const T* grads,  // (n)
                 T* m,            // (n) first moment, updated in place
                 T* v,            // (n) second moment, updated in place
                 int64_t n, int64_t t, const AdamOptions& o, WeightDecay mode) {
  const double bias_correction1 = 1.0 - std::pow(o.beta1, double(t));
  const double bias_correction2 = 1.0 - std::pow(o.beta2, double(t));
  for (int64_t i = 0; i < n; ++i) {
    double p = double(params[i]);
    double g = double(grads[i]);
    if (mode == WeightDecay::l2) g += o.weight_decay * p;
    else p *= 1.0 - o.lr * o.weight_decay;
    const double mi = o.beta1 * double(m[i]) + (1.0 - o.beta1) * g;
    const double vi = o.beta2 * double(v[i]) + (1.0 - o.beta2) * g * g;
    m[i] = T(mi);
    v[i] = T(vi);
    params[i] = T(p - o.lr / bias_correction1 * mi / (std::sqrt(vi) / std::sqrt(bias_correction2) + o.eps));
  }
}

}  // namespace simad::ops::reference
