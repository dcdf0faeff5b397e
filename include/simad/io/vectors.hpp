// simad/io/vectors.hpp: embedding matrices on disk, in the formats FAISS users have.
// - .fvecs / .ivecs (TEXMEX, corpus-texmex.irisa.fr): each row is int32 d (little-endian) followed
//   by d float32 (fvecs) or int32 (ivecs) values; every row has the same d >= 1.
// - .npy (NumPy format 1.0/2.0/3.0): a 2-D C-order array of '<f4' (float32) or '<f8' (float64,
//   converted to float on reading); written as version 1.0 '<f4' with the header padded so the data
//   starts at a multiple of 64 bytes.
// Files are UNTRUSTED: every reader checks sizes (with overflow checks) before touching data, and
// a bad file throws simad::Error naming the file and the row or byte offset. The buffer APIs
// (parse_fvecs, parse_ivecs, parse_npy) are what the fuzzer drives; the file APIs wrap them.
// Writers go through a temporary file renamed over the target (io/atomic_file.hpp).
//
//   io::Matrix<float> m = io::read_vectors("base.fvecs");   // by extension: .fvecs .npy
//   io::write_ivecs("out.ids.ivecs", ids.data(), rows, k);  // int32 ids, or int64 ones that fit int32
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/io/atomic_file.hpp"

namespace simad::io {

static_assert(std::endian::native == std::endian::little, "simad::io vectors: little-endian hosts only");

// A row-major (rows, cols) matrix.
template <typename T>
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<T> data;  // rows * cols
  const T* row(int64_t i) const { return data.data() + i * cols; }
};

namespace detail {

inline std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '", path.string(), "' for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) fail("cannot read '", path.string(), "'");
  in.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    fail("cannot read '", path.string(), "' (", size, " bytes expected)");
  return bytes;
}

