// simad/image/write.hpp: save an Image (CHW floats in [0, 1]) as PNG or JPEG with stb_image_write,
// and draw box outlines on it (for annotated detector outputs). Values are clamped to [0, 1] and
// rounded to bytes.
#pragma once

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/image/image.hpp"

namespace simad::image {

// Interleaved bytes (height, width, channels) of an Image.
inline std::vector<uint8_t> to_bytes(const Image& im) {
  const size_t plane = size_t(im.width) * size_t(im.height);
  std::vector<uint8_t> out(plane * size_t(im.channels));
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < size_t(im.channels); ++c) {
      const float v = std::clamp(im.data[c * plane + i], 0.0f, 1.0f);
      out[i * size_t(im.channels) + c] = uint8_t(std::lround(v * 255.0f));
    }
  return out;
}

namespace detail {
inline void check_writable(const Image& im, const std::filesystem::path& path) {
  SIMAD_CHECK(im.width >= 1 && im.height >= 1 && im.channels >= 1 && im.channels <= 4, "write '", path.string(),
              "': cannot save a ", im.width, "x", im.height, "x", im.channels, " image");
}
}  // namespace detail

inline void write_png(const Image& im, const std::filesystem::path& path) {
  detail::check_writable(im, path);
  const std::vector<uint8_t> bytes = to_bytes(im);
  const int ok = stbi_write_png(path.string().c_str(), im.width, im.height, im.channels, bytes.data(),
                                im.width * im.channels);
  SIMAD_CHECK(ok != 0, "write '", path.string(), "': stb_image_write could not write the PNG");
}

inline void write_jpeg(const Image& im, const std::filesystem::path& path, int quality = 90) {
  detail::check_writable(im, path);
  SIMAD_CHECK(quality >= 1 && quality <= 100, "write_jpeg: quality ", quality, " not in [1, 100]");
  const std::vector<uint8_t> bytes = to_bytes(im);
  const int ok = stbi_write_jpg(path.string().c_str(), im.width, im.height, im.channels, bytes.data(), quality);
  SIMAD_CHECK(ok != 0, "write '", path.string(), "': stb_image_write could not write the JPEG");
}

// By extension: .png, .jpg/.jpeg.
inline void write(const Image& im, const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  if (ext == ".png") return write_png(im, path);
  if (ext == ".jpg" || ext == ".jpeg") return write_jpeg(im, path);
  fail("write '", path.string(), "': unknown image extension '", ext, "' (use .png, .jpg or .jpeg)");
}

// Outline of the box [left, right] x [top, bottom] (pixels, clipped to the image), `thickness`
// pixels wide inwards, in colour rgb (values in [0, 1]).
inline void draw_box(Image& im, int left, int top, int right, int bottom, const float rgb[3], int thickness = 2) {
  if (im.width <= 0 || im.height <= 0) return;
  left = std::clamp(left, 0, im.width - 1), right = std::clamp(right, 0, im.width - 1);
  top = std::clamp(top, 0, im.height - 1), bottom = std::clamp(bottom, 0, im.height - 1);
  for (int t = 0; t < thickness; ++t) {
    const int l = std::min(left + t, right), r = std::max(right - t, l);
    const int tp = std::min(top + t, bottom), b = std::max(bottom - t, tp);
    for (int c = 0; c < std::min(im.channels, 3); ++c) {
      for (int x = l; x <= r; ++x) im.at(x, tp, c) = rgb[c], im.at(x, b, c) = rgb[c];
      for (int y = tp; y <= b; ++y) im.at(l, y, c) = rgb[c], im.at(r, y, c) = rgb[c];
    }
  }
}

}  // namespace simad::image
