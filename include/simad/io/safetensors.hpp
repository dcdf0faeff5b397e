// simad/io/safetensors.hpp: read and write safetensors files (Hugging Face's weight format, what
// PyTorch models are exchanged in), for a ParamStore, for named tensors, and at the byte level.
//
// Format: u64 N (little-endian) | N bytes of UTF-8 JSON header | data section. The header maps each
// tensor name to {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]} (byte offsets
// into the data section) plus an optional "__metadata__": {string: string}.
//
// Reading: the file is UNTRUSTED. parse_header() validates everything the reference implementation
// (safetensors' Rust crate) validates, and a little more, before any tensor byte is touched:
// the header length (<= 100,000,000 and inside the file), the JSON (valid UTF-8, an object,
// nesting depth, no duplicate keys at any level), each entry (dtype/shape/data_offsets present
// with the right JSON types, a known dtype, dimensions that are non-negative integers, a byte count
// computed with overflow checks), and the data layout (ranges sorted by offset cover the data
// section exactly: no gap, no overlap, begin <= end, end - begin == numel * dtype size, and
// 8 + N + last end == file size). Any violation throws simad::Error naming the file and the tensor
// or byte offset. Unknown fields inside an entry are ignored (as the Rust crate does). Every dtype
// of the format is recognised; conversion to a compute type supports F32, F64, BF16 and F16.
//
// Writing produces the bytes of Python's `safetensors` package (serialize / save_file): tensors
// sorted by dtype in descending order of the crate's Dtype enum (F64 > F32 > BF16 > F16; this is
// the enum order, not the element size: BF16 comes before F16) and then by name, packed from
// offset 0; header JSON compact with "__metadata__" first, padded with spaces to a multiple of 8.
// One difference: the package writes metadata keys in Rust HashMap order (random per process);
// simad writes them sorted, so outputs are byte-identical when there is at most one metadata key.
// Files are written to a temporary file in the same directory, flushed, synced and renamed over
// the target, so an interrupted write never leaves a half-written file under the target name.
//
//   io::safetensors::save("model.safetensors", store, {{"config", config_json}});
//   io::safetensors::load("model.safetensors", store);                 // converts to T
//   io::safetensors::Header h = io::safetensors::parse(bytes);         // buffer API
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "simad/core/dtype.hpp"
#include "simad/core/error.hpp"
#include "simad/core/tensor.hpp"
#include "simad/io/atomic_file.hpp"
#include "simad/train/param_store.hpp"

namespace simad::io::safetensors {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

// ------------------------------------------------------------------------------------------------
// Dtypes, in the order of the Rust crate's `Dtype` enum (the writer sorts by it, descending).
enum class Dtype : uint8_t {
  BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ,
  I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64,
};

namespace detail {
struct DtypeEntry {
  Dtype dtype;
  std::string_view name;
  int bits;
};
inline constexpr DtypeEntry kDtypes[] = {
    {Dtype::BOOL, "BOOL", 8},       {Dtype::F4, "F4", 4},
    {Dtype::F6_E2M3, "F6_E2M3", 6}, {Dtype::F6_E3M2, "F6_E3M2", 6},
    {Dtype::U8, "U8", 8},           {Dtype::I8, "I8", 8},
    {Dtype::F8_E5M2, "F8_E5M2", 8}, {Dtype::F8_E4M3, "F8_E4M3", 8},
    {Dtype::F8_E8M0, "F8_E8M0", 8}, {Dtype::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {Dtype::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {Dtype::I16, "I16", 16},        {Dtype::U16, "U16", 16},
    {Dtype::F16, "F16", 16},        {Dtype::BF16, "BF16", 16},
    {Dtype::I32, "I32", 32},        {Dtype::U32, "U32", 32},
    {Dtype::F32, "F32", 32},        {Dtype::C64, "C64", 64},
    {Dtype::F64, "F64", 64},        {Dtype::I64, "I64", 64},
    {Dtype::U64, "U64", 64},
};
}  // namespace detail

inline std::string_view dtype_name(Dtype d) { return detail::kDtypes[size_t(d)].name; }
inline int dtype_bits(Dtype d) { return detail::kDtypes[size_t(d)].bits; }
inline std::optional<Dtype> dtype_from_name(std::string_view name) {
  for (const auto& e : detail::kDtypes)
    if (e.name == name) return e.dtype;
  return std::nullopt;
}
// The dtypes a tensor can be converted from/to (compute types float and double).
inline bool is_convertible(Dtype d) {
  return d == Dtype::F32 || d == Dtype::F64 || d == Dtype::BF16 || d == Dtype::F16;
}

template <typename T>
constexpr Dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>) return Dtype::F32;
  else if constexpr (std::is_same_v<T, double>) return Dtype::F64;
  else if constexpr (std::is_same_v<T, bf16>) return Dtype::BF16;
  else if constexpr (std::is_same_v<T, f16>) return Dtype::F16;
  else static_assert(sizeof(T) == 0, "no safetensors dtype for this type");
}

using Metadata = std::map<std::string, std::string>;

inline constexpr uint64_t kMaxHeaderSize = 100'000'000;  // the Rust crate's limit
inline constexpr int kMaxJsonDepth = 16;                 // a valid header needs 3

// ------------------------------------------------------------------------------------------------
// The parsed header.

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;  // any rank; [] is a scalar
  uint64_t begin = 0, end = 0;  // byte range in the data section (file offset: data_offset() + begin)