inline void write_file_bytes(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  AtomicFile f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

inline int32_t load_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// TEXMEX rows of 4-byte elements E (float or int32).
template <typename E>
Matrix<E> parse_xvecs(std::span<const uint8_t> bytes, const std::string& name) {
  Matrix<E> m;
  if (bytes.empty()) return m;  // zero rows
  if (bytes.size() < 4) fail(name, ": truncated: ", bytes.size(), " bytes, a row starts with a 4-byte dimension");
  const int32_t d = load_i32(bytes.data());
  if (d < 1 || d > (1 << 24)) fail(name, ": row 0 (offset 0): dimension ", d, " is not in [1, 2^24]");
  const uint64_t row_bytes = 4 + 4 * uint64_t(d);
  if (bytes.size() % row_bytes != 0)
    fail(name, ": truncated or inconsistent: ", bytes.size(), " bytes is not a whole number of rows of ", row_bytes,
         " bytes (dimension ", d, "); the last row starts at offset ", bytes.size() / row_bytes * row_bytes);
  m.rows = int64_t(bytes.size() / row_bytes);
  m.cols = d;
  m.data.resize(size_t(m.rows) * size_t(d));
  for (int64_t i = 0; i < m.rows; ++i) {
    const uint8_t* p = bytes.data() + uint64_t(i) * row_bytes;
    const int32_t di = load_i32(p);
    if (di != d)
      fail(name, ": row ", i, " (offset ", uint64_t(i) * row_bytes, ") has dimension ", di, ", row 0 has ", d);
    std::memcpy(m.data.data() + size_t(i) * size_t(d), p + 4, 4 * size_t(d));
  }
  return m;
}

template <typename E>
std::vector<uint8_t> serialize_xvecs(const E* data, int64_t rows, int64_t cols) {
  SIMAD_CHECK(rows >= 0 && cols >= 1 && cols <= (1 << 24), "write vecs: bad shape (", rows, ", ", cols, ")");
  std::vector<uint8_t> out(size_t(rows) * (4 + 4 * size_t(cols)));
  const int32_t d = int32_t(cols);
  for (int64_t i = 0; i < rows; ++i) {
    uint8_t* p = out.data() + size_t(i) * (4 + 4 * size_t(cols));
    std::memcpy(p, &d, 4);
    std::memcpy(p + 4, data + i * cols, 4 * size_t(cols));
  }
  return out;
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// fvecs / ivecs

inline Matrix<float> parse_fvecs(std::span<const uint8_t> bytes, const std::string& name = "fvecs") {
  return detail::parse_xvecs<float>(bytes, name);
}
inline Matrix<int32_t> parse_ivecs(std::span<const uint8_t> bytes, const std::string& name = "ivecs") {
  return detail::parse_xvecs<int32_t>(bytes, name);
}
inline Matrix<float> read_fvecs(const std::filesystem::path& path) {
  return parse_fvecs(detail::read_file_bytes(path), path.string());
}
inline Matrix<int32_t> read_ivecs(const std::filesystem::path& path) {
  return parse_ivecs(detail::read_file_bytes(path), path.string());
}
inline void write_fvecs(const std::filesystem::path& path, const float* data, int64_t rows, int64_t cols) {
  detail::write_file_bytes(path, detail::serialize_xvecs(data, rows, cols));
}
inline void write_ivecs(const std::filesystem::path& path, const int32_t* data, int64_t rows, int64_t cols) {
  detail::write_file_bytes(path, detail::serialize_xvecs(data, rows, cols));
}
// int64 ids (what search::FlatIndex returns) as .ivecs, which holds int32 only: an id outside int32
// is an error naming the file, row and column, and nothing is written.
inline void write_ivecs(const std::filesystem::path& path, const int64_t* data, int64_t rows, int64_t cols) {
  SIMAD_CHECK(rows >= 0 && cols >= 1 && cols <= (1 << 24), "write ivecs '", path.string(), "': bad shape (", rows,
              ", ", cols, ")");
  std::vector<int32_t> narrow(size_t(rows) * size_t(cols));
  for (size_t i = 0; i < narrow.size(); ++i) {
    if (data[i] < std::numeric_limits<int32_t>::min() || data[i] > std::numeric_limits<int32_t>::max())
      fail(path.string(), ": row ", i / size_t(cols), ", column ", i % size_t(cols), ": id ", data[i],
           " does not fit the int32 of .ivecs");
    narrow[i] = int32_t(data[i]);
  }
  write_ivecs(path, narrow.data(), rows, cols);
}

// ------------------------------------------------------------------------------------------------
// npy

// A 2-D float matrix from the bytes of a .npy file ('<f4' or '<f8', C order).
inline Matrix<float> parse_npy(std::span<const uint8_t> bytes, const std::string& name = "npy") {
  static constexpr uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0)
    fail(name, ": not a .npy file (offset 0: the magic \\x93NUMPY is missing)");
  const uint8_t major = bytes[6];
  uint64_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = uint64_t(bytes[8]) | uint64_t(bytes[9]) << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(name, ": truncated .npy preamble (", bytes.size(), " bytes)");
    header_len = uint64_t(bytes[8]) | uint64_t(bytes[9]) << 8 | uint64_t(bytes[10]) << 16 | uint64_t(bytes[11]) << 24;
    start = 12;
  } else {
    fail(name, ": offset 6: unsupported .npy version ", int(major));
  }
  if (header_len > bytes.size() - start)
    fail(name, ": truncated: header of ", header_len, " bytes at offset ", start, " runs past the end (",
         bytes.size(), " bytes)");
  const std::string_view h(reinterpret_cast<const char*>(bytes.data() + start), size_t(header_len));
  // The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
  auto value_of = [&](std::string_view key) -> std::string_view {
    const size_t k = h.find(key);
    if (k == std::string_view::npos) fail(name, ": header has no ", key, " (offset ", start, ")");
    size_t p = h.find(':', k + key.size());
    if (p == std::string_view::npos) fail(name, ": header: no ':' after ", key);
    ++p;
    while (p < h.size() && h[p] == ' ') ++p;
    return h.substr(p);
  };
  const std::string_view descr = value_of("'descr'");
  const bool f4 = descr.starts_with("'<f4'"), f8 = descr.starts_with("'<f8'");
  if (!f4 && !f8) fail(name, ": dtype ", descr.substr(0, std::min<size_t>(8, descr.size())), " is not '<f4' or '<f8'");
  const std::string_view fortran = value_of("'fortran_order'");
  if (!fortran.starts_with("False")) fail(name, ": fortran_order arrays are not supported (C order only)");
  const std::string_view shape = value_of("'shape'");
  if (shape.empty() || shape[0] != '(') fail(name, ": header: 'shape' is not a tuple");
  const size_t close = shape.find(')');
  if (close == std::string_view::npos) fail(name, ": header: unterminated 'shape' tuple");
  std::vector<uint64_t> dims;
  uint64_t cur = 0;
  bool in_num = false;
  for (size_t i = 1; i < close; ++i) {
    const char c = shape[i];
    if (c >= '0' && c <= '9') {
      if (cur > (uint64_t(1) << 40)) fail(name, ": header: dimension too large in 'shape'");
      cur = cur * 10 + uint64_t(c - '0');
      in_num = true;
    } else if (c == ',' || c == ' ' || c == 'L') {
      if (c == ',' && in_num) dims.push_back(cur), cur = 0, in_num = false;
      else if (c == ',') fail(name, ": header: empty dimension in 'shape'");
    } else {
      fail(name, ": header: unexpected character '", c, "' in 'shape'");
    }
  }
  if (in_num) dims.push_back(cur);
  if (dims.size() != 2) fail(name, ": expected a 2-D array (rows, dim), 'shape' has ", dims.size(), " dimensions");
  const uint64_t elem = f4 ? 4 : 8;
  const uint64_t data_start = start + header_len;
  const uint64_t avail = bytes.size() - data_start;
  if (dims[1] == 0 && dims[0] != 0) fail(name, ": dimension 0 rows");
  if (dims[0] != 0 && dims[1] > avail / elem / dims[0])
    fail(name, ": truncated: shape (", dims[0], ", ", dims[1], ") needs ", dims[0], " x ", dims[1], " x ", elem,
         " bytes after offset ", data_start, ", the file has ", avail);
  const uint64_t need = dims[0] * dims[1] * elem;
  if (need != avail)
    fail(name, ": data section is ", avail, " bytes at offset ", data_start, ", shape (", dims[0], ", ", dims[1],
         ") needs ", need);
  Matrix<float> m;
  m.rows = int64_t(dims[0]);
  m.cols = int64_t(dims[1]);
  m.data.resize(size_t(dims[0] * dims[1]));
  const uint8_t* p = bytes.data() + data_start;
  if (f4) {
    if (!m.data.empty()) std::memcpy(m.data.data(), p, size_t(need));
  } else {
    for (size_t i = 0; i < m.data.size(); ++i) {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      m.data[i] = float(v);
    }
  }
  return m;
}

