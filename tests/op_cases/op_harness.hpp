// tests/op_cases/op_harness.hpp: one harness for every op (as ggml's test-backend-ops). A case is a row
// of a table: the op's tensors (inputs, overwritten outputs, accumulated gradients) as functions of named
// sizes, one call written once for every tier, and the Tensor-level call. check_cases() runs each row on
// each size and checks, on the same random inputs:
//   1. the fast CPU op (float) against the reference tier (ops/reference, double)     cpu tolerance
//   2. the fast CPU op in double against the reference tier                          double tolerance
//   3. the Tensor-level call (ops/dispatch) against the pointer call, float and double   same bits
//   4. the CUDA launcher (emulated here) against the CPU op in float                 cuda tolerance
//   5. the Tensor-level call on CUDA tensors against the launcher                    same bits
// Overwritten outputs start as NaN (or a sentinel), so an element an op forgets fails; accumulated ones
// start random, so an op that overwrites instead of adding fails; inputs must come back unchanged.
// A row:
//   OpCase{.name = "softmax",
//          .sizes = {{{"N", 3}, {"C", 33}}, ...},
//          .tensors = [](const Sizes& s) { return Specs{real("x", {s.at("N"), s.at("C")}), out("y", ...)}; },
//          .call = SIMAD_OP_CALL(kDouble | kCuda, softmax_forward(io.p("y"), io.p("x"), nullptr, io.n("N"), ...)),
//          .tensor_call = [](auto& io) { simad::ops::softmax_forward(io.t("y"), io.t("x")); }}
// SIMAD_OP_CALL's body is compiled three times: against simad::ops::reference, simad::ops and (float
// only, when the kernels are built) simad::cuda::kernels, which share the op's name and arguments; io's
// pointers are those of the tier's device; T_ names the tier's element type (float or double). Rows
// whose tiers differ write the lambda out with `tier`; in it, SIMAD_OP_CUDA(T, body) is body compiled
// against simad::cuda::kernels when T is float and the kernels are built (else nothing). A row whose op
// has no CUDA form writes SIMAD_OP_CALL_CPU(body) and .tiers = kDouble. In a body, op_ names the tier's
// namespace: op_::name(...) where an argument of a simad::ops type (Conv2dShape, an enum) would let
// argument-dependent lookup find the fast op beside the reference.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "testing.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include <cuda_runtime.h>

#include "simad/cuda/runtime.hpp"
#endif

namespace simad::testing::op_cases {

enum class Tier { reference, cpu, cuda };
inline constexpr int kDouble = 1;  // the CPU op has a double form
inline constexpr int kCuda = 2;    // a CUDA launcher of the same name and arguments exists

using Sizes = std::map<std::string, int64_t>;

enum class Role { input, output, accumulated };
enum class Kind { real, mask, index };
// How a mask's rows (its last dimension) are made. awkward: rows cycle through all kept, random (~70%
// kept), one kept, none kept. some_kept: random rows with at least one kept. random: each element ~70%.
enum class MaskRows { awkward, some_kept, random };

struct Spec {
  std::string name;
  Shape shape;
  Role role = Role::input;
  Kind kind = Kind::real;
  double lo = -1.0, hi = 1.0;              // real: uniform in [lo, hi); index: integers in [lo, hi)
  MaskRows mask_rows = MaskRows::awkward;  // mask only
  // Optional maker (replaces the uniform values): for inputs that need structure (sorted, distinct ...).
  std::function<void(Rng&, std::span<float>)> make_real;
  std::function<void(Rng&, std::span<int32_t>)> make_index;
};
using Specs = std::vector<Spec>;

inline Spec spec(std::string name, Shape shape, Role role, Kind kind, double lo = -1.0, double hi = 1.0) {
  Spec s;
  s.name = std::move(name);
  s.shape = shape;
  s.role = role;
  s.kind = kind;
  s.lo = lo;
  s.hi = hi;
  return s;
}
inline Spec real(std::string name, Shape shape, double lo = -1.0, double hi = 1.0) {
  return spec(std::move(name), shape, Role::input, Kind::real, lo, hi);
}
// A real input whose values come from 5 levels (-1, -0.5, 0, 0.5, 1), so ties are frequent: for the
// ops whose ties have a rule (max-pooling, top-k, masked max).
inline Spec tied(std::string name, Shape shape) {
  Spec s = real(std::move(name), shape);
  s.make_real = [](Rng& rng, std::span<float> x) {
    for (float& v : x) v = float(int(rng.next_below(5)) - 2) * 0.5f;
  };
  return s;
}
inline Spec mask(std::string name, Shape shape, MaskRows rows = MaskRows::awkward) {
  Spec s = spec(std::move(name), shape, Role::input, Kind::mask);
  s.mask_rows = rows;
  return s;
}
inline Spec index(std::string name, Shape shape, int64_t lo, int64_t hi) {
  return spec(std::move(name), shape, Role::input, Kind::index, double(lo), double(hi));
}
// An output the op overwrites (starts poisoned).
inline Spec out(std::string name, Shape shape, Kind kind = Kind::real) {
  return spec(std::move(name), shape, Role::output, kind);
}
// A gradient the op accumulates into (starts random).
inline Spec acc(std::string name, Shape shape) { return spec(std::move(name), shape, Role::accumulated, Kind::real); }

// The tensors of one case on one tier, by name, on one device.
template <typename T>
struct Io {
  using value_type = T;
  Device device = Device::cpu;
  Sizes sizes;
  std::map<std::string, Tensor<T>> reals;
  std::map<std::string, Tensor<uint8_t>> masks;
  std::map<std::string, Tensor<int32_t>> indices;
  std::map<std::string, double> scalars;  // values a call returns (a loss): compared like outputs

