// simad/train/optimizer.hpp: Adam and AdamW over a ParamStore's flat buffers (one loop over every
// parameter, as llm.c's adamw_update), and gradient clipping by global L2 norm.
// The update equations are PyTorch's (torch.optim.Adam / AdamW, amsgrad=False, maximize=False):
//   t += 1                                   (the first step has t = 1)
//   Adam:  g = grad + weight_decay * p       (L2 penalty added to the gradient)
//   AdamW: p = p * (1 - lr * weight_decay)   (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The scalar coefficients are computed in double, the per-element work in T (float stays fast).
// The moments m and v are flat buffers laid out like the store (so a slice of m is the moment of
// the parameter slice at the same offset) and carry names for checkpoints: state().
//
//   ParamStore<float> store; ... store.allocate();
//   AdamW<float> opt(store, {.lr = 3e-4, .weight_decay = 0.1});
//   for (...) { store.zero_grad(); forward/backward; clip_grad_norm(store, 1.0); opt.step(); }
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/tensor.hpp"
#include "simad/train/adam_options.hpp"
#include "simad/train/param_store.hpp"

namespace simad::train {

// ------------------------------------------------------------------------------------------------
// One Adam/AdamW step over n elements; t is the step number of this update (t >= 1).
template <typename T>
void adam_update(T* params,       // (n) updated in place
                 const T* grads,  // (n)
                 T* m,            // (n) first moment, updated in place
                 T* v,            // (n) second moment, updated in place
                 int64_t n, int64_t t, const AdamOptions& o, WeightDecay mode) {
  check_adam_options(o, "adam_update");
  SIMAD_CHECK(n >= 0, "adam_update: negative element count ", n);
  SIMAD_CHECK(t >= 1, "adam_update: step number ", t, " (expected >= 1)");
  const double bias_correction1 = 1.0 - std::pow(o.beta1, double(t));
  const double bias_correction2 = 1.0 - std::pow(o.beta2, double(t));
  const T step_size = T(o.lr / bias_correction1);
  const T inv_bc2_sqrt = T(1.0 / std::sqrt(bias_correction2));
  const T beta1 = T(o.beta1), beta2 = T(o.beta2);
  const T one_minus_beta1 = T(1.0 - o.beta1), one_minus_beta2 = T(1.0 - o.beta2);
  const T eps = T(o.eps);
  const bool l2 = mode == WeightDecay::l2 && o.weight_decay != 0.0;
  const bool decoupled = mode == WeightDecay::decoupled && o.weight_decay != 0.0;
  const T wd = T(o.weight_decay);
  const T decay = T(1.0 - o.lr * o.weight_decay);
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T p = params[i];
      T g = grads[i];
      if (l2) g += wd * p;
      if (decoupled) p *= decay;
      const T mi = beta1 * m[i] + one_minus_beta1 * g;
      const T vi = beta2 * v[i] + one_minus_beta2 * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] = p - step_size * mi / (std::sqrt(vi) * inv_bc2_sqrt + eps);
    }
  });
}

// ------------------------------------------------------------------------------------------------
// Adam bound to a store's flat buffers. It keeps handles to the buffers (shared storage), so the
// store object itself may move; the moments are owned here.
template <typename T>
class Adam {
 public:
  explicit Adam(const ParamStore<T>& store, AdamOptions options = {}, WeightDecay mode = WeightDecay::l2)
      : options_(options), mode_(mode), params_(store.params()), grads_(store.grads()),
        slices_(store.slices().begin(), store.slices().end()),
        m_(Tensor<T>::zeros({store.buffer_size()})), v_(Tensor<T>::zeros({store.buffer_size()})) {
    check_adam_options(options_, name());
  }

  // One update of every parameter from the current gradients.
  void step() {
    check_adam_options(options_, name());
    ++t_;
    adam_update(params_.data(), grads_.data(), m_.data(), v_.data(), params_.numel(), t_, options_, mode_);
  }

  // Options may change between steps (learning-rate schedules): opt.options().lr = lr_at(step).
  AdamOptions& options() { return options_; }
  const AdamOptions& options() const { return options_; }
  WeightDecay mode() const { return mode_; }

