// libFuzzer target for the image loader (include/simad/image/decode.hpp, stb_image underneath) and
// the letterbox that follows it: images in ads are untrusted files.
// - decode() either returns an RGB image within the limits or throws simad::Error;
// - a decoded image has width * height * 3 values in [0, 1] and letterboxes to a 32x32 input
//   whose values stay in [0, 1].
#include <cstddef>
#include <cstdint>
#include <span>

#include "simad/image/decode.hpp"
#include "simad/image/letterbox.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small limits: the fuzzer must not spend its time decoding huge (valid) pictures.
  const simad::image::DecodeLimits limits{1024, 1024, 1 << 18};
  simad::image::Image im;
  try {
    im = simad::image::decode(std::span<const uint8_t>(data, size), "fuzz-input", limits);
  } catch (const simad::Error&) {
    return 0;
  }
  if (im.channels != 3 || im.width < 1 || im.height < 1 || im.width > limits.max_width ||
      im.height > limits.max_height || im.data.size() != size_t(im.width) * size_t(im.height) * 3)
    __builtin_trap();
  for (float v : im.data)
    if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  const simad::image::Image boxed = simad::image::letterbox(im, 32, 32);
  for (float v : boxed.data)
    if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  return 0;
}