  int64_t n(const std::string& name) const {
    const auto it = sizes.find(name);
    SIMAD_CHECK(it != sizes.end(), "op case: no size '", name, "'");
    return it->second;
  }
  // The size, or `otherwise` when the row's sizes do not name it (variants such as "masked").
  int64_t n_or(const std::string& name, int64_t otherwise) const {
    const auto it = sizes.find(name);
    return it == sizes.end() ? otherwise : it->second;
  }
  const Tensor<T>& t(const std::string& name) const { return find(reals, name); }
  const Tensor<uint8_t>& tm(const std::string& name) const { return find(masks, name); }
  const Tensor<int32_t>& ti(const std::string& name) const { return find(indices, name); }
  T* p(const std::string& name) const { return t(name).data(); }
  uint8_t* m(const std::string& name) const { return tm(name).data(); }
  int32_t* i(const std::string& name) const { return ti(name).data(); }
  // nullptr when the case has no tensor of that name (optional arguments).
  T* p_or_null(const std::string& name) const { return reals.count(name) ? p(name) : nullptr; }
  uint8_t* m_or_null(const std::string& name) const { return masks.count(name) ? m(name) : nullptr; }
  const Tensor<uint8_t>* tm_or_null(const std::string& name) const { return masks.count(name) ? &tm(name) : nullptr; }
  Tensor<T> t_or_undefined(const std::string& name) const { return reals.count(name) ? t(name) : Tensor<T>(); }

 private:
  template <typename M>
  static const typename M::mapped_type& find(const M& map, const std::string& name) {
    const auto it = map.find(name);
    SIMAD_CHECK(it != map.end(), "op case: no tensor '", name, "' of that kind");
    return it->second;
  }
};

// Sizes from a table: sizes_of({"N", "C"}, {{1, 1}, {9, 33}}) is two cases.
inline std::vector<Sizes> sizes_of(const std::vector<std::string>& names,
                                   const std::vector<std::vector<int64_t>>& rows) {
  std::vector<Sizes> out;
  for (const auto& row : rows) {
    SIMAD_CHECK(row.size() == names.size(), "op case: ", row.size(), " sizes for ", names.size(), " names");
    Sizes s;
    for (size_t k = 0; k < row.size(); ++k) s[names[k]] = row[k];
    out.push_back(std::move(s));
  }
  return out;
}
// Every case of `base` once per value of `name` (a variant: masked 0/1, transposes ...).
inline std::vector<Sizes> times(const std::vector<Sizes>& base, const std::string& name,
                                const std::vector<int64_t>& values) {
  std::vector<Sizes> out;
  for (const Sizes& b : base)
    for (const int64_t v : values) {
      Sizes s = b;
      s[name] = v;
      out.push_back(std::move(s));
    }
  return out;
}

// A call compiled for Io<float> and Io<double> from one generic lambda (auto& io, Tier tier).
struct Call {
  std::function<void(Io<float>&, Tier)> f;
  std::function<void(Io<double>&, Tier)> d;
  Call() = default;
  template <typename L>
  Call(L l) : f(l), d(l) {}  // NOLINT(google-explicit-constructor): rows write the lambda alone
};
// The Tensor-level call: a generic lambda (auto& io).
struct TensorCall {
  std::function<void(Io<float>&)> f;
  std::function<void(Io<double>&)> d;
  TensorCall() = default;
  template <typename L>
  TensorCall(L l) : f(l), d(l) {}  // NOLINT(google-explicit-constructor)
};

struct Tolerance {
  double atol, rtol;
};

struct OpCase {
  std::string name;
  std::vector<Sizes> sizes;
  std::function<Specs(const Sizes&)> tensors;
  Call call;
  TensorCall tensor_call;  // may be empty (an op with no Tensor-level form)
  int tiers = kDouble | kCuda;
  Tolerance cpu{1e-5, 1e-4};      // float CPU op vs the double reference
  Tolerance cuda{1e-6, 1e-5};     // CUDA launcher vs the float CPU op (emulated: the same arithmetic)
  Tolerance dbl{1e-10, 1e-9};     // double CPU op vs the double reference
  bool cuda_same_bits = true;     // false for kernels that add with atomics (order varies between runs)
};

}  // namespace simad::testing::op_cases

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#define SIMAD_OP_CALL_CUDA_(flags, T, ...)                                           \
  if constexpr (((flags) & ::simad::testing::op_cases::kCuda) && std::is_same_v<T, float>) { \
    using namespace ::simad::cuda::kernels;                                          \
    namespace op_ = ::simad::cuda::kernels;                                          \
    __VA_ARGS__;                                                                     \
  }