  int64_t numel() const {
    if (std::find(shape.begin(), shape.end(), int64_t(0)) != shape.end()) return 0;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;  // validated: numel * element size <= file size
    return n;
  }
  uint64_t nbytes() const { return end - begin; }
};

inline std::string shape_str(std::span<const int64_t> shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

struct Header {
  std::string source;               // the file name (or "<memory>"), for messages
  std::vector<TensorInfo> tensors;  // in data order (ascending offsets)
  Metadata metadata;                // "__metadata__" (empty when absent)
  bool has_metadata = false;        // whether "__metadata__" was present
  uint64_t header_size = 0;         // N: JSON bytes, padding included
  uint64_t data_size = 0;           // bytes of the data section

  uint64_t data_offset() const { return 8 + header_size; }
  uint64_t file_size() const { return 8 + header_size + data_size; }
  const TensorInfo* find(std::string_view name) const {
    for (const TensorInfo& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
  const TensorInfo& at(std::string_view name) const {
    const TensorInfo* t = find(name);
    if (!t) fail("safetensors '", source, "': no tensor '", name, "'");
    return *t;
  }
};

// ------------------------------------------------------------------------------------------------
// Parsing (untrusted input)

namespace detail {

// Throws simad::Error("safetensors '<source>': <args...>"). (A plain [[noreturn]] function rather
// than fail(), whose constructor clang does not treat as noreturn for -Wreturn-type.)
template <typename... Args>
[[noreturn]] void bad_file(std::string_view source, Args&&... args) {
  simad::detail::throw_error(simad::detail::concat("safetensors '", source, "': ", std::forward<Args>(args)...),
                             ::simad::SourceLocation::current());
}

// Deepest nesting of [ and { outside strings (stops counting at limit + 1).
inline int json_depth(std::string_view s, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

inline const char* json_type(const nlohmann::json& j) { return j.type_name(); }

// Bytes of a tensor of `shape` with `bits_per_element`, computed with overflow checks. A zero
// extent makes the count 0 whatever the other extents.
enum class Count { ok, overflow, fractional };
inline Count byte_count(std::span<const int64_t> shape, int bits_per_element, uint64_t& bytes) {
  bytes = 0;
  if (std::find(shape.begin(), shape.end(), int64_t(0)) != shape.end()) return Count::ok;
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (numel > std::numeric_limits<uint64_t>::max() / uint64_t(d)) return Count::overflow;
    numel *= uint64_t(d);
  }
  const uint64_t bits = uint64_t(bits_per_element);
  if (numel > std::numeric_limits<uint64_t>::max() / bits) return Count::overflow;
  if (numel * bits % 8 != 0) return Count::fractional;
  bytes = numel * bits / 8;
  return Count::ok;
}

// A non-negative integer JSON value (nlohmann stores those as number_unsigned).
inline bool is_count(const nlohmann::json& j) { return j.is_number_unsigned(); }

}  // namespace detail

// Parses and validates a safetensors header. `prefix` holds the first bytes of the file, at least
// 8 + N of them (the whole file is fine); `file_size` is the size of the whole file.
inline Header parse_header(std::span<const uint8_t> prefix, uint64_t file_size, std::string_view source = "<memory>") {
  using nlohmann::json;
  using detail::bad_file;
  SIMAD_CHECK(prefix.size() <= file_size, "safetensors::parse_header: prefix of ", prefix.size(),
              " bytes is longer than the file size ", file_size);
  if (file_size < 8)
    bad_file(source, "file is ", file_size, " bytes, too short for the 8-byte header length");
  SIMAD_CHECK(prefix.size() >= 8, "safetensors::parse_header: prefix shorter than 8 bytes");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[size_t(i)];
  if (n > kMaxHeaderSize)
    bad_file(source, "header length ", n, " (bytes 0-7) exceeds the limit of ", kMaxHeaderSize);
  if (n > file_size - 8)
    bad_file(source, "header length ", n, " (bytes 0-7) exceeds the ", file_size - 8, " bytes after it");
  SIMAD_CHECK(prefix.size() >= 8 + n, "safetensors::parse_header: prefix of ", prefix.size(),
              " bytes does not hold the ", 8 + n, "-byte header");

  Header h;
  h.source = std::string(source);
  h.header_size = n;
  h.data_size = file_size - 8 - n;
  const std::string_view text(reinterpret_cast<const char*>(prefix.data()) + 8, size_t(n));

  // nlohmann's lexer takes a NUL byte for the end of the input (and would ignore what follows);
  // no valid header contains one (a NUL inside a JSON string must be escaped).
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos)
    bad_file(source, "header contains a NUL byte at file offset ", 8 + nul);
  // nlohmann skips a UTF-8 byte order mark; the reference parser (serde_json) rejects it.
  if (text.starts_with("\xEF\xBB\xBF")) bad_file(source, "header starts with a byte order mark (file offset 8)");
  // JSON: depth first (nlohmann's parser stacks grow with it), then parse with a callback that
  // catches duplicate keys (nlohmann would silently keep the last one).
  if (detail::json_depth(text, kMaxJsonDepth) > kMaxJsonDepth)
    bad_file(source, "header JSON nests deeper than ", kMaxJsonDepth, " levels");
  std::vector<std::set<std::string>> keys;  // keys seen in each open object
  std::string duplicate;
  json root;
  try {
    root = json::parse(text.begin(), text.end(), [&](int, json::parse_event_t event, json& parsed) {
      switch (event) {
        case json::parse_event_t::object_start: keys.emplace_back(); break;
        case json::parse_event_t::object_end:
          if (!keys.empty()) keys.pop_back();
          break;
        case json::parse_event_t::key:
          if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second && duplicate.empty())
            duplicate = parsed.get<std::string>();
          break;
        default: break;
      }
      return true;
    });
  } catch (const json::exception& e) {
    bad_file(source, "header (bytes 8-", 8 + n, ") is not valid JSON: ", e.what());
  }
  if (!duplicate.empty()) bad_file(source, "duplicate key '", duplicate, "' in the header JSON");
  if (!root.is_object()) bad_file(source, "header JSON is ", detail::json_type(root), ", expected an object");

  // Entries.
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object())
        bad_file(source, "\"__metadata__\" is ", detail::json_type(entry), ", expected an object of strings");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string())
          bad_file(source, "\"__metadata__\" value of '", m.key(), "' is ", detail::json_type(m.value()),
                   ", expected a string");
        h.metadata.emplace(m.key(), m.value().get<std::string>());
      }
      h.has_metadata = true;
      continue;
    }
    auto bad = [&](auto&&... args) { bad_file(source, "tensor '", name, "': ", args...); };
    if (!entry.is_object()) bad("entry is ", detail::json_type(entry), ", expected an object");
    TensorInfo t;
    t.name = name;

    const auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end()) bad("missing \"dtype\"");
    if (!dtype_it->is_string()) bad("\"dtype\" is ", detail::json_type(*dtype_it), ", expected a string");
    const std::string& dtype_name_str = dtype_it->get_ref<const std::string&>();
    const std::optional<Dtype> dtype = dtype_from_name(dtype_name_str);
    if (!dtype) bad("unknown dtype '", dtype_name_str, "'");
    t.dtype = *dtype;

    const auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) bad("missing \"shape\"");
    if (!shape_it->is_array()) bad("\"shape\" is ", detail::json_type(*shape_it), ", expected an array");
    for (size_t i = 0; i < shape_it->size(); ++i) {
      const json& d = (*shape_it)[i];
      if (!detail::is_count(d))
        bad("shape[", i, "] is ", d.is_number_integer() ? "negative" : detail::json_type(d),
            ", expected a non-negative integer");
      const uint64_t extent = d.get<uint64_t>();
      if (extent > uint64_t(std::numeric_limits<int64_t>::max())) bad("shape[", i, "] = ", extent, " is too large");
      t.shape.push_back(int64_t(extent));
    }
    uint64_t expected_bytes = 0;
    switch (detail::byte_count(t.shape, dtype_bits(t.dtype), expected_bytes)) {
      case detail::Count::ok: break;
      case detail::Count::overflow:
        bad("shape ", shape_str(t.shape), " of ", dtype_name(t.dtype), " overflows the byte count");
        break;
      case detail::Count::fractional:
        bad("shape ", shape_str(t.shape), " of ", dtype_name(t.dtype), " is not a whole number of bytes");
        break;
    }

    const auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) bad("missing \"data_offsets\"");
    if (!offsets_it->is_array() || offsets_it->size() != 2)
      bad("\"data_offsets\" is ", offsets_it->is_array() ? "an array of " + std::to_string(offsets_it->size()) +
                                                               " elements"
                                                         : std::string(detail::json_type(*offsets_it)),
          ", expected [begin, end]");
    for (size_t i = 0; i < 2; ++i) {
      const json& o = (*offsets_it)[i];
      if (!detail::is_count(o))
        bad("data_offsets[", i, "] is ", o.is_number_integer() ? "negative" : detail::json_type(o),
            ", expected a non-negative integer");
    }
    t.begin = (*offsets_it)[0].get<uint64_t>();
    t.end = (*offsets_it)[1].get<uint64_t>();
    if (t.begin > t.end) bad("data_offsets [", t.begin, ", ", t.end, "]: begin > end");
    if (t.end > h.data_size)
      bad("data_offsets [", t.begin, ", ", t.end, "] extend beyond the ", h.data_size,
          "-byte data section (file offset ", h.data_offset(), ")");
    if (t.end - t.begin != expected_bytes)
      bad("data_offsets [", t.begin, ", ", t.end, "] hold ", t.end - t.begin, " bytes, but shape ", shape_str(t.shape),
          " of ", dtype_name(t.dtype), " needs ", expected_bytes);
    h.tensors.push_back(std::move(t));
  }

  // Layout: sorted by offset, the ranges must tile the data section exactly.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t expected = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : h.tensors) {
    if (t.begin < expected)
      bad_file(source, "tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end, "] overlap tensor '",
               previous->name, "' [", previous->begin, ", ", previous->end, "]");
    if (t.begin > expected)
      bad_file(source, "tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end, "] leave a gap of ",
               t.begin - expected, " bytes at data offset ", expected, " (tensors must be contiguous from 0)");
    expected = t.end;
    previous = &t;
  }
  if (expected != h.data_size)
    bad_file(source, "the tensors end at data offset ", expected, " but the data section has ", h.data_size,
             " bytes (", h.data_size - expected, " trailing bytes at file offset ", h.data_offset() + expected, ")");
  return h;
}

