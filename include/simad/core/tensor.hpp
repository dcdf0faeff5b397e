// simad/core/tensor.hpp: Tensor<T>, a contiguous row-major array of up to 5 dimensions.
// Storage is shared (copying a Tensor copies a handle, as in PyTorch); a view is the same storage
// at an offset with its own shape, so slices of one flat parameter buffer are Tensors too. There is
// no stride other than row-major: an op that needs a transpose says so in its arguments (GEMM).
// The element type is the template parameter: there is no runtime dtype dispatch.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <new>
#include <ostream>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "simad/core/cpu_block_cache.hpp"
#include "simad/core/device.hpp"
#include "simad/core/error.hpp"

namespace simad {

// ------------------------------------------------------------------------------------------------
// Shape: up to kMaxDims extents, outermost first.
struct Shape {
  static constexpr int kMaxDims = 5;
  int rank = 0;
  std::array<int64_t, kMaxDims> dims{};

  Shape() = default;
  Shape(std::initializer_list<int64_t> extents) { assign(extents.begin(), extents.end()); }
  explicit Shape(std::span<const int64_t> extents) { assign(extents.begin(), extents.end()); }

  int64_t operator[](int i) const { return dims[size_t(i)]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[size_t(i)];
    return n;
  }
  bool operator==(const Shape& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i)
      if (dims[size_t(i)] != o.dims[size_t(i)]) return false;
    return true;
  }
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[size_t(i)]);
    return s + ")";
  }

 private:
  template <typename It>
  void assign(It first, It last) {
    const auto n = std::distance(first, last);
    SIMAD_CHECK(n <= kMaxDims, "a tensor has at most ", kMaxDims, " dimensions, got ", n);
    rank = int(n);
    int i = 0;
    int64_t count = 1;
    for (; first != last; ++first, ++i) {
      SIMAD_CHECK(*first >= 0, "negative extent ", *first, " in dimension ", i);
      dims[size_t(i)] = *first;
      // numel() must not overflow: a shape whose element count exceeds int64 is an error, even
      // when a later extent is 0.
      SIMAD_CHECK(*first == 0 || count <= INT64_MAX / *first || count == 0, "shape too large: extent ", *first,
                  " in dimension ", i, " overflows the element count");
      if (count != 0) count = (*first == 0) ? 0 : count * *first;
    }
  }
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

// ------------------------------------------------------------------------------------------------
// Storage: one allocation on one device. CPU memory is 64-byte aligned (a cache line, an AVX-512
// vector); large CPU blocks are kept for reuse when freed (core/cpu_block_cache.hpp). Other devices plug
// in an allocator (see allocator_for); until then, allocating there throws.
struct Allocator {
  std::function<void*(size_t bytes)> allocate;
  std::function<void(void*, size_t bytes)> deallocate;  // bytes: what allocate was asked for
};

inline Allocator& allocator_for(Device device) {
  static Allocator cpu{[](size_t bytes) { return CpuBlockCache::instance().allocate(bytes); },
                       [](void* p, size_t bytes) { CpuBlockCache::instance().deallocate(p, bytes); }};
  static Allocator none{[](size_t) -> void* {
                          detail::throw_error("no allocator for this device: build simad with CUDA",
                                              SourceLocation::current());
                        },
                        [](void*, size_t) {}};
  return device == Device::cpu ? cpu : none;
}

template <typename T>
class Storage {
 public:
  Storage(int64_t count, Device device) : count_(count), device_(device) {
    SIMAD_CHECK(count >= 0, "negative element count ", count);
    data_ = static_cast<T*>(allocator_for(device).allocate(size_t(count) * sizeof(T)));
  }
  // Memory owned elsewhere (Tensor::borrow): never freed here.
  Storage(T* external, int64_t count, Device device) : data_(external), count_(count), device_(device), owns_(false) {
    SIMAD_CHECK(count >= 0, "negative element count ", count);
    SIMAD_CHECK(external != nullptr || count == 0, "borrowing a null pointer for ", count, " elements");
  }
  ~Storage() {
    if (owns_) allocator_for(device_).deallocate(data_, size_t(count_) * sizeof(T));
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  T* data() const { return data_; }
  int64_t count() const { return count_; }
  Device device() const { return device_; }

 private:
  T* data_ = nullptr;
  int64_t count_ = 0;
  Device device_ = Device::cpu;
  bool owns_ = true;
};

// ------------------------------------------------------------------------------------------------
template <typename T>
class Tensor {
  static_assert(std::is_trivially_copyable_v<T>, "Tensor elements must be trivially copyable");

 public:
  using value_type = T;

  Tensor() = default;