#else
#define SIMAD_OP_CALL_CUDA_(flags, T, ...)
#endif

// The CUDA tier of a row that writes its lambda out (see the top).
#define SIMAD_OP_CUDA(T, ...) SIMAD_OP_CALL_CUDA_(::simad::testing::op_cases::kCuda, T, __VA_ARGS__)

// The row's call, written once: `body` is compiled against each tier's namespace (see the top).
#define SIMAD_OP_CALL(flags, ...)                                                                      \
  [](auto& io, ::simad::testing::op_cases::Tier tier) {                                               \
    using T_ = typename std::remove_reference_t<decltype(io)>::value_type;                             \
    if (tier == ::simad::testing::op_cases::Tier::reference) {                                         \
      using namespace ::simad::ops::reference;                                                         \
      namespace op_ = ::simad::ops::reference;                                                         \
      __VA_ARGS__;                                                                                     \
    } else if (tier == ::simad::testing::op_cases::Tier::cpu) {                                        \
      if constexpr (((flags) & ::simad::testing::op_cases::kDouble) || std::is_same_v<T_, float>) {    \
        using namespace ::simad::ops;                                                                  \
        namespace op_ = ::simad::ops;                                                                  \
        __VA_ARGS__;                                                                                   \
      }                                                                                                \
    } else {                                                                                           \
      SIMAD_OP_CALL_CUDA_(flags, T_, __VA_ARGS__)                                                      \
    }                                                                                                  \
  }

// The call of a row whose op has no CUDA form (.tiers = kDouble): `body` compiled against
// simad::ops::reference and simad::ops only.
#define SIMAD_OP_CALL_CPU(...)                                                         \
  [](auto& io, ::simad::testing::op_cases::Tier tier) {                               \
    using T_ [[maybe_unused]] = typename std::remove_reference_t<decltype(io)>::value_type; \
    if (tier == ::simad::testing::op_cases::Tier::reference) {                         \
      using namespace ::simad::ops::reference;                                         \
      namespace op_ = ::simad::ops::reference;                                         \
      __VA_ARGS__;                                                                     \
    } else if (tier == ::simad::testing::op_cases::Tier::cpu) {                        \
      using namespace ::simad::ops;                                                    \
      namespace op_ = ::simad::ops;                                                    \
      __VA_ARGS__;                                                                     \
    }                                                                                  \
  }