// A whole file in memory.
inline Header parse(std::span<const uint8_t> file, std::string_view source = "<memory>") {
  return parse_header(file, file.size(), source);
}

// The bytes of one tensor of a whole-file buffer that parse() accepted.
inline std::span<const uint8_t> tensor_bytes(std::span<const uint8_t> file, const Header& h, const TensorInfo& t) {
  SIMAD_CHECK(file.size() == h.file_size() && t.begin <= t.end && t.end <= h.data_size,
              "safetensors::tensor_bytes: tensor '", t.name, "' does not belong to this buffer");
  return file.subspan(size_t(h.data_offset() + t.begin), size_t(t.nbytes()));
}

// ------------------------------------------------------------------------------------------------
// Conversions between the stored dtypes and compute types (float, double). BF16/F16 go through
// float with round-to-nearest-even (core/dtype.hpp).

template <typename T>
void decode(Dtype dtype, std::span<const uint8_t> raw, std::span<T> out, std::string_view what = "tensor") {
  static_assert(std::is_floating_point_v<T>, "decode: T must be float or double");
  SIMAD_CHECK(is_convertible(dtype), what, ": dtype ", dtype_name(dtype), " cannot be converted to ",
              simad::dtype_name<T>(), " (supported: F32, F64, BF16, F16)");
  const size_t size = size_t(dtype_bits(dtype) / 8);
  SIMAD_CHECK(raw.size() == out.size() * size, what, ": ", raw.size(), " bytes for ", out.size(), " elements of ",
              dtype_name(dtype));
  const uint8_t* src = raw.data();
  T* dst = out.data();
  const size_t n = out.size();
  switch (dtype) {
    case Dtype::F32:
      for (size_t i = 0; i < n; ++i) {
        float x;
        std::memcpy(&x, src + 4 * i, 4);
        dst[i] = T(x);
      }
      break;
    case Dtype::F64:
      for (size_t i = 0; i < n; ++i) {
        double x;
        std::memcpy(&x, src + 8 * i, 8);
        dst[i] = T(x);
      }
      break;
    case Dtype::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        dst[i] = T(bf16_to_float(bf16{b}));
      }
      break;
    case Dtype::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        dst[i] = T(f16_to_float(f16{b}));
      }
      break;
    default: break;
  }
}

