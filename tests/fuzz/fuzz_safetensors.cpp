// libFuzzer target for the safetensors parser (include/simad/io/safetensors.hpp), the first thing
// that touches an untrusted model file. Each input is a whole file given to the buffer API:
// - parse() either accepts it or throws simad::Error (anything else, a crash or a sanitizer report
//   is a bug);
// - for an accepted file, every tensor's bytes are in range and the float dtypes decode;
// - an accepted file re-serialised by simad's writer parses back to the same tensors and metadata
//   (a failure there traps: the writer must accept whatever the reader accepts).
// Build and run: see tests/fuzz/CMakeLists.txt.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "simad/io/safetensors.hpp"

namespace st = simad::io::safetensors;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> file(data, size);
  st::Header h;
  try {
    h = st::parse(file, "fuzz-input");
  } catch (const simad::Error&) {
    return 0;  // rejected: fine
  }

  std::vector<st::TensorData> tensors;
  for (const st::TensorInfo& t : h.tensors) {
    const std::span<const uint8_t> raw = st::tensor_bytes(file, h, t);
    if (raw.size() != t.nbytes()) __builtin_trap();
    if (st::is_convertible(t.dtype)) {
      std::vector<double> out(size_t(t.numel()));
      st::decode(t.dtype, raw, std::span<double>(out));
    }
    tensors.push_back({t.name, t.dtype, t.shape, raw});
  }

  std::vector<uint8_t> again;
  st::Header h2;
  try {
    again = st::serialize(tensors, h.metadata);
    h2 = st::parse(again, "reserialized");
  } catch (const simad::Error&) {
    __builtin_trap();
  }
  if (h2.tensors.size() != h.tensors.size() || h2.metadata != h.metadata) __builtin_trap();
  for (const st::TensorInfo& t : h.tensors) {
    const st::TensorInfo* u = h2.find(t.name);
    if (!u || u->dtype != t.dtype || u->shape != t.shape || u->nbytes() != t.nbytes()) __builtin_trap();
    const auto a = st::tensor_bytes(file, h, t), b = st::tensor_bytes(again, h2, *u);
    if (!std::equal(a.begin(), a.end(), b.begin(), b.end())) __builtin_trap();
  }
  return 0;
}