namespace simad::testing::op_cases {

namespace detail {

// The values of one case's tensors, made once (float, so the double tier sees the same numbers).
struct Values {
  std::map<std::string, std::vector<float>> reals;
  std::map<std::string, std::vector<uint8_t>> masks;
  std::map<std::string, std::vector<int32_t>> indices;
};

inline void make_mask(Rng& rng, const Spec& s, std::vector<uint8_t>& m) {
  const int64_t C = s.shape.rank ? s.shape.dims[size_t(s.shape.rank - 1)] : 1;
  const int64_t rows = C ? int64_t(m.size()) / C : 0;
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = m.data() + r * C;
    const int64_t only = int64_t(rng.next_below(uint32_t(C)));
    const int kind = s.mask_rows == MaskRows::awkward ? int(r % 4) : 1;
    for (int64_t j = 0; j < C; ++j) {
      switch (kind) {
        case 0: row[j] = 1; break;
        case 1: row[j] = rng.next_uniform() < 0.7 ? 1 : 0; break;
        case 2: row[j] = j == only ? 1 : 0; break;
        default: row[j] = 0; break;
      }
    }
    if (s.mask_rows == MaskRows::some_kept) row[only] = 1;
  }
}

inline Values make_values(Rng& rng, const Specs& specs) {
  Values v;
  for (const Spec& s : specs) {
    const size_t n = size_t(s.shape.numel());
    switch (s.kind) {
      case Kind::real: {
        std::vector<float> x(n);
        if (s.role == Role::output) poison(std::span<float>(x));
        else if (s.make_real) s.make_real(rng, x);
        else rng.fill_uniform(std::span<float>(x), s.lo, s.hi);
        v.reals[s.name] = std::move(x);
        break;
      }
      case Kind::mask: {
        std::vector<uint8_t> m(n);
        if (s.role == Role::output) poison(std::span<uint8_t>(m));
        else make_mask(rng, s, m);
        v.masks[s.name] = std::move(m);
        break;
      }
      case Kind::index: {
        std::vector<int32_t> x(n);
        if (s.role == Role::output) poison(std::span<int32_t>(x));
        else if (s.make_index) s.make_index(rng, x);
        else
          for (auto& e : x) e = int32_t(s.lo) + int32_t(rng.next_below(uint32_t(s.hi - s.lo)));
        v.indices[s.name] = std::move(x);
        break;
      }
    }
  }
  return v;
}

template <typename T, typename V>
Tensor<T> tensor_on(Device device, const Shape& shape, const std::vector<V>& values) {
  Tensor<T> h = Tensor<T>::empty(shape);
  for (size_t k = 0; k < values.size(); ++k) h.data()[k] = T(values[k]);
#if defined(SIMAD_HAVE_CUDA_KERNELS)
  if (device == Device::cuda) return cuda::to_device(h);
#endif
  SIMAD_CHECK(device == Device::cpu, "op case: CUDA tensors without simad::kernels");
  return h;
}

template <typename T>
Io<T> make_io(Device device, const Sizes& sizes, const Specs& specs, const Values& v) {
  Io<T> io;
  io.device = device;
  io.sizes = sizes;
  for (const Spec& s : specs) {
    if (s.kind == Kind::real) io.reals[s.name] = tensor_on<T>(device, s.shape, v.reals.at(s.name));
    if (s.kind == Kind::mask) io.masks[s.name] = tensor_on<uint8_t>(device, s.shape, v.masks.at(s.name));
    if (s.kind == Kind::index) io.indices[s.name] = tensor_on<int32_t>(device, s.shape, v.indices.at(s.name));
  }
  return io;
}

// A host copy of every tensor (after a synchronise on CUDA), as double / bytes / ints.
struct HostCopy {
  std::map<std::string, std::vector<double>> reals;
  std::map<std::string, std::vector<uint8_t>> masks;
  std::map<std::string, std::vector<int32_t>> indices;
  std::map<std::string, double> scalars;
};

template <typename T>
Tensor<T> host(const Tensor<T>& t) {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
  if (t.device() == Device::cuda) {
    SIMAD_CUDA_CHECK(cudaDeviceSynchronize());
    SIMAD_CUDA_CHECK(cudaGetLastError());
    return cuda::to_host(t);
  }
#endif
  return t;
}

template <typename T>
HostCopy host_copy(const Io<T>& io) {
  HostCopy c;
  for (const auto& [name, t] : io.reals) {
    const Tensor<T> h = host(t);
    c.reals[name].assign(h.data(), h.data() + h.numel());
  }
  for (const auto& [name, t] : io.masks) {
    const Tensor<uint8_t> h = host(t);
    c.masks[name].assign(h.data(), h.data() + h.numel());
  }
  for (const auto& [name, t] : io.indices) {
    const Tensor<int32_t> h = host(t);
    c.indices[name].assign(h.data(), h.data() + h.numel());
  }
  c.scalars = io.scalars;
  return c;
}

// Compares the outputs and gradients of `got` with `want` (tolerance, or bit for bit when exact), and
// checks that `got`'s inputs still hold their values.
inline void compare(const Specs& specs, const Values& start, const HostCopy& got, const HostCopy& want,
                    Tolerance tol, bool exact, const std::string& what) {
  for (const Spec& s : specs) {
    const std::string label = what + ": " + s.name;
    if (s.kind == Kind::real) {
      const std::vector<double>& g = got.reals.at(s.name);
      if (s.role == Role::input) {
        bool unchanged = true;
        const std::vector<float>& x = start.reals.at(s.name);
        for (size_t k = 0; k < x.size(); ++k) unchanged = unchanged && g[k] == double(x[k]);
        CHECK_MESSAGE(unchanged, label, ": an input was modified");
      } else if (exact) {
        const std::vector<double>& w = want.reals.at(s.name);
        bool same = g.size() == w.size();
        for (size_t k = 0; same && k < g.size(); ++k) same = std::memcmp(&g[k], &w[k], sizeof(double)) == 0;
        CHECK_MESSAGE(same, label, ": not the same bits");
      } else {
        check_close(g, want.reals.at(s.name), tol.atol, tol.rtol, label);
      }
    } else if (s.kind == Kind::mask) {
      if (s.role == Role::input) CHECK_MESSAGE(got.masks.at(s.name) == start.masks.at(s.name), label, ": modified");
      else CHECK_MESSAGE(got.masks.at(s.name) == want.masks.at(s.name), label, ": differs");
    } else {
      if (s.role == Role::input) CHECK_MESSAGE(got.indices.at(s.name) == start.indices.at(s.name), label, ": modified");
      else CHECK_MESSAGE(got.indices.at(s.name) == want.indices.at(s.name), label, ": differs");
    }
  }
  for (const auto& [name, value] : want.scalars) {
    REQUIRE_MESSAGE(got.scalars.count(name), what, ": scalar ", name, " missing");
    const double g = got.scalars.at(name);
    CHECK_MESSAGE((exact ? std::memcmp(&g, &value, sizeof g) == 0
                         : std::fabs(g - value) <= tol.atol + tol.rtol * std::fabs(value)),
                  what, ": ", name, " = ", g, ", expected ", value);
  }
}

inline std::string sizes_text(const Sizes& s) {
  std::string t;
  for (const auto& [k, v] : s) t += (t.empty() ? "" : " ") + k + "=" + std::to_string(v);
  return t;
}

}  // namespace detail