  // Uninitialised memory (debug builds of tests poison it; never assume zeros).
  static Tensor empty(const Shape& shape, Device device = Device::cpu) {
    Tensor t;
    t.storage_ = std::make_shared<Storage<T>>(shape.numel(), device);
    t.shape_ = shape;
    return t;
  }
  // A tensor over memory the caller owns (a std::vector, a pointer API's argument, a device buffer):
  // no copy, nothing freed; the memory must outlive the tensor and its views. This is how the
  // pointer entry points of the layers reach the Tensor ones.
  static Tensor borrow(T* data, const Shape& shape, Device device = Device::cpu) {
    Tensor t;
    t.storage_ = std::make_shared<Storage<T>>(data, shape.numel(), device);
    t.shape_ = shape;
    return t;
  }
  static Tensor full(const Shape& shape, T value) {
    Tensor t = empty(shape);
    std::fill_n(t.data(), t.numel(), value);
    return t;
  }
  static Tensor zeros(const Shape& shape) { return full(shape, T{}); }
  static Tensor from(const Shape& shape, std::span<const T> values) {
    SIMAD_CHECK(int64_t(values.size()) == shape.numel(), "Tensor::from: ", values.size(),
                " values for shape ", shape);
    Tensor t = empty(shape);
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }
  static Tensor from(const Shape& shape, std::initializer_list<T> values) {
    return from(shape, std::span<const T>(values.begin(), values.size()));
  }

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank; }
  int64_t dim(int i) const {
    if (i < 0) i += shape_.rank;
    SIMAD_CHECK(i >= 0 && i < shape_.rank, "dimension ", i, " out of range for shape ", shape_);
    return shape_.dims[size_t(i)];
  }
  int64_t numel() const { return shape_.numel(); }
  size_t bytes() const { return size_t(numel()) * sizeof(T); }
  Device device() const { return storage_ ? storage_->device() : Device::cpu; }
  int64_t offset() const { return offset_; }
  // Two tensors share storage when one is a view of the other (or both of a third).
  bool shares_storage_with(const Tensor& o) const { return storage_ && storage_ == o.storage_; }

  T* data() const { return storage_ ? storage_->data() + offset_ : nullptr; }
  std::span<T> span() const { return {data(), size_t(numel())}; }

  // Element access by index, row-major (CPU tensors only).
  template <typename... I>
  T& operator()(I... idx) const {
    static_assert(sizeof...(I) >= 1 && sizeof...(I) <= Shape::kMaxDims);
    SIMAD_CHECK(int(sizeof...(I)) == shape_.rank, "indexing a rank-", shape_.rank, " tensor with ",
                sizeof...(I), " indices");
    const int64_t ix[] = {int64_t(idx)...};
    int64_t flat = 0;
    for (int d = 0; d < shape_.rank; ++d) {
      SIMAD_CHECK(ix[d] >= 0 && ix[d] < shape_.dims[size_t(d)], "index ", ix[d], " out of range in dimension ", d,
                  " of shape ", shape_);
      flat = flat * shape_.dims[size_t(d)] + ix[d];
    }
    return data()[flat];
  }

  // A view: the same storage, `shape` elements starting `offset` elements after this tensor's start.
  Tensor view(int64_t offset, const Shape& shape) const {
    SIMAD_CHECK(defined(), "view of an undefined tensor");
    SIMAD_CHECK(offset >= 0 && offset + shape.numel() <= storage_->count() - offset_, "view of ", shape,
                " at offset ", offset, " exceeds the ", storage_->count() - offset_, " elements available");
    Tensor t = *this;
    t.offset_ = offset_ + offset;
    t.shape_ = shape;
    return t;
  }
  // The same elements with another shape of equal size (a view).
  Tensor reshape(const Shape& shape) const {
    SIMAD_CHECK(shape.numel() == numel(), "reshape ", shape_, " -> ", shape, ": element counts differ");
    return view(0, shape);
  }
  // Rows [begin, end) of the outermost dimension (a view).
  Tensor slice(int64_t begin, int64_t end) const {
    SIMAD_CHECK(rank() >= 1 && begin >= 0 && begin <= end && end <= dim(0), "slice [", begin, ", ", end,
                ") of shape ", shape_);
    Shape s = shape_;
    s.dims[0] = end - begin;
    return view(begin * (numel() / std::max<int64_t>(dim(0), 1)), s);
  }
  // A deep copy with its own storage (CPU).
  Tensor clone() const {
    SIMAD_CHECK(device() == Device::cpu, "clone of a ", device_name(device()), " tensor: copy it to the CPU first");
    Tensor t = empty(shape_);
    if (numel() > 0) std::memcpy(t.data(), data(), bytes());
    return t;
  }
  void fill(T value) const { std::fill_n(data(), numel(), value); }

 private:
  std::shared_ptr<Storage<T>> storage_;
  int64_t offset_ = 0;
  Shape shape_;
};

// A layer's scratch or cache tensor: (re)allocated unless it already has this shape and device.
// The contents are unspecified afterwards (kept when nothing changed).
template <typename T>
void ensure_tensor(Tensor<T>& t, const Shape& shape, Device device) {
  if (!t.defined() || t.shape() != shape || t.device() != device) t = Tensor<T>::empty(shape, device);
}

// SIMAD_CHECK_SHAPE(t, {B, T, C}, "what"): the tensor t must have exactly this shape.
template <typename T>
void check_shape(const Tensor<T>& t, const Shape& expected, const char* what) {
  SIMAD_CHECK(t.defined(), what, ": tensor is undefined, expected shape ", expected);
  SIMAD_CHECK(t.shape() == expected, what, ": shape ", t.shape(), ", expected ", expected);
}

}  // namespace simad
