// simad/image/decode.hpp: JPEG, PNG, BMP and GIF (first frame) to an RGB Image through stb_image.
// Grey and grey+alpha become RGB by replication, RGBA drops alpha (stb's conversion to 3 channels,
// as Darknet's load_image_color does). Sizes are checked against DecodeLimits from the header before
// any pixel is decoded, so a hostile header cannot make simad allocate gigabytes; every failure is
// a simad::Error naming the file (or "<memory>") and stb's reason.
#pragma once

#include <stb_image.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/image/image.hpp"

namespace simad::image {

struct DecodeLimits {
  int max_width = 16384;
  int max_height = 16384;
  int64_t max_pixels = int64_t(64) << 20;  // 64 Mpixel: 768 MB as float RGB
};

// Width and height from the header only (no pixel decode); throws if the format is not recognised.
struct ImageInfo {
  int width = 0, height = 0, channels = 0;  // channels as stored (1 grey, 2 grey+alpha, 3, 4)
};

namespace detail {
inline int checked_length(std::span<const uint8_t> bytes, std::string_view source) {
  SIMAD_CHECK(bytes.size() <= size_t(std::numeric_limits<int>::max()), "image '", source, "': ", bytes.size(),
              " bytes is more than stb_image can read (2 GiB)");
  return int(bytes.size());
}
}  // namespace detail

inline ImageInfo probe(std::span<const uint8_t> bytes, std::string_view source = "<memory>") {
  SIMAD_CHECK(!bytes.empty(), "image '", source, "': empty file");
  ImageInfo info;
  const int len = detail::checked_length(bytes, source);
  if (!stbi_info_from_memory(bytes.data(), len, &info.width, &info.height, &info.channels)) {
    const char* why = stbi_failure_reason();
    fail("image '", source, "': not a readable JPEG/PNG/BMP/GIF image (", why ? why : "unknown format", ")");
  }
  return info;
}

// Decodes an encoded image held in memory to RGB floats in [0, 1].
inline Image decode(std::span<const uint8_t> bytes, std::string_view source = "<memory>",
                    const DecodeLimits& limits = {}) {
  const ImageInfo info = probe(bytes, source);
  SIMAD_CHECK(info.width >= 1 && info.height >= 1, "image '", source, "': empty image ", info.width, "x",
              info.height);
  SIMAD_CHECK(info.width <= limits.max_width && info.height <= limits.max_height &&
                  int64_t(info.width) * int64_t(info.height) <= limits.max_pixels,
              "image '", source, "': ", info.width, "x", info.height, " exceeds the limits (max ", limits.max_width,
              "x", limits.max_height, ", ", limits.max_pixels, " pixels)");
  int w = 0, h = 0, stored = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &stored, 3), stbi_image_free);
  if (!pixels) {
    const char* why = stbi_failure_reason();
    fail("image '", source, "': corrupt or unsupported image data (", why ? why : "unknown error", ")");
  }
  // The decoder must agree with the header it was checked against (stb re-reads it; a GIF's frame
  // could differ from its logical screen).
  SIMAD_CHECK(w == info.width && h == info.height, "image '", source, "': header says ", info.width, "x",
              info.height, " but the decoder produced ", w, "x", h);
  Image im(w, h, 3);
  const stbi_uc* p = pixels.get();
  const size_t plane = size_t(w) * size_t(h);
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) im.data[c * plane + i] = float(p[i * 3 + c]) / 255.0f;
  return im;
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& path, uint64_t max_bytes = uint64_t(1) << 30) {
  std::ifstream in(path, std::ios::binary);
  SIMAD_CHECK(in, "cannot open '", path.string(), "'");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  SIMAD_CHECK(size >= 0, "cannot read the size of '", path.string(), "'");
  SIMAD_CHECK(uint64_t(size) <= max_bytes, "'", path.string(), "': ", size, " bytes exceeds the limit of ",
              max_bytes);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size));
  SIMAD_CHECK(in || size == 0, "short read of '", path.string(), "'");
  return bytes;
}

// Decodes an image file; errors name the path.
inline Image load(const std::filesystem::path& path, const DecodeLimits& limits = {}) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  return decode(bytes, path.string(), limits);
}

}  // namespace simad::image
