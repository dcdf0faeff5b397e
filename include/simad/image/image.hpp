// simad/image/image.hpp: Image, a float picture in Darknet's layout: planar CHW, values in [0, 1]
// (byte / 255), channel c of pixel (x, y) at data[(c * height + y) * width + x]. Decoders produce
// it, letterbox() turns it into a network input, write_png/write_jpeg save it.
#pragma once

#include <cstdint>
#include <vector>

#include "simad/core/error.hpp"

namespace simad::image {

struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<float> data;  // (channels, height, width)

  Image() = default;
  Image(int w, int h, int c, float fill = 0.0f) : width(w), height(h), channels(c) {
    SIMAD_CHECK(w >= 0 && h >= 0 && c >= 0, "Image: negative size ", w, "x", h, "x", c);
    data.assign(size_t(w) * size_t(h) * size_t(c), fill);
  }

  size_t index(int x, int y, int c) const { return (size_t(c) * size_t(height) + size_t(y)) * size_t(width) + size_t(x); }
  float& at(int x, int y, int c) { return data[index(x, y, c)]; }
  float at(int x, int y, int c) const { return data[index(x, y, c)]; }
  bool empty() const { return data.empty(); }
};

}  // namespace simad::image
