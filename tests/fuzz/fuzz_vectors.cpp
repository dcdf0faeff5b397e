// libFuzzer target for the embedding-file parsers: .fvecs/.ivecs/.npy (include/simad/io/vectors.hpp)
// and the FlatIndex file (include/simad/search/index_file.hpp). The first byte of an input picks the
// parser (mod 4: fvecs, ivecs, npy, index), the rest is the file. Each parser either accepts the
// bytes or throws simad::Error (anything else, a crash or a sanitizer report, is a bug). An accepted
// matrix is written back by simad's writer and must parse to the same values; an accepted index must
// answer a search and survive a save/parse round trip of its fields. Seeds: corpus/vectors/ (the
// fixtures of tests/search/data with their selector byte). Build and run: see tests/fuzz/CMakeLists.txt.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "simad/io/vectors.hpp"
#include "simad/search/index_file.hpp"

namespace io = simad::io;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int which = data[0] % 4;
  const std::span<const uint8_t> file(data + 1, size - 1);
  try {
    if (which == 0 || which == 2) {
      const io::Matrix<float> m = which == 0 ? io::parse_fvecs(file, "fuzz.fvecs") : io::parse_npy(file, "fuzz.npy");
      if (m.data.size() != size_t(m.rows) * size_t(m.cols)) __builtin_trap();
      if (which == 0 && m.rows > 0) {
        const auto again = io::parse_fvecs(io::detail::serialize_xvecs(m.data.data(), m.rows, m.cols), "again");
        if (again.rows != m.rows || std::memcmp(again.data.data(), m.data.data(), m.data.size() * 4) != 0)
          __builtin_trap();
      }
      if (which == 2) {
        const auto again = io::parse_npy(io::serialize_npy(m.data.data(), m.rows, m.cols), "again");
        if (again.rows != m.rows || again.cols != m.cols ||
            (!m.data.empty() && std::memcmp(again.data.data(), m.data.data(), m.data.size() * 4) != 0))
          __builtin_trap();
      }
    } else if (which == 1) {
      const io::Matrix<int32_t> m = io::parse_ivecs(file, "fuzz.ivecs");
      if (m.data.size() != size_t(m.rows) * size_t(m.cols)) __builtin_trap();
    } else {
      const auto index = simad::search::parse_index<float>(file, "fuzz.simadidx");
      if (!index.empty()) {
        std::vector<float> q(size_t(index.dim()), 0.5f);
        const auto r = index.search(q.data(), 1, 3);
        for (size_t j = 0; j < r.labels.size(); ++j)
          if (r.labels[j] != -1 && !index.contains(r.labels[j])) __builtin_trap();
      }
    }
  } catch (const simad::Error&) {
    return 0;  // rejected: fine
  }
  return 0;
}