template <typename T>
void encode(std::span<const T> in, Dtype dtype, std::span<uint8_t> raw) {
  static_assert(std::is_floating_point_v<T>, "encode: T must be float or double");
  SIMAD_CHECK(is_convertible(dtype), "safetensors::encode: cannot write ", simad::dtype_name<T>(), " as ",
              dtype_name(dtype), " (supported: F32, F64, BF16, F16)");
  const size_t size = size_t(dtype_bits(dtype) / 8);
  SIMAD_CHECK(raw.size() == in.size() * size, "safetensors::encode: ", raw.size(), " bytes for ", in.size(),
              " elements of ", dtype_name(dtype));
  uint8_t* dst = raw.data();
  for (size_t i = 0; i < in.size(); ++i) {
    switch (dtype) {
      case Dtype::F32: {
        const float x = float(in[i]);
        std::memcpy(dst + 4 * i, &x, 4);
        break;
      }
      case Dtype::F64: {
        const double x = double(in[i]);
        std::memcpy(dst + 8 * i, &x, 8);
        break;
      }
      case Dtype::BF16: {
        const uint16_t b = float_to_bf16(float(in[i])).bits;
        std::memcpy(dst + 2 * i, &b, 2);
        break;
      }
      case Dtype::F16: {
        const uint16_t b = float_to_f16(float(in[i])).bits;
        std::memcpy(dst + 2 * i, &b, 2);
        break;
      }
      default: break;
    }
  }
}

