// simad/nn/linear.hpp: Linear<T>, y = x W^T + b as a layer with its slices in a train::ParamStore
// (weight (out, in) and bias (out), PyTorch's names and layout) and the cache its backward needs.
//
//   nn::Linear<float> proj(store, "fusion.text.", 256, 128);   // declares fusion.text.weight / .bias
//   store.allocate(); proj.bind(store); proj.init(rng);
//   proj.forward(y, x, rows);  ...  proj.backward(dx, dy);     // backward ACCUMULATES (dx may be null)
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/ops/linear.hpp"
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

  // y (rows, out) = x (rows, in) W^T + b. Keeps a copy of x for backward.
  void forward(T* y, const T* x, int64_t rows) {
    SIMAD_CHECK(w_.defined(), "nn::Linear '", prefix_, "': call bind(store) first");
    rows_ = rows;
    x_.assign(x, x + rows * in_);
    ops::linear_forward(y, x_.data(), w_.data(), has_bias_ ? b_.data() : nullptr, rows, in_, out_);
  }

  // dx (rows, in) += dy W (dx may be nullptr); dW += dy^T x; db += column sums of dy.
  void backward(T* dx, const T* dy) {
    ops::linear_backward(dx, dw_.data(), has_bias_ ? db_.data() : nullptr, dy, x_.data(), w_.data(), rows_, in_, out_);
  }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  const Tensor<T>& weight() const { return w_; }
  const Tensor<T>& bias() const { return b_; }

 private:
  std::string prefix_;
  int64_t in_ = 0, out_ = 0, rows_ = 0;
  bool has_bias_ = true;
  Tensor<T> w_, dw_, b_, db_;
  std::vector<T> x_;
};

}  // namespace simad::nn
