// simad/image/write.hpp: PNG or JPEG encoding with stb_image_write, the one encoder of the tree:
// encode() turns interleaved 8-bit pixels into file bytes in memory (SynthAds uses it directly);
// write_png / write_jpeg / write save an Image (CHW floats in [0, 1], clamped and rounded to bytes)
// through io::AtomicFile, so an interrupted save never leaves a half-written file. draw_box outlines
// boxes on an Image (annotated detector outputs).
#pragma once

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/image/image.hpp"
#include "simad/io/atomic_file.hpp"

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

enum class ImageFormat { png, jpeg };

namespace detail {
inline void append_encoded(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* bytes = static_cast<const uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

inline void check_writable(const Image& im, const std::filesystem::path& path) {
  SIMAD_CHECK(im.width >= 1 && im.height >= 1 && im.channels >= 1 && im.channels <= 4, "write '", path.string(),
              "': cannot save a ", im.width, "x", im.height, "x", im.channels, " image");
}
}  // namespace detail

// The bytes of a PNG or JPEG file of `pixels`: interleaved 8-bit (height, width, channels), rows top
// to bottom. Deterministic (the same pixels give the same bytes).
inline std::vector<uint8_t> encode(const uint8_t* pixels, int width, int height, int channels, ImageFormat format,
                                   int jpeg_quality = 90) {
  SIMAD_CHECK(width >= 1 && height >= 1 && channels >= 1 && channels <= 4, "image encode: cannot encode a ", width,
              "x", height, "x", channels, " image");
  SIMAD_CHECK(format == ImageFormat::png || (jpeg_quality >= 1 && jpeg_quality <= 100), "image encode: JPEG quality ",
              jpeg_quality, " not in [1, 100]");
  std::vector<uint8_t> out;
  const int ok = format == ImageFormat::png
                     ? stbi_write_png_to_func(&detail::append_encoded, &out, width, height, channels, pixels,
                                              width * channels)
                     : stbi_write_jpg_to_func(&detail::append_encoded, &out, width, height, channels, pixels,
                                              jpeg_quality);
  SIMAD_CHECK(ok != 0, "image encode: stb_image_write could not encode the ", format == ImageFormat::png ? "PNG" : "JPEG");
  return out;
}

inline void write_encoded(const Image& im, const std::filesystem::path& path, ImageFormat format, int jpeg_quality) {
  detail::check_writable(im, path);
  const std::vector<uint8_t> bytes = encode(to_bytes(im).data(), im.width, im.height, im.channels, format, jpeg_quality);
  io::write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

inline void write_png(const Image& im, const std::filesystem::path& path) {
  write_encoded(im, path, ImageFormat::png, 90);
}

inline void write_jpeg(const Image& im, const std::filesystem::path& path, int quality = 90) {
  SIMAD_CHECK(quality >= 1 && quality <= 100, "write_jpeg: quality ", quality, " not in [1, 100]");
  write_encoded(im, path, ImageFormat::jpeg, quality);
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