// Checks that a file tensor fits a destination of `shape` and can be converted to T.
template <typename T>
void check_compatible(const Header& h, const TensorInfo& t, const Shape& shape) {
  bool same = int(t.shape.size()) == shape.rank;
  for (int i = 0; same && i < shape.rank; ++i) same = t.shape[size_t(i)] == shape[i];
  if (!same)
    detail::bad_file(h.source, "tensor '", t.name, "': shape ", shape_str(t.shape), " in the file, expected ",
                     shape);
  if (!is_convertible(t.dtype))
    detail::bad_file(h.source, "tensor '", t.name, "': dtype ", dtype_name(t.dtype), " cannot be converted to ",
                     simad::dtype_name<T>(), " (supported: F32, F64, BF16, F16)");
}

// Copies a tensor of a whole-file buffer into dst (shape must match; converts to T).
template <typename T>
void read_tensor(std::span<const uint8_t> file, const Header& h, const TensorInfo& t, const Tensor<T>& dst) {
  SIMAD_CHECK(dst.defined() && dst.device() == Device::cpu, "safetensors: destination of '", t.name,
              "' must be a defined CPU tensor");
  check_compatible<T>(h, t, dst.shape());
  decode(t.dtype, tensor_bytes(file, h, t), dst.span(), "safetensors '" + h.source + "': tensor '" + t.name + "'");
}