  // Steps taken so far (t of the last update; 0 before the first). Restore it with the moments.
  int64_t step_count() const { return t_; }
  void set_step_count(int64_t t) {
    SIMAD_CHECK(t >= 0, name(), ": negative step count ", t);
    t_ = t;
  }
  // Back to the state of a fresh optimizer (t = 0, zero moments).
  void reset() {
    t_ = 0;
    m_.fill(T{});
    v_.fill(T{});
  }

  // The flat moments, shape (store.buffer_size()), and the slice of one parameter.
  const Tensor<T>& m() const { return m_; }
  const Tensor<T>& v() const { return v_; }
  Tensor<T> m(std::string_view param) const { return m_.view(find(param).offset, find(param).shape); }
  Tensor<T> v(std::string_view param) const { return v_.view(find(param).offset, find(param).shape); }

  // Named views of the moments for a checkpoint, PyTorch's state names as prefixes:
  // "exp_avg.<param>" (m) and "exp_avg_sq.<param>" (v), in store order. Writing into them (when
  // loading a checkpoint) restores the optimizer; restore step_count() too.
  std::vector<std::pair<std::string, Tensor<T>>> state() const {
    std::vector<std::pair<std::string, Tensor<T>>> out;
    out.reserve(2 * slices_.size());
    for (const ParamSlice& s : slices_) out.emplace_back("exp_avg." + s.name, m_.view(s.offset, s.shape));
    for (const ParamSlice& s : slices_) out.emplace_back("exp_avg_sq." + s.name, v_.view(s.offset, s.shape));
    return out;
  }

 private:
  const char* name() const { return mode_ == WeightDecay::l2 ? "Adam" : "AdamW"; }
  const ParamSlice& find(std::string_view param) const {
    auto it = std::find_if(slices_.begin(), slices_.end(), [&](const ParamSlice& s) { return s.name == param; });
    SIMAD_CHECK(it != slices_.end(), name(), ": unknown parameter '", param, "'");
    return *it;
  }

  AdamOptions options_;
  WeightDecay mode_;
  Tensor<T> params_, grads_;
  std::vector<ParamSlice> slices_;
  Tensor<T> m_, v_;
  int64_t t_ = 0;
};

// AdamW: Adam with decoupled weight decay; PyTorch's default weight_decay for AdamW is 0.01.
template <typename T>
class AdamW : public Adam<T> {
 public:
  explicit AdamW(const ParamStore<T>& store, AdamOptions options = {.weight_decay = 0.01})
      : Adam<T>(store, options, WeightDecay::decoupled) {}
};

// ------------------------------------------------------------------------------------------------
// Gradient clipping (torch.nn.utils.clip_grad_norm_ with norm_type 2): the global L2 norm of all
// gradients; when max_norm / (norm + 1e-6) < 1 every gradient is scaled by that factor. Returns the
// norm before clipping. The sum of squares is accumulated in double over fixed chunks combined in
// order, so the result does not depend on the thread count. A non-finite norm is returned as is and
// nothing is scaled (the caller can skip the step).

template <typename T>
double grad_norm(std::span<const T> grads) {
  const T* g = grads.data();
  const double sum_sq = parallel_sum<double>(int64_t(grads.size()), 1 << 14, [&](int64_t b, int64_t e) {
    double s = 0.0;
    for (int64_t i = b; i < e; ++i) s += double(g[i]) * double(g[i]);
    return s;
  });
  return std::sqrt(sum_sq);
}

template <typename T>
double clip_grad_norm(std::span<T> grads, double max_norm) {
  SIMAD_CHECK(max_norm >= 0.0, "clip_grad_norm: max_norm ", max_norm, " (expected >= 0)");
  const double norm = grad_norm(std::span<const T>(grads.data(), grads.size()));
  const double coef = max_norm / (norm + 1e-6);
  if (std::isfinite(norm) && coef < 1.0) {
    const T scale = T(coef);
    T* g = grads.data();
    parallel_for(int64_t(grads.size()), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) g[i] *= scale;
    });
  }
  return norm;
}

template <typename T>
double clip_grad_norm(const ParamStore<T>& store, double max_norm) {
  return clip_grad_norm(store.grads().span(), max_norm);
}

}  // namespace simad::train
