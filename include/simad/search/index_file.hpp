// simad/search/index_file.hpp: save and load a FlatIndex (simad's own format, little-endian).
//
//   offset  size            field
//   0       8               magic "SIMADIDX"
//   8       4   u32         version (1)
//   12      4   u32         metric (1 = squared L2, 2 = inner product)
//   16      4   u32         element size in bytes (4 = float32, 8 = float64)
//   20      4   u32         reserved, 0
//   24      8   u64         dim
//   32      8   u64         count
//   40      8   u64         checksum of every byte after the header (Checksum below)
//   48      8 * count       ids (int64), in storage order
//   ...     elem*dim*count  vectors, row-major, same order
//
// The file must be exactly 48 + count * (8 + dim * elem) bytes. Loading checks every field, the
// size, the checksum, and then what add() checks (finite values, ids >= 0 and unique): a bad file
// throws simad::Error naming the file and the offset or row. Saving writes a temporary file and
// renames it over the target (an interrupted save never leaves a half-written index). A file of
// either element size loads into FlatIndex<float> or FlatIndex<double> (converted).
//
//   search::save_index("ads.simadidx", index);
//   auto index = search::load_index<float>("ads.simadidx");
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/io/vectors.hpp"
#include "simad/search/flat_index.hpp"

namespace simad::search {

inline constexpr char kIndexMagic[8] = {'S', 'I', 'M', 'A', 'D', 'I', 'D', 'X'};
inline constexpr uint32_t kIndexVersion = 1;
inline constexpr uint64_t kIndexHeaderBytes = 48;

// FNV-1a (64-bit) over the little-endian 64-bit words of a byte stream (the tail, if any, zero-padded
// to a word): byte-order independent of how update() splits the stream, 8x fewer steps than bytewise.
class Checksum {
 public:
  void update(const void* data, size_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      if (fill_ == 0 && n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        mix(w);
        p += 8, n -= 8;
        continue;
      }
      buf_[fill_++] = *p++;
      --n;
      if (fill_ == 8) {
        uint64_t w;
        std::memcpy(&w, buf_, 8);
        mix(w);
        fill_ = 0;
      }
    }
  }
  uint64_t value() const {
    uint64_t h = h_;
    if (fill_) {
      uint8_t tail[8] = {};
      std::memcpy(tail, buf_, fill_);
      uint64_t w;
      std::memcpy(&w, tail, 8);
      h = (h ^ w) * kPrime;
    }
    return h;
  }

 private:
  static constexpr uint64_t kPrime = 1099511628211ull;
  void mix(uint64_t w) { h_ = (h_ ^ w) * kPrime; }
  uint64_t h_ = 1469598103934665603ull;
  uint8_t buf_[8] = {};
  size_t fill_ = 0;
};

namespace detail {
inline void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void put_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
}  // namespace detail

template <typename T>
void save_index(const std::filesystem::path& path, const FlatIndex<T>& index) {
  const int64_t n = index.size(), d = index.dim();
  std::vector<T> row(static_cast<size_t>(d));
  // Pass 1: the checksum; pass 2: the bytes (the header, which holds the checksum, comes first).
  Checksum sum;
  sum.update(index.ids().data(), size_t(n) * 8);
  for (int64_t i = 0; i < n; ++i) {
    index.vector_at(i, row.data());
    sum.update(row.data(), row.size() * sizeof(T));
  }
  uint8_t header[kIndexHeaderBytes] = {};
  std::memcpy(header, kIndexMagic, 8);
  detail::put_u32(header + 8, kIndexVersion);
  detail::put_u32(header + 12, uint32_t(index.metric()));
  detail::put_u32(header + 16, uint32_t(sizeof(T)));
  detail::put_u64(header + 24, uint64_t(d));
  detail::put_u64(header + 32, uint64_t(n));
  detail::put_u64(header + 40, sum.value());
  io::AtomicFile f(path);
  f.write(header, sizeof header);
  f.write(index.ids().data(), size_t(n) * 8);
  for (int64_t i = 0; i < n; ++i) {
    index.vector_at(i, row.data());
    f.write(row.data(), row.size() * sizeof(T));
  }
  f.commit();
}

// The index held by the bytes of an index file (`name` is used in error messages).
template <typename T>
FlatIndex<T> parse_index(std::span<const uint8_t> bytes, const std::string& name = "index") {
  if (bytes.size() < kIndexHeaderBytes)
    fail(name, ": truncated: ", bytes.size(), " bytes, the header alone is ", kIndexHeaderBytes);
  const uint8_t* h = bytes.data();
  if (std::memcmp(h, kIndexMagic, 8) != 0) fail(name, ": offset 0: not a simad index (magic SIMADIDX missing)");
  const uint32_t version = detail::get_u32(h + 8), metric = detail::get_u32(h + 12), elem = detail::get_u32(h + 16);
  if (version != kIndexVersion) fail(name, ": offset 8: unsupported version ", version, " (this build reads 1)");
  if (metric != uint32_t(Metric::L2) && metric != uint32_t(Metric::InnerProduct))
    fail(name, ": offset 12: unknown metric ", metric);
  if (elem != 4 && elem != 8) fail(name, ": offset 16: element size ", elem, " is not 4 or 8");
  if (detail::get_u32(h + 20) != 0) fail(name, ": offset 20: reserved field is not 0");
  const uint64_t d = detail::get_u64(h + 24), n = detail::get_u64(h + 32), checksum = detail::get_u64(h + 40);
  if (d < 1 || d > (uint64_t(1) << 24)) fail(name, ": offset 24: dimension ", d, " is not in [1, 2^24]");
  const uint64_t row = 8 + d * elem;
  const uint64_t body = bytes.size() - kIndexHeaderBytes;
  if (n > body / row || n * row != body)
    fail(name, ": size mismatch: ", n, " vectors of dimension ", d, " need ", kIndexHeaderBytes, " + ", n, " x ", row,
         " bytes, the file has ", bytes.size(), " (truncated or trailing bytes)");
  Checksum sum;
  sum.update(h + kIndexHeaderBytes, size_t(body));
  if (sum.value() != checksum) fail(name, ": checksum mismatch (offset 40): the file is corrupt");
  const uint8_t* ids_at = h + kIndexHeaderBytes;
  const uint8_t* vec_at = ids_at + 8 * n;
  std::vector<int64_t> ids(static_cast<size_t>(n));
  if (n) std::memcpy(ids.data(), ids_at, size_t(8 * n));
  std::vector<T> vecs(size_t(n * d));
  for (size_t i = 0; i < vecs.size(); ++i) {
    if (elem == 4) {
      float v;
      std::memcpy(&v, vec_at + 4 * i, 4);
      vecs[i] = T(v);
    } else {
      double v;
      std::memcpy(&v, vec_at + 8 * i, 8);
      vecs[i] = T(v);
    }
  }
  FlatIndex<T> index(static_cast<int64_t>(d), static_cast<Metric>(metric));
  try {
    index.add(vecs.data(), ids.data(), int64_t(n));
  } catch (const Error& e) {
    fail(name, ": ", e.what());
  }
  return index;
}

template <typename T>
FlatIndex<T> load_index(const std::filesystem::path& path) {
  return parse_index<T>(io::detail::read_file_bytes(path), path.string());
}

}  // namespace simad::search
