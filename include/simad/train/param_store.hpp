// simad/train/param_store.hpp: ParamStore<T>, every parameter of a model in ONE flat buffer and
// every gradient in ONE flat buffer of the same layout, carved into named slices (llm.c's
// ParameterTensors, with names). The optimizer runs one loop over the flat buffers, a checkpoint
// writes the slices by name, and a layer holds Tensor views of its slices.
//
//   ParamStore<float> store;
//   store.add("encoder.layer0.wq", {128, 128});     // declare: name + shape, in order
//   store.add("encoder.layer0.bq", {128});
//   store.allocate();                               // carve both buffers (zero-filled)
//   Tensor<float> wq = store.param("encoder.layer0.wq"), dwq = store.grad("encoder.layer0.wq");
//   store.init_normal("encoder.layer0.wq", rng, 0.0, 0.02);
//   for (const ParamSlice& s : store) ...           // name, shape, offset, numel
//
// Layout: slices are placed in declaration order; each starts at a multiple of kAlign (16)
// elements, so with the 64-byte aligned buffer a float slice starts on a cache line. The gaps
// (fewer than 16 elements per slice) are zero in both buffers, allocate() and zero_grad() keep
// them zero, and every flat loop (the optimizer, clip_grad_norm) leaves a zero there zero, so
// running over the whole buffer is the same as running over the slices.
// Views share the buffers' storage: they stay valid after the store is moved or destroyed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/core/tensor.hpp"

namespace simad::train {

// One named slice of the flat buffers: elements [offset, offset + numel) of params() and grads().
struct ParamSlice {
  std::string name;
  Shape shape;
  int64_t offset = 0;  // in elements, a multiple of kAlign
  int64_t numel = 0;
};

template <typename T>
class ParamStore {
 public:
  static constexpr int64_t kAlign = 16;  // slice starts are multiples of this many elements
  static constexpr int64_t kMaxElements = int64_t(1) << 48;  // sanity bound on the buffer length

  ParamStore() = default;
  ParamStore(const ParamStore&) = delete;  // a copy would silently share the buffers
  ParamStore& operator=(const ParamStore&) = delete;
  ParamStore(ParamStore&&) noexcept = default;
  ParamStore& operator=(ParamStore&&) noexcept = default;

  // ----------------------------------------------------------------------------------------------
  // Declaring and allocating

  // Declares a slice; returns its index (declaration order). Throws on an empty or duplicate
  // name, or after allocate().
  int add(std::string name, const Shape& shape) {
    SIMAD_CHECK(!allocated_, "ParamStore::add('", name, "'): the store is already allocated");
    SIMAD_CHECK(!name.empty(), "ParamStore::add: empty parameter name");
    SIMAD_CHECK(index_.find(name) == index_.end(), "ParamStore::add: duplicate parameter name '", name, "'");
    int64_t n = 1;
    for (int d = 0; d < shape.rank; ++d) {
      SIMAD_CHECK(shape[d] == 0 || n <= kMaxElements / shape[d], "ParamStore::add('", name, "'): shape ", shape,
                  " is too large");
      n *= shape[d];
    }
    SIMAD_CHECK(padded_size_ <= kMaxElements - n - kAlign, "ParamStore::add('", name, "'): the store would exceed ",
                kMaxElements, " elements");
    ParamSlice s{name, shape, padded_size_, n};
    padded_size_ += (n + kAlign - 1) / kAlign * kAlign;
    num_params_ += n;
    const int index = int(slices_.size());
    slices_.push_back(std::move(s));
    index_.emplace(std::move(name), index);
    return index;
  }

  // Allocates the parameter and gradient buffers (both zero-filled) and fixes the layout.
  void allocate() {
    SIMAD_CHECK(!allocated_, "ParamStore::allocate: already allocated");
    params_ = Tensor<T>::zeros({padded_size_});
    grads_ = Tensor<T>::zeros({padded_size_});
    allocated_ = true;
  }

  bool allocated() const { return allocated_; }

  // ----------------------------------------------------------------------------------------------
  // Sizes and slices