// ------------------------------------------------------------------------------------------------
// Reading a file: the header first, then tensors on demand (only their bytes are read).

class Reader {
 public:
  explicit Reader(const std::filesystem::path& path) : path_(path), file_(path, std::ios::binary) {
    const std::string name = path.string();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) fail("safetensors '", name, "': not a readable regular file");
    if (!file_) fail("safetensors '", name, "': cannot open the file for reading");
    file_.seekg(0, std::ios::end);
    const std::streamoff size = file_.tellg();
    if (!file_ || size < 0) fail("safetensors '", name, "': cannot determine the file size");
    file_.seekg(0);
    std::vector<uint8_t> prefix(size_t(std::min<std::streamoff>(size, 8)));
    read_at(0, prefix.data(), prefix.size());
    if (prefix.size() == 8) {
      uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[size_t(i)];
      if (n <= kMaxHeaderSize && n <= uint64_t(size) - 8) {  // else parse_header reports it
        prefix.resize(size_t(8 + n));
        read_at(8, prefix.data() + 8, size_t(n));
      }
    }
    header_ = parse_header(prefix, uint64_t(size), name);
  }

  const Header& header() const { return header_; }
  const Metadata& metadata() const { return header_.metadata; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }

  std::vector<uint8_t> read_bytes(const TensorInfo& t) {
    std::vector<uint8_t> raw(size_t(t.nbytes()));
    read_at(header_.data_offset() + t.begin, raw.data(), raw.size());
    return raw;
  }

  // Reads tensor `name` into dst (shape must match the file's; converts to T).
  template <typename T>
  void read_into(std::string_view name, const Tensor<T>& dst) {
    const TensorInfo& t = header_.at(name);
    SIMAD_CHECK(dst.defined() && dst.device() == Device::cpu, "safetensors: destination of '", name,
                "' must be a defined CPU tensor");
    check_compatible<T>(header_, t, dst.shape());
    if (t.dtype == dtype_of<T>()) {
      read_at(header_.data_offset() + t.begin, dst.data(), size_t(t.nbytes()));
    } else {
      const std::vector<uint8_t> raw = read_bytes(t);
      decode(t.dtype, std::span<const uint8_t>(raw), dst.span(),
             "safetensors '" + header_.source + "': tensor '" + t.name + "'");
    }
  }

  // Reads tensor `name` into a new tensor (rank <= 5).
  template <typename T>
  Tensor<T> read(std::string_view name) {
    const TensorInfo& t = header_.at(name);
    if (t.shape.size() > size_t(Shape::kMaxDims))
      detail::bad_file(header_.source, "tensor '", t.name, "': rank ", t.shape.size(), " exceeds ", Shape::kMaxDims);
    // A zero extent beside huge ones is valid in the file, but the running product of
    // Shape::numel() must not overflow.
    int64_t partial = 1;
    for (int64_t d : t.shape)
      if (d != 0) {
        if (partial > std::numeric_limits<int64_t>::max() / d)
          detail::bad_file(header_.source, "tensor '", t.name, "': shape ", shape_str(t.shape),
                           " is too large for a tensor");
        partial *= d;
      }
    Tensor<T> out = Tensor<T>::empty(Shape(std::span<const int64_t>(t.shape)));
    read_into(name, out);
    return out;
  }

 private:
  void read_at(uint64_t offset, void* dst, size_t n) {
    if (n == 0) return;
    file_.clear();
    file_.seekg(std::streamoff(offset));
    file_.read(static_cast<char*>(dst), std::streamsize(n));
    if (!file_ || size_t(file_.gcount()) != n)
      fail("safetensors '", path_.string(), "': short read of ", n, " bytes at file offset ", offset,
           " (was the file changed while reading?)");
  }

  std::filesystem::path path_;
  std::ifstream file_;
  Header header_;
};

inline Header read_header(const std::filesystem::path& path) { return Reader(path).header(); }

// ------------------------------------------------------------------------------------------------
// Writing

// One tensor to write: raw little-endian bytes of `dtype`, row-major.
struct TensorData {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;
};