// Runs every row on every size through every tier it has (see the top).
inline void check_cases(std::span<const OpCase> cases) {
  auto rng = test_rng();
  for (const OpCase& c : cases) {
    for (const Sizes& sizes : c.sizes) {
      const std::string where = c.name + " [" + detail::sizes_text(sizes) + "]";
      CAPTURE(where);
      const Specs specs = c.tensors(sizes);
      const detail::Values start = detail::make_values(rng, specs);

      Io<double> ref = detail::make_io<double>(Device::cpu, sizes, specs, start);
      c.call.d(ref, Tier::reference);
      const detail::HostCopy want = detail::host_copy(ref);

      Io<float> cpu = detail::make_io<float>(Device::cpu, sizes, specs, start);
      c.call.f(cpu, Tier::cpu);
      const detail::HostCopy cpu_f = detail::host_copy(cpu);
      detail::compare(specs, start, cpu_f, want, c.cpu, false, where + ": CPU float vs reference");
      if (c.tensor_call.f) {
        Io<float> t = detail::make_io<float>(Device::cpu, sizes, specs, start);
        c.tensor_call.f(t);
        detail::compare(specs, start, detail::host_copy(t), cpu_f, {}, true, where + ": Tensor vs pointer, float");
      }
      if (c.tiers & kDouble) {
        Io<double> d = detail::make_io<double>(Device::cpu, sizes, specs, start);
        c.call.d(d, Tier::cpu);
        const detail::HostCopy cpu_d = detail::host_copy(d);
        detail::compare(specs, start, cpu_d, want, c.dbl, false, where + ": CPU double vs reference");
        if (c.tensor_call.d) {
          Io<double> t = detail::make_io<double>(Device::cpu, sizes, specs, start);
          c.tensor_call.d(t);
          detail::compare(specs, start, detail::host_copy(t), cpu_d, {}, true, where + ": Tensor vs pointer, double");
        }
      }
#if defined(SIMAD_HAVE_CUDA_KERNELS)
      if (c.tiers & kCuda) {
        Io<float> g = detail::make_io<float>(Device::cuda, sizes, specs, start);
        c.call.f(g, Tier::cuda);
        const detail::HostCopy gpu = detail::host_copy(g);
        detail::compare(specs, start, gpu, cpu_f, c.cuda, false, where + ": CUDA vs CPU");
        if (c.tensor_call.f) {
          Io<float> t = detail::make_io<float>(Device::cuda, sizes, specs, start);
          c.tensor_call.f(t);
          detail::compare(specs, start, detail::host_copy(t), gpu, c.cuda, c.cuda_same_bits,
                          where + ": Tensor vs launcher, CUDA");
        }
      }
#endif
    }
  }
}

}  // namespace simad::testing::op_cases