inline std::vector<uint8_t> serialize_npy(const float* data, int64_t rows, int64_t cols) {
  SIMAD_CHECK(rows >= 0 && cols >= 0, "write npy: bad shape (", rows, ", ", cols, ")");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  // Pad with spaces and end with '\n' so magic + 4 + header is a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  const uint8_t preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, uint8_t(header.size()),
                                uint8_t(header.size() >> 8)};
  const size_t n = size_t(rows) * size_t(cols) * 4;
  std::vector<uint8_t> out(10 + header.size() + n);
  std::memcpy(out.data(), preamble, 10);
  std::memcpy(out.data() + 10, header.data(), header.size());
  if (n) std::memcpy(out.data() + 10 + header.size(), data, n);
  return out;
}
inline Matrix<float> read_npy(const std::filesystem::path& path) {
  return parse_npy(detail::read_file_bytes(path), path.string());
}
inline void write_npy(const std::filesystem::path& path, const float* data, int64_t rows, int64_t cols) {
  detail::write_file_bytes(path, serialize_npy(data, rows, cols));
}

// By extension: .fvecs or .npy (anything else is an error naming the file).
inline Matrix<float> read_vectors(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".fvecs") return read_fvecs(path);
  if (ext == ".npy") return read_npy(path);
  fail("'", path.string(), "': unknown vector file extension '", ext, "' (expected .fvecs or .npy)");
  return {};  // not reached (fail throws); clang does not see through fail's [[noreturn]] constructor
}

}  // namespace simad::io
