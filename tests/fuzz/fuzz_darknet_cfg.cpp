// libFuzzer target for the Darknet cfg parser (include/simad/io/darknet_cfg.hpp) and, for a cfg it
// accepts, the weights reader: a user's .cfg and .weights are untrusted files.
// - parse_cfg() either accepts the text or throws simad::Error (anything else is a bug);
// - an accepted cfg written back by to_cfg_text() parses to the same architecture (else trap);
// - a small cfg's weights file image round-trips, and the input's tail read as a weights file is
//   either accepted or rejected with simad::Error.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "simad/io/darknet.hpp"

namespace dk = simad::io::darknet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  dk::Config cfg;
  try {
    cfg = dk::parse_cfg(text, "fuzz.cfg");
  } catch (const simad::Error&) {
    return 0;
  }
  try {
    const dk::Config back = dk::parse_cfg(dk::to_cfg_text(cfg), "rewritten.cfg");
    if (!back.same_architecture(cfg)) __builtin_trap();
  } catch (const simad::Error&) {
    __builtin_trap();
  }
  // Weights only for small networks (a fuzzed cfg can ask for gigabytes of parameters).
  int64_t params = 0;
  for (const auto& c : dk::conv_layout(cfg)) params += c.float_count();
  if (params > (1 << 20)) return 0;
  dk::Weights w;
  w.convs = dk::conv_layout(cfg);
  const std::vector<uint8_t> bytes = dk::serialize_weights(w);
  try {
    if (dk::serialize_weights(dk::parse_weights(bytes, cfg, "zero.weights")) != bytes) __builtin_trap();
  } catch (const simad::Error&) {
    __builtin_trap();
  }
  try {
    (void)dk::parse_weights(std::span<const uint8_t>(data, size), cfg, "fuzz.weights");
  } catch (const simad::Error&) {
  }
  return 0;
}