namespace detail {

inline std::string json_string(const std::string& s, std::string_view what) {
  try {
    return nlohmann::json(s).dump();
  } catch (const nlohmann::json::exception& e) {
    simad::detail::throw_error(simad::detail::concat("safetensors: ", what, " is not valid UTF-8: ", e.what()),
                               ::simad::SourceLocation::current());
  }
}

struct Prepared {
  std::string header;                  // JSON padded with spaces to a multiple of 8
  std::vector<const TensorData*> order;  // data order
  uint64_t data_size = 0;
};

// The header and data order Python's safetensors (prepare()) produces.
inline Prepared prepare(std::span<const TensorData> tensors, const Metadata& metadata) {
  Prepared p;
  std::set<std::string_view> names;
  for (const TensorData& t : tensors) {
    SIMAD_CHECK(t.name != "__metadata__", "safetensors: '__metadata__' cannot be a tensor name");
    SIMAD_CHECK(names.insert(t.name).second, "safetensors: duplicate tensor name '", t.name, "'");
    for (int64_t d : t.shape)
      SIMAD_CHECK(d >= 0, "safetensors: tensor '", t.name, "': negative extent in shape ", shape_str(t.shape));
    uint64_t bytes = 0;
    const Count count = byte_count(t.shape, dtype_bits(t.dtype), bytes);
    SIMAD_CHECK(count == Count::ok && t.bytes.size() == bytes, "safetensors: tensor '", t.name, "': ", t.bytes.size(),
                " bytes for shape ", shape_str(t.shape), " of ", dtype_name(t.dtype));
    p.order.push_back(&t);
  }
  std::sort(p.order.begin(), p.order.end(), [](const TensorData* a, const TensorData* b) {
    if (a->dtype != b->dtype) return a->dtype > b->dtype;
    return a->name < b->name;
  });
  std::string& h = p.header;
  h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) h += ',';
      first = false;
      h += json_string(key, "metadata key '" + key + "'");
      h += ':';
      h += json_string(value, "metadata value of '" + key + "'");
    }
    h += '}';
  }
  uint64_t offset = 0;
  for (const TensorData* t : p.order) {
    if (h.size() > 1) h += ',';
    h += json_string(t->name, "tensor name '" + t->name + "'");
    h += ":{\"dtype\":\"";
    h += dtype_name(t->dtype);
    h += "\",\"shape\":[";
    for (size_t i = 0; i < t->shape.size(); ++i) h += (i ? "," : "") + std::to_string(t->shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t->bytes.size()) + "]}";
    offset += t->bytes.size();
  }
  h += '}';
  h.append((8 - h.size() % 8) % 8, ' ');
  SIMAD_CHECK(h.size() <= kMaxHeaderSize, "safetensors: header of ", h.size(), " bytes exceeds the limit of ",
              kMaxHeaderSize);
  p.data_size = offset;
  return p;
}

inline std::array<uint8_t, 8> le64(uint64_t n) {
  std::array<uint8_t, 8> b{};
  for (size_t i = 0; i < 8; ++i) b[i] = uint8_t(n >> (8 * i));
  return b;
}

}  // namespace detail

// The bytes of a safetensors file holding `tensors` (what Python's safetensors.serialize returns
// for the same tensors and metadata, see the top of this file). Empty metadata is omitted.
inline std::vector<uint8_t> serialize(std::span<const TensorData> tensors, const Metadata& metadata = {}) {
  const detail::Prepared p = detail::prepare(tensors, metadata);
  std::vector<uint8_t> out;
  out.reserve(size_t(8 + p.header.size() + p.data_size));
  const auto n = detail::le64(p.header.size());
  out.insert(out.end(), n.begin(), n.end());
  out.insert(out.end(), p.header.begin(), p.header.end());
  for (const TensorData* t : p.order) out.insert(out.end(), t->bytes.begin(), t->bytes.end());
  return out;
}

// Writes the same bytes to `path` atomically (temporary file + rename).
inline void write_file(const std::filesystem::path& path, std::span<const TensorData> tensors,
                       const Metadata& metadata = {}) {
  const detail::Prepared p = detail::prepare(tensors, metadata);
  AtomicFile file(path);
  const auto n = detail::le64(p.header.size());
  file.write(n.data(), n.size());
  file.write(p.header.data(), p.header.size());
  for (const TensorData* t : p.order) file.write(t->bytes.data(), t->bytes.size());
  file.commit();
}

