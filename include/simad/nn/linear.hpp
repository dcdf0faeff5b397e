// simad/nn/linear.hpp: Linear<T>, y = x W^T + b as a layer with its slices in a train::ParamStore
// (weight (out, in) and bias (out), PyTorch's names and layout) and the cache its backward needs.
//
//   nn::Linear<float> proj(store, "fusion.text.", 256, 128);   // declares fusion.text.weight / .bias
//   store.allocate(); proj.bind(store); proj.init(rng);
//   proj.forward(y, x, rows);  ...  proj.backward(dx, dy);     // backward ACCUMULATES (dx may be null)
// The Tensor forms run on the parameters' device through ops/dispatch/linear.hpp (bind again after
// store.move_to); the pointer forms take host memory (a CPU layer).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "simad/ops/dispatch/linear.hpp"
#include "simad/train/param_store.hpp"

namespace simad::nn {

template <typename T>
class Linear {
 public:
  Linear() = default;
  Linear(train::ParamStore<T>& store, std::string prefix, int64_t in, int64_t out, bool bias = true)
      : prefix_(std::move(prefix)), in_(in), out_(out), has_bias_(bias) {
    SIMAD_CHECK(in >= 1 && out >= 1, "nn::Linear '", prefix_, "': sizes must be >= 1, got in=", in, " out=", out);
    store.add(prefix_ + "weight", {out, in});
    if (bias) store.add(prefix_ + "bias", {out});
  }

  void bind(const train::ParamStore<T>& store) {
    w_ = store.param(prefix_ + "weight"), dw_ = store.grad(prefix_ + "weight");
    if (has_bias_) b_ = store.param(prefix_ + "bias"), db_ = store.grad(prefix_ + "bias");
  }

  // PyTorch's default: weight and bias U(-1/sqrt(in), 1/sqrt(in)).
  void init(Rng& rng) const {
    const double a = 1.0 / std::sqrt(double(in_));
    rng.fill_uniform(w_.span(), -a, a);
    if (has_bias_) rng.fill_uniform(b_.span(), -a, a);
  }

  // y (..., out) = x (..., in) W^T + b. Keeps a copy of x for backward.
  void forward(const Tensor<T>& y, const Tensor<T>& x) {
    SIMAD_CHECK(w_.defined(), "nn::Linear '", prefix_, "': call bind(store) first");
    SIMAD_CHECK(x.defined() && x.rank() >= 1 && x.dim(-1) == in_, "nn::Linear '", prefix_, "': input must end in in=",
                in_, ", got ", x.defined() ? x.shape() : Shape{});
    rows_ = x.numel() / in_;
    ensure_tensor(x_, {rows_, in_}, w_.device());
    ops::copy(x_, x);
    ops::linear_forward(y.reshape({rows_, out_}), x_, w_, b_);
  }

  // dx (..., in) += dy W (dx may be undefined); dW += dy^T x; db += column sums of dy.
  void backward(const Tensor<T>& dx, const Tensor<T>& dy) {
    ops::linear_backward(dx.defined() ? dx.reshape({rows_, in_}) : Tensor<T>(), dw_, db_, dy.reshape({rows_, out_}), x_,
                         w_);
  }

  // Pointer forms on host memory: y (rows, out), x (rows, in), dx (rows, in) or nullptr, dy (rows, out).
  void forward(T* y, const T* x, int64_t rows) {
    SIMAD_CHECK(rows >= 0, "nn::Linear '", prefix_, "': negative row count ", rows);
    forward(Tensor<T>::borrow(y, {rows, out_}), Tensor<T>::borrow(const_cast<T*>(x), {rows, in_}));
  }
  void backward(T* dx, const T* dy) {
    backward(dx ? Tensor<T>::borrow(dx, {rows_, in_}) : Tensor<T>(), Tensor<T>::borrow(const_cast<T*>(dy), {rows_, out_}));
  }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  const Tensor<T>& weight() const { return w_; }
  const Tensor<T>& bias() const { return b_; }

 private:
  std::string prefix_;
  int64_t in_ = 0, out_ = 0, rows_ = 0;
  bool has_bias_ = true;
  Tensor<T> w_, dw_, b_, db_;  // b_, db_ undefined without a bias
  Tensor<T> x_;                 // the last input (rows, in)
};

}  // namespace simad::nn