  int64_t size() const { return int64_t(slices_.size()); }  // number of slices
  int64_t num_params() const { return num_params_; }       // parameters, padding excluded
  int64_t buffer_size() const { return padded_size_; }     // flat buffer length, padding included

  bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }
  int index_of(std::string_view name) const {
    auto it = index_.find(name);
    SIMAD_CHECK(it != index_.end(), "ParamStore: unknown parameter '", name, "'");
    return it->second;
  }
  const ParamSlice& slice(int index) const {
    SIMAD_CHECK(index >= 0 && index < int(slices_.size()), "ParamStore: slice index ", index, " out of range [0, ",
                slices_.size(), ")");
    return slices_[size_t(index)];
  }
  const ParamSlice& slice(std::string_view name) const { return slices_[size_t(index_of(name))]; }
  std::span<const ParamSlice> slices() const { return slices_; }
  auto begin() const { return slices_.cbegin(); }
  auto end() const { return slices_.cend(); }

  // ----------------------------------------------------------------------------------------------
  // Views (after allocate())

  Tensor<T> param(std::string_view name) const { return view(params_, slice(name)); }
  Tensor<T> grad(std::string_view name) const { return view(grads_, slice(name)); }
  Tensor<T> param(int index) const { return view(params_, slice(index)); }
  Tensor<T> grad(int index) const { return view(grads_, slice(index)); }

  // The flat buffers, shape (buffer_size()).
  const Tensor<T>& params() const { return checked(params_); }
  const Tensor<T>& grads() const { return checked(grads_); }

  // Where the buffers live (Device::cpu until move_to).
  Device device() const { return checked(params_).device(); }

  // Moves both buffers to `device` by copy(dst, src) (ops::copy of ops/dispatch/elementwise.hpp; passed
  // in so this header needs no CUDA). Views taken before keep the old buffers: layers bind() again.
  // Initialise on the CPU first (the init functions and zero_grad() run CPU loops; on other devices
  // use ops::fill on grads()).
  template <typename Copy>
  void move_to(Device device, Copy&& copy) {
    checked(params_);
    if (device == params_.device()) return;
    Tensor<T> p = Tensor<T>::empty(params_.shape(), device), g = Tensor<T>::empty(grads_.shape(), device);
    copy(p, params_);
    copy(g, grads_);
    params_ = std::move(p);
    grads_ = std::move(g);
  }

  void zero_grad() const {
    const Tensor<T>& g = checked(grads_);
    SIMAD_CHECK(g.device() == Device::cpu, "ParamStore::zero_grad: the buffers are on ", device_name(g.device()),
                ": use ops::fill(store.grads(), 0)");
    T* d = g.data();
    parallel_for(g.numel(), 1 << 16, [&](int64_t b, int64_t e) { std::fill(d + b, d + e, T{}); });
  }

  // ----------------------------------------------------------------------------------------------
  // Initialisation of one slice. The random fills take the next numel positions of rng's stream
  // (independent of the thread count), so initialising slices in a fixed order is reproducible.

  void fill(std::string_view name, double value) const { param(name).fill(T(value)); }
  void init_uniform(std::string_view name, Rng& rng, double lo, double hi) const {
    rng.fill_uniform(param(name).span(), lo, hi);
  }
  void init_normal(std::string_view name, Rng& rng, double mean, double stddev) const {
    rng.fill_normal(param(name).span(), mean, stddev);
  }

 private:
  const Tensor<T>& checked(const Tensor<T>& t) const {
    SIMAD_CHECK(allocated_, "ParamStore: call allocate() before using the buffers");
    return t;
  }
  Tensor<T> view(const Tensor<T>& buffer, const ParamSlice& s) const {
    return checked(buffer).view(s.offset, s.shape);
  }

  std::vector<ParamSlice> slices_;
  std::map<std::string, int, std::less<>> index_;
  int64_t padded_size_ = 0;
  int64_t num_params_ = 0;
  bool allocated_ = false;
  Tensor<T> params_, grads_;
};

}  // namespace simad::train