// ------------------------------------------------------------------------------------------------
// Named tensors and ParamStores

template <typename T>
using NamedTensors = std::vector<std::pair<std::string, Tensor<T>>>;

// Saves named CPU tensors of T as `as` (default: T's own dtype; F32/F64/BF16/F16).
template <typename T>
void save(const std::filesystem::path& path, const NamedTensors<T>& tensors, const Metadata& metadata = {},
          std::optional<Dtype> as = std::nullopt) {
  static_assert(std::is_floating_point_v<T>, "save: T must be float or double");
  const Dtype dtype = as.value_or(dtype_of<T>());
  SIMAD_CHECK(is_convertible(dtype), "safetensors::save('", path.string(), "'): cannot write as ",
              dtype_name(dtype), " (supported: F32, F64, BF16, F16)");
  std::vector<TensorData> data;
  std::vector<std::vector<uint8_t>> converted;  // when dtype != T's
  data.reserve(tensors.size());
  converted.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    SIMAD_CHECK(t.defined() && t.device() == Device::cpu, "safetensors::save('", path.string(), "'): tensor '",
                name, "' must be a defined CPU tensor");
    TensorData d{name, dtype, std::vector<int64_t>(t.shape().dims.begin(), t.shape().dims.begin() + t.rank()), {}};
    const std::span<const T> values(t.data(), size_t(t.numel()));
    if (dtype == dtype_of<T>()) {
      d.bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes());
    } else {
      converted.emplace_back(values.size() * size_t(dtype_bits(dtype) / 8));
      encode(values, dtype, std::span<uint8_t>(converted.back()));
      d.bytes = converted.back();
    }
    data.push_back(std::move(d));
  }
  write_file(path, data, metadata);
}

// Saves a store's parameters (not the gradients) under their slice names.
template <typename T>
void save(const std::filesystem::path& path, const train::ParamStore<T>& store, const Metadata& metadata = {},
          std::optional<Dtype> as = std::nullopt) {
  NamedTensors<T> tensors;
  for (const train::ParamSlice& s : store) tensors.emplace_back(s.name, store.param(s.name));
  save(path, tensors, metadata, as);
}

// Loads every destination tensor from the file by name, converting to T; returns the metadata.
// Each destination must be in the file with the same shape and a dtype of F32/F64/BF16/F16. With
// strict (the default) the file must hold no other tensor either; strict=false ignores extra
// tensors. Every name and shape is checked before any destination is written.
template <typename T>
Metadata load(const std::filesystem::path& path, const NamedTensors<T>& tensors, bool strict = true) {
  Reader reader(path);
  const Header& h = reader.header();
  std::set<std::string_view> wanted;
  for (const auto& [name, t] : tensors) {
    SIMAD_CHECK(wanted.insert(name).second, "safetensors::load: duplicate destination name '", name, "'");
    SIMAD_CHECK(t.defined() && t.device() == Device::cpu, "safetensors::load: destination '", name,
                "' must be a defined CPU tensor");
    const TensorInfo* info = h.find(name);
    if (!info) detail::bad_file(h.source, "no tensor '", name, "' (expected shape ", t.shape(), ")");
    check_compatible<T>(h, *info, t.shape());
  }
  if (strict) {
    std::string extra;
    size_t count = 0;
    for (const TensorInfo& t : h.tensors)
      if (!wanted.count(t.name)) {
        if (count < 8) extra += (count ? ", '" : "'") + t.name + "'";
        ++count;
      }
    if (count)
      detail::bad_file(h.source, count, " unexpected tensor(s): ", extra, count > 8 ? ", ..." : "",
                       " (load with strict=false to ignore them)");
  }
  for (const auto& [name, t] : tensors) reader.read_into(name, t);
  return h.metadata;
}

template <typename T>
Metadata load(const std::filesystem::path& path, const train::ParamStore<T>& store, bool strict = true) {
  NamedTensors<T> tensors;
  for (const train::ParamSlice& s : store) tensors.emplace_back(s.name, store.param(s.name));
  return load(path, tensors, strict);
}

}  // namespace simad::io::safetensors
